"""Stopping the server ends open streams with their terminal event and keeps the partial answer."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from support.server import start_server


def test_sigterm_ends_open_streams_cleanly(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    events: list[dict[str, Any]] = []
    first_token = threading.Event()
    errors: list[BaseException] = []

    def read_stream() -> None:
        body = {
            "query": "[[tokens:400]] [[delay:0.05]] tell me a long story",
            "inputs": {"name": "Ada"},
            "user": "shutdown-user",
            "response_mode": "streaming",
        }
        try:
            with httpx.stream(
                "POST",
                server.base_url + "/chat-messages",
                json=body,
                headers={"Authorization": f"Bearer {server.keys['chat']}"},
                timeout=30,
            ) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        events.append(json.loads(line[6:]))
                        if events[-1]["event"] == "message":
                            first_token.set()
        except BaseException as exc:  # reported below with the events seen
            errors.append(exc)

    reader = threading.Thread(target=read_stream)
    reader.start()
    try:
        assert first_token.wait(20), server.log()
        time.sleep(0.3)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        reader.join(15)
        took = time.monotonic() - started
    finally:
        server.stop()
    assert not reader.is_alive()
    assert not errors, errors
    assert events[-1]["event"] == "message_end", events[-3:]
    assert took < 8, f"stream took {took:.1f}s to end after SIGTERM"
    partial = "".join(e["answer"] for e in events if e["event"] == "message")
    assert partial, "some tokens arrived before the stop"
    with sqlite3.connect(tmp_path / "data" / "dify.db") as db:
        (answer,) = db.execute(
            "SELECT answer FROM messages WHERE id = ?", (events[-1]["message_id"],)
        ).fetchone()
    assert answer == partial
