"""Stop mid-stream, stop isolation, keep-alive pings with a shortened interval, shutdown."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from sse_client import assert_valid_stream, headers, open_stream
from support.server import start_server


def _stop(server: Any, mode: str, path: str, task_id: str, user: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}{path}/{task_id}/stop",
        json={"user": user},
        headers=headers(server.keys[mode]),
        timeout=10,
    )


def _stream_and_stop(
    server: Any, mode: str, path: str, body: dict[str, Any], stopper: str
) -> tuple[Any, float]:
    stopped_at: list[float] = []

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "message" and not stopped_at:
            # Stop from a second connection while this one keeps reading.
            wrong = _stop(server, mode, path, event["task_id"], "someone-else")
            assert wrong.json() == {"result": "success"}
            resp = _stop(server, mode, path, event["task_id"], stopper)
            assert resp.status_code == 200 and resp.json() == {"result": "success"}
            stopped_at.append(time.monotonic())

    start = time.monotonic()
    stream = open_stream(server.base_url, server.keys[mode], path, body, read_timeout=5, on_event=on_event)
    assert stopped_at, "no message event arrived"
    return stream, time.monotonic() - start


def test_chat_stop_mid_stream_persists_partial_answer(live_server: Any) -> None:
    body = {
        "query": "long [[delay:0.05]] [[tokens:400]]",
        "inputs": {},
        "user": "stopper",
        "response_mode": "streaming",
    }
    stream, elapsed = _stream_and_stop(live_server, "chat", "/chat-messages", body, "stopper")
    assert_valid_stream(stream, "chat")
    events = stream.data_events
    assert events[-1]["event"] == "message_end"
    deltas = [e for e in events if e["event"] == "message"]
    assert 1 <= len(deltas) < 50, len(deltas)  # it stopped long before 400 tokens (20 s)
    assert elapsed < 5
    end = events[-1]
    assert end["metadata"]["usage"]["completion_tokens"] == len(deltas)
    data = httpx.get(
        live_server.base_url + "/messages",
        params={"user": "stopper", "conversation_id": end["conversation_id"]},
        headers=headers(live_server.keys["chat"]),
        timeout=10,
    ).json()["data"]
    assert data[0]["answer"] == stream.answer and data[0]["status"] == "normal"


def test_completion_stop(live_server: Any) -> None:
    body = {
        "inputs": {"query": "slow [[delay:0.05]] [[tokens:400]]"},
        "user": "stopper2",
        "response_mode": "streaming",
    }
    stream, elapsed = _stream_and_stop(live_server, "completion", "/completion-messages", body, "stopper2")
    assert_valid_stream(stream, "completion")
    assert stream.data_events[-1]["event"] == "message_end" and elapsed < 5


def test_stop_of_unknown_task_succeeds(live_server: Any) -> None:
    resp = _stop(live_server, "chat", "/chat-messages", "not-a-task", "anyone")
    assert resp.status_code == 200 and resp.json() == {"result": "success"}
    missing_user = httpx.post(
        f"{live_server.base_url}/chat-messages/x/stop",
        json={},
        headers=headers(live_server.keys["chat"]),
        timeout=10,
    )
    assert missing_user.status_code == 400 and missing_user.json()["code"] == "invalid_param"


def test_pings_only_after_idle_interval(tmp_path: Path) -> None:
    server = start_server(tmp_path / "ping", env={"SSE_PING_INTERVAL": "0.3"})
    try:
        body = {
            "query": "idle [[delay:0.8]] [[tokens:3]]",
            "inputs": {},
            "user": "pinger",
            "response_mode": "streaming",
        }
        stream = open_stream(server.base_url, server.keys["chat"], "/chat-messages", body, read_timeout=5)
        assert b"event: ping\n\n" in stream.raw
        assert_valid_stream(stream, "chat", ping_idle=0.3)
        names = [e["event"] for e in stream.events]
        assert names[-1] == "message_end" and "ping" in names
        # A ping never directly follows a frame that arrived less than the interval before it.
        for i, name in enumerate(names):
            if name == "ping" and i > 0:
                assert stream.times[i] - stream.times[i - 1] >= 0.25
        fast = open_stream(
            server.base_url, server.keys["chat"], "/chat-messages", {**body, "query": "fast"}, read_timeout=5
        )
        assert all(e["event"] != "ping" for e in fast.events)

    finally:
        server.stop()


def test_client_disconnect_does_not_lose_the_message(live_server: Any) -> None:
    body = {"query": "leave early [[delay:0.01]] [[tokens:80]]", "inputs": {}, "user": "leaver",
            "response_mode": "streaming"}  # fmt: skip
    with (
        httpx.Client(timeout=httpx.Timeout(10.0)) as client,
        client.stream("POST", live_server.base_url + "/chat-messages", json=body,
                      headers=headers(live_server.keys["chat"])) as resp,
    ):  # fmt: skip
        first = next(resp.iter_lines())
    cid = json.loads(first[6:])["conversation_id"]
    deadline = time.monotonic() + 10
    while True:
        params = {"user": "leaver", "conversation_id": cid}
        data = httpx.get(live_server.base_url + "/messages", params=params,
                         headers=headers(live_server.keys["chat"]), timeout=10).json()["data"]  # fmt: skip
        if data and data[0]["answer_tokens"] == 80:
            break
        assert time.monotonic() < deadline, data
        time.sleep(0.1)
    assert len(data[0]["answer"].split()) == 80 and data[0]["status"] == "normal"
