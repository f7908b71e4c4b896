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
        self._changed = asyncio.Event()

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
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_beyond(self, index: int) -> None:
        """Return once the log holds more than `index` events, or has ended."""
        while len(self) <= index and not self.ended:
            await self._changed.wait()

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
