"""Read a Server-Sent Events response incrementally, with an idle timeout and a total deadline.

A stream that never ends, or stays open after its terminal event, becomes a recorded verdict,
never a hang: a reader thread feeds chunks into a queue and the caller waits with timeouts.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from conformance.client import Api, Exchange


@dataclasses.dataclass
class Frame:
    """One SSE frame: the lines between two blank lines."""

    lines: list[str]
    at: float  # seconds since the request was sent
    crlf: bool = False

    def field(self, name: str) -> list[str]:
        out = []
        for line in self.lines:
            if line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            if key == name:
                out.append(value[1:] if value.startswith(" ") else value)
        return out

    @property
    def data(self) -> str | None:
        values = self.field("data")
        return "\n".join(values) if values else None

    @property
    def event_name(self) -> str | None:
        values = self.field("event")
        return values[-1] if values else None

    @property
    def comments(self) -> list[str]:
        return [line for line in self.lines if line.startswith(":")]

    @property
    def is_ping(self) -> bool:
        return self.event_name == "ping" and self.data is None

    def payload(self) -> Any:
        """The JSON object carried by the data field, or None."""
        if self.data is None:
            return None
        try:
            value = json.loads(self.data)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def text(self) -> str:
        return "\n".join(self.lines)


class FrameParser:
    """Split bytes into frames as they arrive (LF or CRLF line endings)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._lines: list[str] = []
        self._crlf = False

    def feed(self, chunk: bytes, at: float) -> list[Frame]:
        self._buffer += chunk
        frames: list[Frame] = []
        while True:
            idx = self._buffer.find(b"\n")
            if idx < 0:
                return frames
            raw, self._buffer = self._buffer[:idx], self._buffer[idx + 1 :]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
                self._crlf = True
            line = raw.decode("utf-8", "replace")
            if line == "":
                if self._lines:
                    frames.append(Frame(self._lines, at, self._crlf))
                self._lines, self._crlf = [], False
            else:
                self._lines.append(line)

    def leftover(self) -> bytes:
        rest = "\n".join(self._lines).encode() + self._buffer
        return rest


@dataclasses.dataclass
class StreamCapture:
    """Everything observed on one streamed response."""

    exchange: Exchange
    status: int | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    frames: list[Frame] = dataclasses.field(default_factory=list)
    raw: bytes = b""
    ended: str = "closed"  # closed | idle-timeout | deadline | not-closed-after-terminal | error
    terminal_index: int | None = None  # index in `frames` of the first terminal event
    after_terminal: list[Frame] = dataclasses.field(default_factory=list)
    trailing: bytes = b""  # bytes left without a closing blank line
    duration: float = 0.0
    error: str | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def payloads(self) -> list[dict[str, Any]]:
        """JSON payloads of the data frames, in order (pings and junk left out)."""
        out = []
        for frame in self.frames:
            p = frame.payload()
            if p is not None:
                out.append(p)
        return out

    def event_names(self) -> list[str]:
        return [str(p.get("event")) for p in self.payloads()]

    def answer(self) -> str:
        text = ""
        for p in self.payloads():
            if p.get("event") in ("message", "agent_message") and isinstance(p.get("answer"), str):
                text += p["answer"]
            elif p.get("event") == "message_replace" and isinstance(p.get("answer"), str):
                text = p["answer"]
        return text

    def transcript(self, limit: int = 4000) -> str:
        body = self.raw.decode("utf-8", "replace")
        if len(body) > limit:
            body = body[:limit] + " …(cut)"
        head = f"HTTP {self.status}\n" + "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        return f"{head}\n{body}\n[stream {self.ended} after {self.duration:.2f}s]"


_EOF = object()


def read_stream(
    api: Api,
    request: httpx.Request,
    *,
    idle_timeout: float,
    deadline: float,
    close_grace: float,
    is_terminal: Callable[[dict[str, Any]], bool],
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> StreamCapture:
    """Send `request` and read its response as an event stream, never waiting longer than allowed."""
    capture = StreamCapture(exchange=api.exchange_for(request))
    api.requests_sent += 1
    started = time.monotonic()
    chunks: queue.Queue[tuple[float, Any]] = queue.Queue()
    holder: dict[str, httpx.Response] = {}
    stop = threading.Event()

    def pump() -> None:
        try:
            response = api.http.send(request, stream=True)
            holder["response"] = response
            chunks.put((time.monotonic() - started, response))
            for chunk in response.iter_raw():
                if stop.is_set():
                    break
                chunks.put((time.monotonic() - started, chunk))
            chunks.put((time.monotonic() - started, _EOF))
        except Exception as exc:  # reported through the queue
            chunks.put((time.monotonic() - started, exc))

    thread = threading.Thread(target=pump, name="sse-reader", daemon=True)
    thread.start()
    parser = FrameParser()
    terminal_at: float | None = None
    try:
        while True:
            now = time.monotonic() - started
            wait = min(idle_timeout, deadline - now)
            if terminal_at is not None:
                wait = min(wait, terminal_at + close_grace - now)
            if wait <= 0:
                capture.ended = (
                    "not-closed-after-terminal"
                    if terminal_at is not None and now >= terminal_at + close_grace
                    else "deadline"
                )
                break
            try:
                at, item = chunks.get(timeout=wait)
            except queue.Empty:
                now = time.monotonic() - started
                if terminal_at is not None and now >= terminal_at + close_grace:
                    capture.ended = "not-closed-after-terminal"
                elif now >= deadline:
                    capture.ended = "deadline"
                else:
                    capture.ended = "idle-timeout"
                break
            if isinstance(item, httpx.Response):
                capture.status = item.status_code
                capture.headers = {k.lower(): v for k, v in item.headers.items()}
                capture.exchange.status = item.status_code
                capture.exchange.response_headers = capture.headers
                if "text/event-stream" not in capture.content_type:
                    # Not a stream: read the body within the same deadline and stop.
                    continue
                continue
            if item is _EOF:
                capture.ended = "closed"
                break
            if isinstance(item, Exception):
                capture.ended = "error"
                capture.error = f"{type(item).__name__}: {item}"
                break
            capture.raw += item
            for frame in parser.feed(item, at):
                if terminal_at is not None:
                    capture.after_terminal.append(frame)
                capture.frames.append(frame)
                payload = frame.payload()
                if payload is None:
                    continue
                if on_event is not None:
                    on_event(payload)
                if terminal_at is None and is_terminal(payload):
                    terminal_at = at
                    capture.terminal_index = len(capture.frames) - 1
    finally:
        stop.set()
        capture.duration = time.monotonic() - started
        response = holder.get("response")
        if response is not None:
            response.close()
        thread.join(timeout=1.0)
    capture.trailing = parser.leftover()
    capture.exchange.response_body = capture.raw
    if capture.error and capture.exchange.status is None:
        capture.exchange.error = capture.error
    api.observe(capture.exchange)
    return capture
