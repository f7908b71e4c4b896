"""SSE framing of a run's event log: one chunk per wake-up with the same bytes as frame by frame,
a keep-alive only after a silence, and the `Framer` writing exactly what `frame` writes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.background import BackgroundTask

from impl import sse
from impl.services.runs.event_log import EventLog


async def _chunks(body: AsyncIterator[bytes], into: list[tuple[float, bytes]]) -> None:
    async for chunk in body:
        into.append((time.monotonic(), chunk))


def _event(i: int, answer: str = "tok ") -> dict[str, Any]:
    return {
        "event": "message",
        "task_id": "t",
        "id": "m",
        "message_id": "m",
        "created_at": 1,
        "answer": f"{answer}{i}",
    }


async def test_events_waiting_together_go_out_as_one_chunk_with_the_same_bytes() -> None:
    log = EventLog(keep=False)
    events = [_event(i) for i in range(5)] + [{"event": "message_end", "id": "m", "metadata": {}}]
    for e in events[:3]:
        log.append(e)
    chunks: list[tuple[float, bytes]] = []
    reader = asyncio.create_task(
        _chunks(sse.batched_with_keepalive(log.follower(0, ("message_end",)), 10), chunks)
    )
    await asyncio.sleep(0.01)
    assert len(chunks) == 1  # the three waiting events in one write
    for e in events[3:]:
        log.append(e)
    await asyncio.wait_for(reader, 1)
    assert b"".join(c for _t, c in chunks) == b"".join(sse.frame(e) for e in events)
    assert sse.parse_frames(b"".join(c for _t, c in chunks).decode()) == events


async def test_a_ping_only_after_the_interval_of_silence() -> None:
    log = EventLog(keep=False)
    follower = log.follower(0, ("message_end",))
    chunks: list[tuple[float, bytes]] = []
    started = time.monotonic()
    reader = asyncio.create_task(_chunks(sse.batched_with_keepalive(follower, 0.2), chunks))
    for i in range(6):  # output every 0.05 s for 0.3 s: longer than the interval, no ping
        log.append(_event(i))
        await asyncio.sleep(0.05)
    assert sse.PING_FRAME not in [c for _t, c in chunks]
    await asyncio.sleep(0.45)  # silence: pings about every 0.2 s
    log.append({"event": "message_end", "id": "m"})
    await asyncio.wait_for(reader, 1)
    pings = [t for t, c in chunks if c == sse.PING_FRAME]
    assert 1 <= len(pings) <= 3
    last_output = max(
        t for t, c in chunks if c != sse.PING_FRAME and c.startswith(b'data: {"event":"message"')
    )
    assert pings[0] - last_output >= 0.18 and pings[0] - started > 0.45
    assert chunks[-1][1] == sse.frame({"event": "message_end", "id": "m"})


async def test_a_client_gone_leaves_no_timer_behind() -> None:
    log = EventLog(keep=False)
    body = sse.batched_with_keepalive(log.follower(0, ("message_end",)), 0.05)
    reader = asyncio.create_task(_chunks(body, []))
    await asyncio.sleep(0.01)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await asyncio.sleep(0.1)  # a timer left armed would set a cancelled waiter: no error raised
    log.append(_event(0))


@pytest.mark.parametrize(
    "events",
    [
        [_event(i, text) for i, text in enumerate(['"q"\n', "ünï ✓", "\x00\x1f\\", "\u2028", "x" * 500, ""])],
        [{"answer": "only"}, {"answer": "field"}],
        [{"a": 1, "b": "y"}, {"a": True, "b": "y"}, {"a": 1.0, "b": "y"}, {"a": 1, "b": "z"}],
        [{"a": "x", "b": 2}, {"a": {"n": [1]}, "b": "z"}, {}, {"event": "ping", "b": None}],
    ],
)
def test_the_framer_writes_exactly_what_frame_writes(events: list[dict[str, Any]]) -> None:
    framer = sse.Framer()
    for e in events + events:
        assert framer(e) == sse.frame(e)


def test_the_framer_sees_a_changed_envelope_field() -> None:
    framer = sse.Framer()
    first = _event(0)
    assert framer(first) == sse.frame(first)
    second = dict(first, task_id="other", answer="x")
    assert framer(second) == sse.frame(second)


class _Client:
    """The ASGI side of one streaming response: records what is sent; `leave()` makes the next
    `receive` (after the request body) answer `http.disconnect`."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.left = asyncio.Event()
        self.body_read = False

    async def receive(self) -> dict[str, Any]:
        if not self.body_read:
            self.body_read = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


_SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "GET"}


async def test_event_stream_response_streams_to_the_end_and_leaves_no_task() -> None:
    log = EventLog(keep=False)
    for i in range(3):
        log.append(_event(i))
    log.append({"event": "message_end", "id": "m"})
    client = _Client()
    response = sse.streaming_response(log.follower(0, ("message_end",)), 10)
    assert isinstance(response, sse.EventStreamResponse)
    before = asyncio.all_tasks()
    await response(_SCOPE, client.receive, client.send)
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before  # the watcher is gone
    events = [*(_event(i) for i in range(3)), {"event": "message_end", "id": "m"}]
    assert client.body() == b"".join(sse.frame(e) for e in events)
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


async def test_event_stream_response_ends_quietly_when_the_client_leaves() -> None:
    """A disconnect mid-stream ends the response without an error, runs its background task, and
    leaves the request's task not cancelled; the run's log is simply not read further."""
    log = EventLog(keep=False)
    log.append(_event(0))
    client = _Client()
    ran: list[str] = []

    async def background() -> None:
        ran.append("background")

    response = sse.streaming_response(log.follower(0, ("message_end",)), 10)
    response.background = BackgroundTask(background)

    async def serve() -> None:
        await response(_SCOPE, client.receive, client.send)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0

    server = asyncio.create_task(serve())
    for _ in range(100):
        await asyncio.sleep(0)
        if client.body():
            break
    client.left.set()
    await asyncio.wait_for(server, 5)
    log.append(_event(1))
    assert client.body() == sse.frame(_event(0)) and ran == ["background"]


async def test_event_stream_response_still_passes_on_a_cancellation_from_elsewhere() -> None:
    log = EventLog(keep=False)
    client = _Client()
    response = sse.streaming_response(log.follower(0, ("message_end",)), 10)
    server = asyncio.create_task(response(_SCOPE, client.receive, client.send))
    await asyncio.sleep(0.01)
    server.cancel()
    with pytest.raises(asyncio.CancelledError):
        await server
