"""Server-sent events framing as Dify clients expect it.

- one JSON event per frame: `data: <compact json>\\n\\n` (LF only, raw UTF-8);
- the keep-alive frame is the bare `event: ping\\n\\n`, sent only after `ping_interval`
  seconds without any other output (an early ping breaks the consumer loop of the official
  Python SDK's README);
- the stream ends right after the terminal event (the source iterator ends there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import operator
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

PING_FRAME = b"event: ping\n\n"
MEDIA_TYPE = "text/event-stream"
STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def frame(event: Mapping[str, Any]) -> bytes:
    """Encode one event as a `data:` frame (compact JSON, one line)."""
    payload = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return b"data: " + payload.encode("utf-8") + b"\n\n"


async def with_keepalive(
    events: AsyncIterator[Mapping[str, Any]], ping_interval: float
) -> AsyncIterator[bytes]:
    """Frame `events`, inserting a ping frame after every `ping_interval` s of silence.

    The source is read by a helper task so a slow source never blocks the ping; when the
    consumer goes away (client disconnect) the helper is cancelled, and closing the source is
    left to it (the generation itself runs elsewhere and is not affected).
    """
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for event in events:
                await queue.put(("event", event))
        except Exception as exc:  # handed to the consumer, re-raised there
            await queue.put(("error", exc))
        else:
            await queue.put(("end", None))

    reader = asyncio.create_task(pump())
    try:
        while True:
            try:
                kind, item = queue.get_nowait()  # fast path: no timer when output is flowing
            except asyncio.QueueEmpty:
                try:
                    # `asyncio.timeout` arms a timer on this task; `wait_for` would start a
                    # task per event (Python 3.11), a cost every token of every stream pays.
                    async with asyncio.timeout(ping_interval):
                        kind, item = await queue.get()
                except TimeoutError:
                    yield PING_FRAME
                    continue
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield frame(item)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


_encode_string = json.encoder.encode_basestring  # a str as `json.dumps(ensure_ascii=False)` writes it


class Framer:
    """`frame` for the events of one stream, which mostly differ only in their last field (a
    chat turn's `message` events: the same envelope, another `answer`): the frame up to that
    field's value is kept and reused while the fields before it are the very same objects, so
    only the last string is encoded.  The bytes are those of `frame`."""

    __slots__ = ("keys", "prefix", "values")

    def __init__(self) -> None:
        self.keys: tuple[Any, ...] = ()
        self.values: tuple[Any, ...] = ()
        self.prefix = b""

    def __call__(self, event: Mapping[str, Any]) -> bytes:
        if type(event) is not dict or not event:
            return frame(event)
        keys, values = tuple(event), tuple(event.values())
        last_key, last = keys[-1], values[-1]
        if type(last) is not str or type(last_key) is not str:
            return frame(event)
        if keys != self.keys or not all(map(operator.is_, values[:-1], self.values[:-1])):
            head = frame(dict(zip(keys[:-1], values[:-1], strict=True)))[: -len(b"}\n\n")]
            separator = b"," if len(keys) > 1 else b""
            self.prefix = head + separator + _encode_string(last_key).encode() + b":"
            self.keys, self.values = keys, values
        return self.prefix + _encode_string(last).encode("utf-8") + b"}\n\n"


@runtime_checkable
class Batches(Protocol):
    """An event source that hands over all events there at once (`take`; `finished` once none
    can follow) and says when to look again (`changed`): a run's event log (`Follower`)."""

    finished: bool

    def take(self) -> Sequence[Mapping[str, Any]]: ...
    def changed(self) -> asyncio.Future[None]: ...


class _Idle:
    """The keep-alive clock of one stream: at most one timer, re-armed only when it fires, so
    output flowing costs no timer per event."""

    __slots__ = ("due", "handle", "interval", "loop", "since", "waiter")

    def __init__(self, interval: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.interval = interval
        self.handle: asyncio.TimerHandle | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.since = 0.0
        self.due = False

    async def wait(self, waiter: asyncio.Future[None]) -> bool:
        """Wait for `waiter`; True when `interval` seconds of silence passed first."""
        self.since = self.loop.time()
        self.waiter = waiter
        if self.handle is None:
            self.handle = self.loop.call_at(self.since + self.interval, self._fire)
        try:
            await waiter
        finally:
            self.waiter = None
        due, self.due = self.due, False
        return due

    def _fire(self) -> None:
        self.handle = None
        if self.waiter is None:  # busy writing: the next wait arms the clock again
            return
        at = self.since + self.interval
        if self.loop.time() + 0.001 >= at:
            if not self.waiter.done():
                self.due = True
                self.waiter.set_result(None)
        else:
            self.handle = self.loop.call_at(at, self._fire)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


async def batched_with_keepalive(source: Batches, ping_interval: float) -> AsyncIterator[bytes]:
    """`with_keepalive` for a source that hands over all waiting events at once: one chunk of
    frames per wake-up (the same bytes as frame by frame), read in the response's own task."""
    idle = _Idle(ping_interval)
    framer = Framer()
    try:
        while True:
            events = source.take()
            if events:
                yield b"".join([framer(event) for event in events])
                continue  # more may have come while this chunk was written
            if source.finished:
                return
            if await idle.wait(source.changed()):
                yield PING_FRAME
    finally:
        idle.close()


class EventStreamResponse(StreamingResponse):
    """Starlette's streaming response, in two plain tasks instead of an anyio task group.

    Under ASGI before 2.4 (uvicorn says 2.3) Starlette writes the body in an anyio task group
    beside a reader of `receive`, and cancels the group when either ends; its cancel scopes and
    cancellation delivery were a few per cent of the CPU of 1,000 stream starts. Here a writer
    task writes the body and a watcher task reads `receive`; the request's task waits for the
    first to end. The body is written in a task of its own, not in the request's: a request's
    task runs through every middleware of the stack, and each token resuming it there would
    resume them all. A disconnect ends the response quietly (the writer is cancelled), an error
    of the writer is raised, and a cancellation of the request cancels both. Under ASGI 2.4
    Starlette's own path runs."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spec = str(scope.get("asgi", {}).get("spec_version", "2.0"))
        if scope["type"] != "http" or tuple(map(int, spec.split("."))) >= (2, 4):
            await super().__call__(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        writer = loop.create_task(self.stream_response(send))
        watcher = loop.create_task(_until_disconnect(receive))
        first_done = loop.create_future()  # (`asyncio.wait` checks its arguments at a cost)

        def settle(_task: asyncio.Task[None]) -> None:
            if not first_done.done():
                first_done.set_result(None)

        writer.add_done_callback(settle)
        watcher.add_done_callback(settle)
        try:
            await first_done
        finally:
            watcher.cancel()
            if not writer.done():  # the client went away, or this request was cancelled
                writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if not writer.cancelled():
            writer.result()  # the writer's error, if any
        if self.background is not None:
            await self.background()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


_HANDS_OVER_BATCHES: dict[type, bool] = {}  # by the event source's type (a protocol check costs ~10 µs)


def streaming_response(events: AsyncIterator[Mapping[str, Any]], ping_interval: float) -> StreamingResponse:
    """A response streaming `events` with Dify's headers."""
    batches = _HANDS_OVER_BATCHES.get(type(events))
    if batches is None:
        batches = _HANDS_OVER_BATCHES[type(events)] = isinstance(events, Batches)
    body = (
        batched_with_keepalive(events, ping_interval)  # type: ignore[arg-type]
        if batches
        else with_keepalive(events, ping_interval)
    )
    return EventStreamResponse(
        body,
        media_type=MEDIA_TYPE,
        headers=dict(STREAM_HEADERS),
    )


def parse_frames(text: str) -> list[dict[str, Any] | None]:
    """Decode a complete SSE body: one dict per `data:` frame, `None` per ping frame.

    Used by tests and tools; accepts CRLF line endings as SSE allows.
    """
    out: list[dict[str, Any] | None] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        data_lines = [ln[5:].lstrip(" ") for ln in block.split("\n") if ln.startswith("data:")]
        if data_lines:
            out.append(json.loads("\n".join(data_lines)))
        elif block.strip() == "event: ping":
            out.append(None)
        else:
            raise ValueError(f"unexpected SSE block: {block!r}")
    return out
