"""The rows of a turn: a message threads on the latest turn of its conversation, whether that turn
is already written or added earlier in the same transaction (a batch of the SQLite writer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from impl.db import migrate
from impl.db.engine import Database
from impl.services.apps import end_users, store
from impl.services.apps.store import AppContext
from impl.services.turns import rows

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "apps"


@pytest.fixture
async def db_ctx(tmp_path: Path) -> AsyncIterator[tuple[Database, AppContext]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dify.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    try:
        app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
        yield db, await store.load_context(db, app.id)
    finally:
        await db.dispose()


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
