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
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.responses import StreamingResponse

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


def streaming_response(events: AsyncIterator[Mapping[str, Any]], ping_interval: float) -> StreamingResponse:
    """A Starlette response streaming `events` with Dify's headers."""
    return StreamingResponse(
        with_keepalive(events, ping_interval),
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
