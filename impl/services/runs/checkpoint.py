"""Checkpoints of a growing answer: the message row holds the text streamed so far.

A streaming turn calls `touch()` after each token. One flusher per process (per event loop)
collects the answers that grew and, every `INTERVAL` seconds, writes all of them with one
UPDATE of many rows in one transaction (`Database.write`): a thousand open streams cost one
write a tick, not a thousand. So when the worker dies, the message keeps what its user saw up to
about `INTERVAL` seconds (plus one commit) before. `close()` takes the answer out of the next
tick and waits for a write of it still in flight, before the turn writes its end (which must not
be overwritten by an older checkpoint).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import bindparam, update

from impl import runtime
from impl.db.models import Message
from impl.db.writer import Statements

log = logging.getLogger("impl.checkpoint")

INTERVAL = 0.3

_messages = Message.metadata.tables[Message.__tablename__]
_CHECKPOINT = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"), _messages.c.status == "normal")
    .values(answer=bindparam("b_answer"))
)


class AnswerCheckpoint:
    def __init__(self, message_id: str | None, parts: list[str], interval: float = INTERVAL) -> None:
        self.message_id = message_id
        self.parts = parts
        self.interval = interval
        self._written = 0
        self._closed = False
        self._flusher: Flusher | None = None  # the flusher last marked (while it is current)

    def touch(self) -> None:
        """The answer grew: write it with the next tick."""
        if self.message_id is None or self._closed or len(self.parts) == self._written:
            return
        flusher = self._flusher
        if flusher is None or not _FLUSHER or _FLUSHER[0] is not flusher:
            flusher = self._flusher = _flusher(self.interval)
        flusher.mark(self)

    def _snapshot(self) -> dict[str, Any]:
        self._written = len(self.parts)
        return {"b_id": self.message_id, "b_answer": "".join(self.parts)}

    async def close(self) -> None:
        """No more checkpoints of this answer; returns once none of it is still being written."""
        self._closed = True
        flusher = _current()
        if flusher is not None:
            await flusher.forget(self)


class Flusher:
    """The dirty checkpoints of one event loop, written together every `interval` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.loop = asyncio.get_running_loop()
        self._dirty: dict[int, AnswerCheckpoint] = {}
        self._inflight: set[int] = set()
        self._written: asyncio.Event = asyncio.Event()
        self._written.set()
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0  # transactions written (for tests)

    @property
    def idle(self) -> bool:
        return self._task is None or self._task.done()

    def mark(self, checkpoint: AnswerCheckpoint) -> None:
        self._dirty[id(checkpoint)] = checkpoint
        if self.idle:
            self._task = self.loop.create_task(self._run())

    async def forget(self, checkpoint: AnswerCheckpoint) -> None:
        self._dirty.pop(id(checkpoint), None)
        while id(checkpoint) in self._inflight:
            await self._written.wait()

    async def _run(self) -> None:
        while self._dirty:
            await asyncio.sleep(self.interval)
            batch, self._dirty = self._dirty, {}
            if not batch:
                continue
            rows = [checkpoint._snapshot() for checkpoint in batch.values()]
            self._inflight = set(batch)
            self._written.clear()
            try:
                await runtime.current().database.write(_writer(rows))
                self.ticks += 1
            except Exception:
                log.exception("could not checkpoint the answers of %d messages", len(rows))
            finally:
                self._inflight = set()
                self._written.set()


def _writer(rows: list[dict[str, Any]]) -> Statements:
    """One UPDATE for all rows (on SQLite run with the writer's other plain statements)."""
    return Statements([(_CHECKPOINT, row) for row in rows])


_FLUSHER: list[Flusher] = []  # the flusher of the running event loop (at most one)


def _current() -> Flusher | None:
    if _FLUSHER and _FLUSHER[0].loop is asyncio.get_running_loop():
        return _FLUSHER[0]
    return None


def _flusher(interval: float) -> Flusher:
    flusher = _current()
    if flusher is None or (flusher.interval != interval and flusher.idle):
        flusher = Flusher(interval)
        _FLUSHER[:] = [flusher]
    return flusher
