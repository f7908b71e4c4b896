"""Concurrent calls for one key sharing one run of the work.

When a cached value expires under a burst (a key's app context, an app's annotation-reply
settings), every request arriving before the first read returns would send the same query. With
`SingleFlight.run` the first caller for a key does the work and the others wait for its outcome:
its result, or its error raised in each of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SingleFlight(Generic[K, T]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[T]] = {}

    async def run(self, key: K, work: Callable[[], Awaitable[T]]) -> T:
        """`work()`'s outcome, shared with the callers for `key` that come while it runs (on
        the same event loop). A waiter that is cancelled leaves the work running for the others."""
        loop = asyncio.get_running_loop()
        running = self._running.get(key)
        if running is not None and running.get_loop() is loop and not running.done():
            return await asyncio.shield(running)
        future: asyncio.Future[T] = loop.create_future()
        self._running[key] = future
        try:
            result = await work()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody may be waiting
            raise
        finally:
            if self._running.get(key) is future:
                del self._running[key]
        future.set_result(result)
        return result

    def forget(self, key: K) -> None:
        """Callers for `key` from now on start a new run (the running one ends for its waiters)."""
        self._running.pop(key, None)

    def clear(self) -> None:
        self._running.clear()
