"""Test helpers: call the live server, read SSE streams incrementally with timeouts, check grammar."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from conformance.grammar import EventValidator, check_sequence, load_events_document, load_grammar

EVENTS_PATH = Path(__file__).resolve().parents[3] / "spec" / "events.schema.json"
_DOC = load_events_document(EVENTS_PATH)
VALIDATOR = EventValidator(_DOC)


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Stream:
    status: int
    headers: httpx.Headers
    raw: bytes = b""
    events: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @property
    def data_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] != "ping"]

    @property
    def answer(self) -> str:
        return "".join(e.get("answer", "") for e in self.events if e["event"] == "message")


def open_stream(
    base_url: str, key: str, path: str, body: dict[str, Any], *, read_timeout: float = 10.0,
    on_event: Any = None,
) -> Stream:  # fmt: skip
    """POST and read the SSE body frame by frame; every read is bounded by `read_timeout`."""
    timeout = httpx.Timeout(10.0, read=read_timeout)
    start = time.monotonic()
    with (
        httpx.Client(timeout=timeout) as client,
        client.stream("POST", base_url + path, json=body, headers=headers(key)) as resp,
    ):
        out = Stream(status=resp.status_code, headers=resp.headers)
        if resp.status_code != 200 or not resp.headers.get("content-type", "").startswith(
            "text/event-stream"
        ):
            out.raw = resp.read()
            return out
        buffer = b""
        for chunk in resp.iter_bytes():
            out.raw += chunk
            buffer += chunk
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                assert b"\r" not in frame, "frames use LF line endings"
                text = frame.decode("utf-8")
                if text == "event: ping":
                    event: dict[str, Any] = {"event": "ping"}
                else:
                    assert text.startswith("data: ") and "\n" not in text, f"unexpected frame {text!r}"
                    event = json.loads(text[6:])
                out.events.append(event)
                out.times.append(time.monotonic() - start)
                if on_event is not None:
                    on_event(event)
        assert buffer == b"", "the stream ended inside a frame"
    return out


def assert_valid_stream(stream: Stream, mode: str, *, ping_idle: float | None = None) -> None:
    """Every event matches its schema and the mode's union; the sequence matches the grammar."""
    union = f"stream_{mode}"
    for event in stream.events:
        assert VALIDATOR.errors(event) == [], (event, VALIDATOR.errors(event))
        assert VALIDATOR.errors(event, union) == [], (event, VALIDATOR.errors(event, union))
    grammar = load_grammar(_DOC, mode)
    times = stream.times if ping_idle is None else None
    violations = check_sequence(grammar, stream.events, complete=True, times=times)
    assert violations == [], [str(v) for v in violations]
