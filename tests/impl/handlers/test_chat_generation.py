"""POST /chat-messages and /completion-messages against the live demo server."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sse_client import assert_valid_stream, headers, open_stream

BLOCKING_CHAT_FIELDS = {
    "event",
    "task_id",
    "id",
    "message_id",
    "conversation_id",
    "mode",
    "answer",
    "metadata",
    "created_at",
}


def post(server: Any, mode: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.base_url + path, json=body, headers=headers(server.keys[mode]), timeout=10)


def chat(server: Any, user: str, query: str = "Hello there", **extra: Any) -> httpx.Response:
    body = {"query": query, "inputs": {}, "user": user, "response_mode": "blocking", **extra}
    return post(server, "chat", "/chat-messages", body)


def messages(server: Any, user: str, conversation_id: str, **params: Any) -> httpx.Response:
    return httpx.get(
        server.base_url + "/messages",
        params={"user": user, "conversation_id": conversation_id, **params},
        headers=headers(server.keys["chat"]),
        timeout=10,
    )


def test_blocking_chat_has_exact_fields_and_usage(live_server: Any) -> None:
    resp = chat(live_server, "gen-a", inputs={"name": "Ann"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == BLOCKING_CHAT_FIELDS
    assert body["event"] == "message" and body["mode"] == "chat"
    assert body["id"] == body["message_id"]
    assert "Hello there" in body["answer"] and "Ann" in body["answer"]
    usage = body["metadata"]["usage"]
    assert usage["completion_tokens"] == len(body["answer"].split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert isinstance(body["created_at"], int)


def test_streaming_chat_framing_grammar_and_persistence(live_server: Any) -> None:
    stream = open_stream(
        live_server.base_url,
        live_server.keys["chat"],
        "/chat-messages",
        {"query": "stream me [[tokens:60]]", "inputs": {}, "user": "gen-b", "response_mode": "streaming"},
    )
    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["x-accel-buffering"] == "no"
    assert_valid_stream(stream, "chat")
    events = stream.data_events
    assert [e["event"] for e in events] == ["message"] * 60 + ["message_end"]
    first = events[0]
    assert {first["task_id"], first["message_id"], first["conversation_id"]} == {
        events[-1]["task_id"],
        events[-1]["id"],
        events[-1]["conversation_id"],
    }
    assert not any(e["event"] == "ping" for e in stream.events)
    stored = messages(live_server, "gen-b", first["conversation_id"]).json()["data"]
    assert len(stored) == 1 and stored[0]["answer"] == stream.answer
    assert stored[0]["answer_tokens"] == 60 and stored[0]["status"] == "normal"


def test_conversation_continues_and_keeps_first_inputs(live_server: Any) -> None:
    first = chat(live_server, "gen-c", query="first", inputs={"name": "Zed"}).json()
    cid = first["conversation_id"]
    second = chat(live_server, "gen-c", query="second", inputs={"name": "Other"}, conversation_id=cid).json()
    assert second["conversation_id"] == cid
    assert "1 earlier message" in second["answer"]  # the history reached the model
    assert "Zed" in second["answer"] and "Other" not in second["answer"]
    data = messages(live_server, "gen-c", cid).json()["data"]
    assert [m["query"] for m in data] == ["first", "second"]
    assert data[1]["parent_message_id"] == data[0]["id"]
    assert all(m["inputs"] == {"name": "Zed"} for m in data)


def test_auto_generated_name_and_opt_out(live_server: Any) -> None:
    named = chat(live_server, "gen-d", query="How do I bake sourdough bread at home").json()
    plain = chat(live_server, "gen-d", query="Keep default", auto_generate_name=False).json()
    convs = httpx.get(
        live_server.base_url + "/conversations",
        params={"user": "gen-d"},
        headers=headers(live_server.keys["chat"]),
        timeout=10,
    ).json()["data"]
    names = {c["id"]: c["name"] for c in convs}
    assert names[named["conversation_id"]] == "How do I bake sourdough bread"
    assert names[plain["conversation_id"]] == "New conversation"
    assert all(c["introduction"] == "Hello! Ask me anything." for c in convs)


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"query": "", "inputs": {}}, 400, "invalid_param", None),
        (
            {"query": "x", "inputs": {"name": 5}},
            400,
            "invalid_param",
            "(type 'text-input') name in input form must be a string",
        ),
        (
            {"query": "x", "inputs": {"name": "y" * 49}},
            400,
            "invalid_param",
            "name in input form must be less than 48 characters",
        ),
        (
            {"query": "x", "inputs": {}, "conversation_id": str(uuid.uuid4())},
            404,
            "not_found",
            "Conversation Not Exists.",
        ),
        ({"query": "x", "inputs": {}, "conversation_id": "not-a-uuid"}, 400, "invalid_param", None),
        ({"query": "x", "inputs": {}, "user": ""}, 400, "invalid_param", None),
    ],
)
def test_chat_rejections(
    live_server: Any, body: dict[str, Any], status: int, code: str, message: str | None
) -> None:
    resp = post(live_server, "chat", "/chat-messages", {"user": "gen-e", **body})
    assert resp.status_code == status, resp.text
    got = resp.json()
    assert got["code"] == code and got["status"] == status and got["message"]
    if message is not None:
        assert got["message"] == message


def test_other_users_conversation_is_not_found(live_server: Any) -> None:
    cid = chat(live_server, "owner-1").json()["conversation_id"]
    resp = chat(live_server, "intruder-1", conversation_id=cid)
    assert resp.status_code == 404 and resp.json()["message"] == "Conversation Not Exists."
    assert messages(live_server, "intruder-1", cid).status_code == 404


def test_completion_blocking_and_streaming(live_server: Any) -> None:
    body = {
        "inputs": {"query": "tide pools", "tone": "cheerful"},
        "user": "gen-f",
        "response_mode": "blocking",
    }
    resp = post(live_server, "completion", "/completion-messages", body)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert set(data) == BLOCKING_CHAT_FIELDS - {"conversation_id"}
    assert data["mode"] == "completion" and "tide pools" in data["answer"] and "cheerful" in data["answer"]
    stream = open_stream(
        live_server.base_url,
        live_server.keys["completion"],
        "/completion-messages",
        {**body, "response_mode": "streaming"},
    )
    assert_valid_stream(stream, "completion")
    assert all("conversation_id" not in e for e in stream.events)
    assert stream.answer == data["answer"]
    missing = post(live_server, "completion", "/completion-messages", {"inputs": {}, "user": "gen-f"})
    assert missing.json() == {
        "code": "invalid_param",
        "message": "query is required in input form",
        "status": 400,
    }
    wrong = post(
        live_server,
        "completion",
        "/completion-messages",
        {"inputs": {"query": "a", "tone": "angry"}, "user": "gen-f"},
    )
    assert wrong.status_code == 400 and "must be one of the following" in wrong.json()["message"]


def test_mode_gates(live_server: Any) -> None:
    resp = post(live_server, "completion", "/chat-messages", {"query": "x", "inputs": {}, "user": "u"})
    assert resp.status_code == 400 and resp.json()["code"] == "not_chat_app"
    resp = post(live_server, "chat", "/completion-messages", {"inputs": {}, "user": "u"})
    assert resp.status_code == 400 and resp.json()["code"] == "app_unavailable"


def test_provider_error_before_output(live_server: Any) -> None:
    resp = chat(live_server, "gen-g", query="boom [[fail:provider_quota_exceeded]]")
    assert resp.status_code == 400
    assert resp.json()["code"] == "provider_quota_exceeded"
    rate = chat(live_server, "gen-g", query="boom [[fail:rate_limit_error]]")
    assert rate.status_code == 429 and rate.json()["code"] == "rate_limit_error"
    stream = open_stream(
        live_server.base_url,
        live_server.keys["chat"],
        "/chat-messages",
        {
            "query": "boom [[fail:completion_request_error]]",
            "inputs": {},
            "user": "gen-g",
            "response_mode": "streaming",
        },
    )
    assert_valid_stream(stream, "chat")
    assert [e["event"] for e in stream.events] == ["error"]
    err = stream.events[0]
    assert err["code"] == "completion_request_error" and err["status"] == 400 and err["task_id"]


def test_provider_error_after_output_is_terminal_and_recorded(live_server: Any) -> None:
    stream = open_stream(
        live_server.base_url,
        live_server.keys["chat"],
        "/chat-messages",
        {
            "query": "partial [[fail-after:4:completion_request_error]]",
            "inputs": {},
            "user": "gen-h",
            "response_mode": "streaming",
        },
    )
    assert_valid_stream(stream, "chat")
    names = [e["event"] for e in stream.events]
    assert names == ["message"] * 4 + ["error"]
    cid = stream.events[0]["conversation_id"]
    stored = messages(live_server, "gen-h", cid).json()["data"][0]
    assert stored["status"] == "error" and stored["error"] and stored["answer"] == stream.answer


def test_trace_id_is_logged(live_server: Any) -> None:
    resp = httpx.post(
        live_server.base_url + "/chat-messages?trace_id=from-query",
        json={"query": "trace", "inputs": {}, "user": "gen-i", "trace_id": "from-body"},
        headers={**headers(live_server.keys["chat"]), "X-Trace-Id": "trace-header-123"},
        timeout=10,
    )
    assert resp.status_code == 200
    bad = httpx.post(
        live_server.base_url + "/chat-messages",
        json={"query": "trace", "inputs": {}, "user": "gen-i", "trace_id": "ok-body"},
        headers={**headers(live_server.keys["chat"]), "X-Trace-Id": "bad id!"},
        timeout=10,
    )
    assert bad.status_code == 200
    log = live_server.log()
    assert f"task={resp.json()['task_id']}" in log
    line = next(ln for ln in log.splitlines() if resp.json()["task_id"] in ln and "trace_id=" in ln)
    assert line.endswith("trace_id=trace-header-123")
    bad_line = next(ln for ln in log.splitlines() if bad.json()["task_id"] in ln and "trace_id=" in ln)
    assert bad_line.endswith("trace_id=None")


def test_files_dropped_when_feature_off_and_validated_when_on(live_server: Any) -> None:
    remote = {"type": "image", "transfer_method": "remote_url", "url": "https://example.com/cat.png"}
    resp = post(
        live_server,
        "completion",
        "/completion-messages",
        {"inputs": {"query": "x"}, "user": "gen-j", "files": [remote]},
    )
    assert resp.status_code == 200  # completion demo app has file upload off: silently dropped
    ok = chat(live_server, "gen-j", query="see", files=[remote]).json()
    assert "I received 1 image" in ok["answer"]
    stored = messages(live_server, "gen-j", ok["conversation_id"]).json()["data"][0]["message_files"]
    assert stored[0]["url"] == remote["url"] and stored[0]["belongs_to"] == "user"
    bad = chat(
        live_server,
        "gen-j",
        files=[{"type": "image", "transfer_method": "local_file", "upload_file_id": "nope"}],
    )
    assert bad.status_code == 400 and bad.json()["message"] == "Invalid upload file id format"
    too_many = chat(live_server, "gen-j", files=[remote] * 4)
    assert too_many.status_code == 400 and "maximum limit 3" in too_many.json()["message"]
    null_files = chat(live_server, "gen-j", files=None)
    assert null_files.status_code == 200
