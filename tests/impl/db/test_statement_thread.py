"""The writer's statement thread: a batch of `Statements` runs there on planned SQL, and the rows
it stores are the ones SQLAlchemy's own execution (the async session) stores, byte for byte
apart from the moment a default is taken; a statement it cannot plan still runs, through
SQLAlchemy."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, update
from support.runtime_db import migrated_runtime

from impl import runtime
from impl.db.engine import Database
from impl.db.models import EndUser
from impl.db.statement_thread import _Unplannable, plan
from impl.db.writer import Statements
from impl.providers import Usage
from impl.services.apps import end_users, store
from impl.services.apps.store import AppContext
from impl.services.runs import leases
from impl.services.turns import generation, rows

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "apps"
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


@pytest.fixture
async def two_paths(tmp_path: Path) -> AsyncIterator[tuple[Database, Database, AppContext, str]]:
    """The runtime's database (its writer runs statements in the thread) and a second handle on
    the same file whose writer runs them in sessions; an app and an end user."""
    async with migrated_runtime(tmp_path) as threaded:
        assert threaded.writer is not None and threaded.writer.statement_thread is not None
        in_session = Database(threaded.url)
        assert in_session.writer is not None and in_session.writer.statement_thread is not None
        await in_session.writer.statement_thread.close()
        in_session.writer.statement_thread = None
        try:
            app, _version = await store.import_app(threaded, (EXAMPLES / "chat.yml").read_text())
            ctx = await store.load_context(threaded, app.id)
            user = await end_users.get_or_create(threaded, ctx.app_id, "reader")
            yield threaded, in_session, ctx, user.id
        finally:
            await in_session.dispose()


def _stored(database: Database, table: str, key_column: str, key: str) -> dict[str, Any]:
    """A row as SQLite stores it (text for JSON and datetimes), read without SQLAlchemy."""
    path = database.url.split("///", 1)[1]
    with sqlite3.connect(path) as raw:
        raw.row_factory = sqlite3.Row
        found = raw.execute(f"SELECT * FROM {table} WHERE {key_column} = ?", (key,)).fetchone()
    assert found is not None
    return dict(found)


async def _turn(database: Database, ctx: AppContext, user_id: str, task_id: str) -> tuple[str, str]:
    statements, message_id, conversation_id = rows.first_turn_statements(
        ctx, ctx.version_id, user_id, inputs={"name": "Ada", "tags": ["x", "ü"]}, introduction="Hi",
        query="q", task_id=task_id, trace_id=None, now=datetime(2026, 1, 1, 12, 0, 0),
    )  # fmt: skip
    statements.append((leases.INSERT_LEASE, leases.lease_values(task_id, ctx.app_id, message_id=message_id)))
    await database.write(Statements(statements))
    return message_id, conversation_id


def _same_but_ids_and_stamps(a: dict[str, Any], b: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert a.pop(key) != b.pop(key)
    for name in list(a):
        if name in ("created_at", "updated_at", "expires_at"):
            assert STAMP.fullmatch(a.pop(name)) and STAMP.fullmatch(b.pop(name)), name
    assert a == b


async def test_a_turn_written_and_ended_in_the_thread_stores_what_a_session_stores(
    two_paths: tuple[Database, Database, AppContext, str],
) -> None:
    threaded, in_session, ctx, user_id = two_paths
    metadata = {"usage": {"total_tokens": 7, "latency": 0.25}, "retriever_resources": [], "note": "ü"}
    stored: dict[str, list[dict[str, Any]]] = {"messages": [], "conversations": []}
    for database, task_id in ((threaded, "task-thread"), (in_session, "task-session")):
        runtime.current().database = database
        try:
            message_id, conversation_id = await _turn(database, ctx, user_id, task_id)
            assert _stored(database, "run_leases", "task_id", task_id)["message_id"] == message_id
            await generation.complete_message(
                message_id, conversation_id, answer="Hello, Ada", usage=Usage(3, 4), latency=0.25,
                metadata=metadata, error=None, title="Greeting", task_id=task_id,
            )  # fmt: skip
        finally:
            runtime.current().database = threaded
        stored["messages"].append(_stored(database, "messages", "id", message_id))
        stored["conversations"].append(_stored(database, "conversations", "id", conversation_id))
        with pytest.raises(AssertionError):  # the lease went with the turn's end
            _stored(database, "run_leases", "task_id", task_id)
    thread_message, session_message = stored["messages"]
    assert thread_message["answer"] == "Hello, Ada" and thread_message["status"] == "normal"
    assert thread_message["total_price"] == "0" and thread_message["message_tokens"] == 3
    assert (thread_message.pop("task_id"), session_message.pop("task_id")) == ("task-thread", "task-session")
    _same_but_ids_and_stamps(thread_message, session_message, "id", "conversation_id")
    thread_conversation, session_conversation = stored["conversations"]
    assert thread_conversation["name"] == "Greeting"
    _same_but_ids_and_stamps(thread_conversation, session_conversation, "id")
    assert threaded.writer is not None and threaded.writer.statement_thread is not None
    assert threaded.writer.statement_thread.executions >= 6


async def test_a_failed_end_stores_the_same_in_both(
    two_paths: tuple[Database, Database, AppContext, str],
) -> None:
    threaded, in_session, ctx, user_id = two_paths
    stored = []
    for database, task_id in ((threaded, "t1"), (in_session, "t2")):
        runtime.current().database = database
        try:
            message_id, _conversation_id = await _turn(database, ctx, user_id, task_id)
            await generation.complete_message(
                message_id, None, answer="", usage=Usage(3, 0), latency=0.5, metadata={}, error="boom",
                title=None, task_id=task_id,
            )  # fmt: skip
        finally:
            runtime.current().database = threaded
        stored.append(_stored(database, "messages", "id", message_id))
    assert stored[0]["status"] == "error" and stored[0]["error"] == "boom"
    assert stored[0].pop("task_id") != stored[1].pop("task_id")
    _same_but_ids_and_stamps(stored[0], stored[1], "id", "conversation_id")


_RENAME_RETURNING = (
    update(EndUser.__table__)  # type: ignore[arg-type]
    .where(EndUser.__table__.c.id == bindparam("b_id"))  # type: ignore[attr-defined]
    .values(name=bindparam("b_name"))
    .returning(EndUser.__table__.c.id)  # type: ignore[attr-defined]
)


async def test_a_statement_it_cannot_plan_runs_through_sqlalchemy(
    two_paths: tuple[Database, Database, AppContext, str],
) -> None:
    threaded, _in_session, _ctx, user_id = two_paths
    with pytest.raises(_Unplannable):
        plan(_RENAME_RETURNING, frozenset({"b_id", "b_name"}), threaded.engine.dialect)
    await threaded.write(Statements([(_RENAME_RETURNING, {"b_id": user_id, "b_name": "Renamed"})]))
    assert _stored(threaded, "end_users", "id", user_id)["name"] == "Renamed"


async def test_a_row_missing_a_required_value_fails_alone(
    two_paths: tuple[Database, Database, AppContext, str],
) -> None:
    """A parameter set without a value its statement needs fails its own write (through the
    careful rerun); the batch's other writes commit."""
    threaded, _in_session, ctx, _user_id = two_paths
    table = EndUser.__table__
    add = insert(table)  # type: ignore[arg-type]

    def user(name: str) -> dict[str, Any]:
        return {"id": f"id-{name}", "app_id": ctx.app_id, "type": "service_api", "session_id": name}

    broken = user("broken")
    del broken["session_id"]  # NOT NULL, no default
    results = await asyncio.gather(
        *(threaded.write(Statements([(add, user(f"u{i}"))])) for i in range(5)),
        threaded.write(Statements([(add, broken)])),
        return_exceptions=True,
    )
    assert results[:5] == [None] * 5 and isinstance(results[5], Exception)
    for i in range(5):
        assert _stored(threaded, "end_users", "id", f"id-u{i}")["session_id"] == f"u{i}"


async def test_first_turns_written_together_are_one_insert_per_table_with_the_same_rows(
    two_paths: tuple[Database, Database, AppContext, str],
) -> None:
    """First turns queued at once go out as one multi-row INSERT per table in the thread, and
    each row is the one a session writes for the same turn."""
    threaded, in_session, ctx, user_id = two_paths
    thread = threaded.writer.statement_thread if threaded.writer is not None else None
    assert thread is not None
    stored: list[list[dict[str, Any]]] = []
    for database, prefix in ((threaded, "thread"), (in_session, "session")):
        before = thread.executions
        turns = await asyncio.gather(*(_turn(database, ctx, user_id, f"{prefix}-{i}") for i in range(6)))
        if database is threaded:
            assert thread.executions - before <= 6  # 3 statements a batch, and at most two batches
        stored.append([_stored(database, "messages", "id", message_id) for message_id, _c in turns])
        stored.append(
            [_stored(database, "conversations", "id", conversation_id) for _m, conversation_id in turns]
        )
    thread_messages, thread_conversations, session_messages, session_conversations = stored
    for a, b in zip(thread_messages, session_messages, strict=True):
        assert a.pop("task_id").removeprefix("thread") == b.pop("task_id").removeprefix("session")
        _same_but_ids_and_stamps(a, b, "id", "conversation_id")
    for a, b in zip(thread_conversations, session_conversations, strict=True):
        _same_but_ids_and_stamps(a, b, "id")


async def test_none_for_a_json_column_is_stored_as_sqlalchemy_stores_it(
    two_paths: tuple[Database, Database, AppContext, str],
) -> None:
    """A JSON column given None holds JSON `null` (SQLAlchemy's default), on both paths (the
    thread writes it itself: no rerun through a session)."""
    threaded, in_session, ctx, user_id = two_paths
    stored = []
    in_sessions: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        in_sessions.append(statement)

    for database, task_id in ((threaded, "n1"), (in_session, "n2")):
        message_id, _conversation_id = await _turn(database, ctx, user_id, task_id)
        params = {"b_id": message_id, "b_answer": "a", "b_message_tokens": 1, "b_answer_tokens": 1,
                  "b_latency": 0.1, "b_metadata": None}  # fmt: skip
        event.listen(threaded.engine.sync_engine, "before_cursor_execute", seen)
        try:
            await database.write(Statements([(generation._COMPLETE_MESSAGE, params)]))
        finally:
            event.remove(threaded.engine.sync_engine, "before_cursor_execute", seen)
        stored.append(_stored(database, "messages", "id", message_id)["message_metadata"])
    assert stored == ["null", "null"]
    assert not [s for s in in_sessions if s.startswith("UPDATE messages")]
