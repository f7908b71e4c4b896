"""The one event log of chat turns and graph runs: order, replay, live followers, the end."""

from __future__ import annotations

import asyncio

from impl.services.runs.event_log import TRIM_EVERY, EventLog


async def _collect(log: EventLog, start: int = 0, terminal: tuple[str, ...] = ()) -> list[str]:
    return [str(e["event"]) async for e in log.follow(start, terminal)]


async def test_followers_replay_then_read_live_through_the_terminal_event() -> None:
    log = EventLog([{"event": "a"}])
    early = asyncio.create_task(_collect(log, 0, ("end",)))
    late_start = asyncio.create_task(_collect(log, 1, ("end",)))
    await asyncio.sleep(0)
    for name in ("b", "c", "end", "after"):
        log.append({"event": name})
        await asyncio.sleep(0)
    assert await early == ["a", "b", "c", "end"]
    assert await late_start == ["b", "c", "end"]
    assert len(log) == 5  # the log keeps what came after a terminal event


async def test_end_releases_followers_waiting_for_more() -> None:
    log = EventLog()
    follower = asyncio.create_task(_collect(log))
    log.append({"event": "x"})
    await asyncio.sleep(0)
    assert not follower.done()
    log.end()
    assert await asyncio.wait_for(follower, 1) == ["x"]
    assert await _collect(log) == ["x"]  # a reader arriving after the end gets the whole log


async def test_wait_beyond_returns_at_once_when_events_are_there() -> None:
    log = EventLog([{"event": "x"}, {"event": "y"}])
    await asyncio.wait_for(log.wait_beyond(1), 1)
    waiting = asyncio.create_task(log.wait_beyond(2))
    await asyncio.sleep(0)
    assert not waiting.done()
    log.append({"event": "z"})
    await asyncio.wait_for(waiting, 1)


async def test_a_single_reader_log_lets_go_of_what_was_read() -> None:
    log = EventLog(keep=False)
    names = [f"e{i}" for i in range(300)]
    reader = asyncio.create_task(_collect(log, 0, ("e299",)))
    held: list[int] = []
    for name in names:
        log.append({"event": name})
        await asyncio.sleep(0)
        held.append(len(log.events))
    assert await reader == names  # nothing lost, in order
    assert len(log) == 300 and max(held) <= TRIM_EVERY + 1  # never more than a trim batch held
