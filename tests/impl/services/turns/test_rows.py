"""The rows of a turn: a message threads on the latest turn of its conversation, whether that turn
is already written or added earlier in the same transaction (a batch of the SQLite writer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from support.runtime_db import migrated_runtime

from impl.db.engine import Database
from impl.db.models import Conversation
from impl.db.writer import Statements
from impl.services.apps import end_users, store
from impl.services.apps.store import AppContext
from impl.services.runs import leases
from impl.services.turns import rows

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "apps"


@pytest.fixture
async def db_ctx(tmp_path: Path) -> AsyncIterator[tuple[Database, AppContext]]:
    async with migrated_runtime(tmp_path) as db:
        app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
        yield db, await store.load_context(db, app.id)


async def test_messages_thread_within_one_transaction_and_across(
    db_ctx: tuple[Database, AppContext],
) -> None:
    db, ctx = db_ctx
    user = await end_users.get_or_create(db, ctx.app_id, "reader")
    start = datetime(2026, 1, 1, 12, 0, 0)
    parents: dict[str, list[str | None]] = {}
    ids: dict[str, list[str]] = {}
    async with db.transaction() as session:
        a = await rows.add_conversation(session, ctx, None, user.id, {}, "", start)
        b = await rows.add_conversation(session, ctx, None, user.id, {}, "", start)
        for turn in range(3):  # two conversations' turns interleaved, none flushed
            for conversation in (a, b):
                message = await rows.add_message(
                    session, conversation, version_id=None, query=f"q{turn}", inputs={}, task_id="t",
                    trace_id=None, files=[], now=start + timedelta(seconds=turn), flush=False,
                )  # fmt: skip
                parents.setdefault(conversation.id, []).append(message.parent_message_id)
                ids.setdefault(conversation.id, []).append(message.id)
    for conversation in (a, b):
        assert parents[conversation.id] == [None, *ids[conversation.id][:2]]

    async with db.transaction() as session:  # a later transaction: the parent comes from the table
        conversation = await session.get(type(a), a.id)
        assert conversation is not None
        later = await rows.add_message(
            session, conversation, version_id=None, query="q3", inputs={}, task_id="t",
            trace_id=None, files=[], now=start + timedelta(seconds=9),
        )  # fmt: skip
        assert later.parent_message_id == ids[a.id][-1]
        assert conversation.dialogue_count == 4
        unthreaded = await rows.add_message(
            session, conversation, version_id=None, query="q4", inputs={}, task_id="t",
            trace_id=None, files=[], now=start + timedelta(seconds=10), threaded=False,
        )  # fmt: skip
        assert unthreaded.parent_message_id is None


async def test_first_turn_statements_store_the_rows_the_orm_stores(
    db_ctx: tuple[Database, AppContext],
) -> None:
    """A new conversation's first turn written as plain INSERTs (`first_turn_statements`, the
    SQLite writer's batched path) leaves the same rows, defaults included, as the ORM's path."""
    db, ctx = db_ctx
    user = await end_users.get_or_create(db, ctx.app_id, "reader")
    now = datetime(2026, 1, 1, 12, 0, 0)
    turn = {"inputs": {"name": "Ada", "n": [1, 2]}, "introduction": "Hi", "query": "q", "trace_id": "tr"}
    async with db.transaction() as session:
        conversation = await rows.add_conversation(
            session,
            ctx,
            ctx.version_id,
            user.id,
            turn["inputs"],
            "Hi",
            now,  # type: ignore[arg-type]
        )
        message = await rows.add_message(
            session, conversation, version_id=ctx.version_id, query="q", inputs=turn["inputs"],  # type: ignore[arg-type]
            task_id="task-orm", trace_id="tr", files=[], now=now,
        )  # fmt: skip
        session.add(leases.new_lease("task-orm", ctx.app_id, message_id=message.id))
    orm_ids = (message.id, conversation.id)
    statements, message_id, conversation_id = rows.first_turn_statements(
        ctx,
        ctx.version_id,
        user.id,
        task_id="task-core",
        now=now,
        **turn,  # type: ignore[arg-type]
    )
    statements.append(
        (leases.INSERT_LEASE, leases.lease_values("task-core", ctx.app_id, message_id=message_id))
    )
    await db.write(Statements(statements))

    async with db.session() as session:

        def row_of(table: Any, key: str) -> Any:
            return session.execute(select(table).where(table.c.id == key))

        tables = Conversation.metadata.tables
        conversations = [
            dict((await row_of(tables["conversations"], key)).mappings().one())
            for key in (orm_ids[1], conversation_id)
        ]
        messages = [
            dict((await row_of(tables["messages"], key)).mappings().one()) for key in (orm_ids[0], message_id)
        ]
        leases_table = tables["run_leases"]
        lease_rows = []
        for key in ("task-orm", "task-core"):
            found = await session.execute(select(leases_table).where(leases_table.c.task_id == key))
            lease_rows.append(dict(found.mappings().one()))
    for orm, core in (conversations, messages):
        assert orm.pop("id") != core.pop("id")
        if "conversation_id" in orm:
            assert (orm.pop("conversation_id"), core.pop("conversation_id")) == (orm_ids[1], conversation_id)
            assert (orm.pop("task_id"), core.pop("task_id")) == ("task-orm", "task-core")
        assert orm == core
    assert conversations[0]["dialogue_count"] == 1 and messages[0]["parent_message_id"] is None
    orm_lease, core_lease = lease_rows
    assert (orm_lease.pop("message_id"), core_lease.pop("message_id")) == (orm_ids[0], message_id)
    for lease in lease_rows:
        lease.pop("task_id")
        assert isinstance(lease.pop("expires_at"), datetime)
    assert orm_lease == core_lease
