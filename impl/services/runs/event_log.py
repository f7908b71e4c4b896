"""The event log of one run in this process, whatever its mode.

A chat or completion turn (`turns.generation.GenerationRun`) and a graph run
(`workflows.live.LiveRun`) both append their events here, in order, and every reader follows the
same log: the streaming response, the blocking body's wait, a second follower of a workflow run
(`GET /workflow/{id}/events`), the features that post-process a turn.  A reader starts at any
index (0 replays everything) and is woken by each append; `end()` says no event will follow.
A chat turn's log has one reader (its response) and nothing replays it, so it is made with
`keep=False`: events that reader has passed are let go, and an open stream holds only what it has
not sent yet.
Where several workers share runs, a graph run mirrors its log to the task backend (Redis) as well.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Collection, Iterable
from typing import Any

TRIM_EVERY = 8  # with keep=False, read events are dropped in batches of this many


class EventLog:
    """Append-only events with any number of followers (with `keep=False`: one follower, and
    `events` holds only what it has not read; indexes stay those of the whole log)."""

    def __init__(self, events: Iterable[dict[str, Any]] = (), *, keep: bool = True) -> None:
        self.events: list[dict[str, Any]] = list(events)
        self.keep = keep
        self.ended = False
        self._dropped = 0  # events let go from the front (keep=False)
        # Futures of the readers waiting for the next change, settled (and replaced) by it: an
        # append with nobody waiting costs nothing more.
        self._waiters: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        """How many events were ever appended."""
        return self._dropped + len(self.events)

    def append(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self._wake()

    def end(self) -> None:
        """No further event: followers stop once they have read the last one."""
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def changed(self) -> asyncio.Future[None]:
        """A future settled by the next append or end."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    async def wait_beyond(self, index: int) -> None:
        """Return once the log holds more than `index` events, or has ended."""
        while len(self) <= index and not self.ended:
            await self.changed()

    def follower(self, start: int = 0, terminal: Collection[str] = ()) -> Follower:
        """Like `follow`, as an object that also hands over all events there at once (`take`),
        for a reader that writes them out together (the SSE response)."""
        return Follower(self, start, terminal)

    async def follow(self, start: int = 0, terminal: Collection[str] = ()) -> AsyncIterator[dict[str, Any]]:
        """Events from `start` on, live, through the first whose name is in `terminal` (or to
        the end of the log)."""
        index = max(start, self._dropped)
        while True:
            await self.wait_beyond(index)
            if index >= len(self):
                return  # ended
            event = self.events[index - self._dropped]
            index += 1
            if not self.keep and index - self._dropped >= TRIM_EVERY:
                del self.events[: index - self._dropped]
                self._dropped = index
            yield event
            if event.get("event") in terminal:
                return


class Follower:
    """One reader's position in a log: an async iterator of its events from `start` through the
    first whose name is in `terminal` (or to the end of the log), and `take` / `changed` for a
    reader that takes all events there at once and waits itself."""

    def __init__(self, log: EventLog, start: int, terminal: Collection[str]) -> None:
        self.log = log
        self.index = max(start, log._dropped)
        self.terminal = terminal
        self.finished = False
        self._pending: deque[dict[str, Any]] = deque()

    def take(self) -> list[dict[str, Any]]:
        """The events there now, not read yet (through the terminal one); `finished` tells
        whether any can follow."""
        log = self.log
        if self.finished:
            return []
        end = len(log)
        if self.index >= end:
            self.finished = log.ended
            return []
        first = self.index - log._dropped
        events = log.events
        batch = events[first:] if first else events
        for position, event in enumerate(batch):
            if event.get("event") in self.terminal:
                batch = batch[: position + 1]
                self.finished = True
                break
        self.index += len(batch)
        if not log.keep:  # the only reader: let go of what it has read
            upto = self.index - log._dropped
            log.events = [] if upto == len(events) else events[upto:]
            log._dropped = self.index
        elif batch is events:
            batch = list(events)
        if log.ended and self.index >= len(log):
            self.finished = True
        return batch

    def changed(self) -> asyncio.Future[None]:
        """A future settled once `take` may have more (or the log ended)."""
        return self.log.changed()

    def __aiter__(self) -> Follower:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._pending:
            if self.finished:
                raise StopAsyncIteration
            batch = self.take()
            if batch:
                self._pending.extend(batch)
            elif not self.finished:
                await self.changed()
        return self._pending.popleft()
