"""Checkpoints of a growing answer: the message row holds the text streamed so far.

A streaming turn calls `touch()` after each token; at most every `INTERVAL` seconds one UPDATE
writes the answer joined so far (one write at a time, in the background). So when the worker
dies, the message keeps what its user already saw. `close()` waits for the write in flight,
before the turn writes its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import update

from impl import runtime
from impl.db.models import Message

log = logging.getLogger("impl.checkpoint")

INTERVAL = 0.3


class AnswerCheckpoint:
    def __init__(self, message_id: str | None, parts: list[str], interval: float = INTERVAL) -> None:
        self.message_id = message_id
        self.parts = parts
        self.interval = interval
        self._last = time.monotonic()
        self._written = 0
        self._task: asyncio.Task[None] | None = None

    def touch(self) -> None:
        if self.message_id is None or (self._task is not None and not self._task.done()):
            return
        now = time.monotonic()
        if now - self._last < self.interval or len(self.parts) == self._written:
            return
        self._last = now
        self._written = len(self.parts)
        self._task = asyncio.create_task(self._write("".join(self.parts)))

    async def _write(self, answer: str) -> None:
        try:
            async with runtime.current().database.transaction() as session:
                await session.execute(
                    update(Message)
                    .where(Message.id == self.message_id, Message.status == "normal")
                    .values(answer=answer)
                )
        except Exception:
            log.exception("could not checkpoint the answer of message %s", self.message_id)

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
