"""Checkpoints of growing answers: the answers of many open streams are written together, one
transaction a tick; `close()` drops an answer from later ticks and waits for a write of it in
flight, so the turn's final write is never overwritten by an older checkpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from support.runtime_db import migrated_runtime

from impl.db.engine import Database
from impl.db.models import Conversation, EndUser, Message
from impl.services.apps import store
from impl.services.runs.checkpoint import AnswerCheckpoint

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "apps"
INTERVAL = 0.05


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_runtime(tmp_path) as database:
        yield database


async def _messages(db: Database, count: int) -> list[str]:
    app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    async with db.transaction() as session:
        user = EndUser(app_id=app.id, type="service_api", session_id="u", external_user_id="u")
        session.add(user)
        await session.flush()
        conversation = Conversation(app_id=app.id, end_user_id=user.id, mode="chat", name="c")
        session.add(conversation)
        await session.flush()
        rows = [
            Message(app_id=app.id, conversation_id=conversation.id, end_user_id=user.id, query=str(i))
            for i in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def _answers(db: Database) -> dict[str, str]:
    async with db.session() as session:
        return {row.id: row.answer for row in (await session.scalars(select(Message))).all()}


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_the_answers_of_many_streams_are_written_in_one_transaction(db: Database) -> None:
    ids = await _messages(db, 50)
    parts: list[list[str]] = [[] for _ in ids]
    checkpoints = [AnswerCheckpoint(mid, p, interval=INTERVAL) for mid, p in zip(ids, parts, strict=True)]
    assert db.writer is not None
    commits = db.writer.commits
    for token in ("Hello", " there"):
        for p, cp in zip(parts, checkpoints, strict=True):
            p.append(token)
            cp.touch()
    want = {mid: "Hello there" for mid in ids}
    await _until(lambda: _answers_are(db, want))
    assert db.writer.commits - commits == 1  # 50 answers, one UPDATE of many rows, one commit
    for cp in checkpoints:
        await cp.close()


async def _answers_are(db: Database, want: dict[str, str]) -> bool:
    return await _answers(db) == want


async def test_a_closed_checkpoint_never_overwrites_the_final_answer(db: Database) -> None:
    [mid] = await _messages(db, 1)
    parts = ["partial"]
    cp = AnswerCheckpoint(mid, parts, interval=INTERVAL)
    cp.touch()
    await cp.close()  # before the tick: the pending answer is dropped
    async with db.transaction() as session:
        await session.execute(update(Message).where(Message.id == mid).values(answer="final answer"))
    parts.append(" more")
    cp.touch()  # after close: ignored
    await asyncio.sleep(INTERVAL * 4)
    assert await _answers(db) == {mid: "final answer"}


async def test_close_waits_for_the_write_in_flight(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    [mid] = await _messages(db, 1)
    started, release = asyncio.Event(), asyncio.Event()
    real_write = db.write

    async def gated_write(work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        started.set()
        await release.wait()
        return await real_write(work)

    monkeypatch.setattr(db, "write", gated_write)
    parts = ["so far"]
    cp = AnswerCheckpoint(mid, parts, interval=INTERVAL)
    cp.touch()
    await asyncio.wait_for(started.wait(), 10)
    closing = asyncio.create_task(cp.close())
    await asyncio.sleep(INTERVAL * 2)
    assert not closing.done()  # the checkpoint of "so far" is still being written
    release.set()
    await asyncio.wait_for(closing, 10)
    assert await _answers(db) == {mid: "so far"}  # written before close returned


async def test_only_answers_that_grew_are_written_again(db: Database) -> None:
    ids = await _messages(db, 2)
    growing, idle = ["a"], ["b"]
    first = AnswerCheckpoint(ids[0], growing, interval=INTERVAL)
    second = AnswerCheckpoint(ids[1], idle, interval=INTERVAL)
    first.touch()
    second.touch()
    await _until(lambda: _answers_are(db, {ids[0]: "a", ids[1]: "b"}))
    async with db.transaction() as session:  # mark the idle one: a rewrite would undo this
        await session.execute(update(Message).where(Message.id == ids[1]).values(answer="untouched"))
    growing.append("c")
    first.touch()
    second.touch()  # nothing new: no write
    await _until(lambda: _answers_are(db, {ids[0]: "ac", ids[1]: "untouched"}))
    await first.close()
    await second.close()
