"""`until_stopped`: items flow until the stream ends or the stop event is set; a read pending at
the stop is cancelled and the stream closed, without cancelling the consumer itself; a real
cancellation of the consumer still goes through."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from impl.providers import until_stopped
from impl.providers.base import YIELD_EVERY


class Source:
    """`items` items, `gap` seconds apart; after `park_after` items it waits (for a minute) with
    `parked` set, so a test knows a read is pending."""

    def __init__(self, items: int, gap: float, park_after: int | None = None) -> None:
        self.items, self.gap, self.park_after = items, gap, park_after
        self.parked = asyncio.Event()
        self.closed = False
        self.cancelled = False

    async def stream(self) -> AsyncIterator[int]:
        try:
            for i in range(self.items):
                if i == self.park_after:
                    self.parked.set()
                    await asyncio.sleep(60)
                if self.gap:
                    await asyncio.sleep(self.gap)
                yield i
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.closed = True


async def test_items_flow_to_the_end() -> None:
    source = Source(50, 0)
    async with contextlib.aclosing(until_stopped(source.stream(), asyncio.Event())) as items:
        assert [i async for i in items] == list(range(50))
    assert source.closed


async def test_stop_cancels_the_pending_read_not_the_consumer() -> None:
    source, stop, stopped = Source(1000, 0.001, park_after=3), asyncio.Event(), []
    got: list[int] = []

    async def stop_once_parked() -> None:  # the stop lands while the fourth read is pending
        await source.parked.wait()
        stop.set()

    stopper = asyncio.create_task(stop_once_parked())
    async with contextlib.aclosing(until_stopped(source.stream(), stop, lambda: stopped.append(1))) as items:
        async for i in items:
            got.append(i)
    await stopper
    assert got == [0, 1, 2]
    assert stopped == [1] and source.cancelled and source.closed
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0
    await asyncio.sleep(0.02)  # the consumer goes on: no cancellation left over


async def test_a_stop_set_before_the_first_read_yields_nothing() -> None:
    source, stop = Source(5, 0), asyncio.Event()
    stop.set()
    async with contextlib.aclosing(until_stopped(source.stream(), stop)) as items:
        assert [i async for i in items] == []


async def test_cancelling_the_consumer_still_cancels_it() -> None:
    source, stop = Source(1000, 0.01), asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(until_stopped(source.stream(), stop)) as items:
            async for _ in items:
                pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.closed


async def test_cancel_and_stop_together_still_cancel_the_consumer() -> None:
    source, stop = Source(1000, 0.01), asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(until_stopped(source.stream(), stop)) as items:
            async for _ in items:
                pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    stop.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_stream_that_never_waits_lets_the_loop_run_and_stops() -> None:
    """A source with no await between items (a fast model) still yields the loop every
    `YIELD_EVERY` items, so a stop set by another task lands within that many items."""
    source, stop = Source(10_000, 0), asyncio.Event()
    got: list[int] = []

    async def stopper() -> None:
        while len(got) < 100:
            await asyncio.sleep(0)
        stop.set()

    helper = asyncio.create_task(stopper())
    async with contextlib.aclosing(until_stopped(source.stream(), stop)) as items:
        async for i in items:
            got.append(i)
    await helper
    assert 100 <= len(got) <= 100 + 2 * YIELD_EVERY


async def test_a_stream_that_turns_the_cancellation_into_an_error_is_still_just_stopped() -> None:
    """A client library may answer the cancelled read with an error of its own: the stop still
    ends the iteration quietly, and the consumer is left with no cancellation pending."""

    async def wrapping() -> AsyncIterator[int]:
        for i in range(1000):
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                raise RuntimeError("connection closed") from None
            yield i

    stop, stopped = asyncio.Event(), []
    asyncio.get_running_loop().call_later(0.05, stop.set)
    async with contextlib.aclosing(until_stopped(wrapping(), stop, lambda: stopped.append(1))) as items:
        got = [i async for i in items]
    assert 0 < len(got) < 1000 and stopped == [1]
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0
    await asyncio.sleep(0.02)
