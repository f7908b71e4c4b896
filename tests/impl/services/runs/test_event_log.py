"""The one event log of chat turns and graph runs: order, replay, live followers, the end."""

from __future__ import annotations

import asyncio

from impl.services.runs.event_log import TRIM_EVERY, EventLog, Follower


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


async def test_a_follower_takes_everything_there_at_once_through_the_terminal_event() -> None:
    log = EventLog([{"event": "a"}, {"event": "b"}])
    follower = log.follower(0, ("end",))
    assert [e["event"] for e in follower.take()] == ["a", "b"]
    assert follower.take() == [] and not follower.finished
    waiter = follower.changed()
    log.append({"event": "c"})
    assert waiter.done()
    for name in ("end", "after"):
        log.append({"event": name})
    assert [e["event"] for e in follower.take()] == ["c", "end"]
    assert follower.finished and follower.take() == []
    assert len(log) == 5 and log.events[-1] == {"event": "after"}  # kept for other readers


async def test_a_single_reader_follower_lets_go_of_what_it_took() -> None:
    log = EventLog(keep=False)
    follower = log.follower(0, ("end",))
    taken: list[str] = []
    for i in range(50):
        log.append({"event": f"e{i}"})
        if i % 7 == 0:
            taken += [str(e["event"]) for e in follower.take()]
            assert log.events == []  # nothing held once read
    log.append({"event": "end"})
    log.append({"event": "late"})
    taken += [str(e["event"]) for e in follower.take()]
    assert taken == [f"e{i}" for i in range(50)] + ["end"]
    assert follower.finished and len(log) == 52 and log.events == [{"event": "late"}]


async def test_a_follower_is_also_an_async_iterator_and_ends_with_the_log() -> None:
    log = EventLog()
    follower = log.follower(1)
    reader = asyncio.create_task(_names(follower))
    for name in ("x", "y", "z"):
        log.append({"event": name})
        await asyncio.sleep(0)
    log.end()
    assert await asyncio.wait_for(reader, 1) == ["y", "z"]


async def _names(follower: Follower) -> list[str]:
    return [str(e["event"]) async for e in follower]
