"""Annotations and annotation reply on the live server (response validation on)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from extras_apps import check_stream, client, dsl, install, stream_events
from support.server import LiveServer

REPLY = {
    "score_threshold": 0.8,
    "embedding_provider_name": "openai",
    "embedding_model_name": "text-embedding-3-small",
}


@pytest.fixture
def http(any_server: LiveServer) -> Any:
    """A fresh chat app on the SQLite and on the PostgreSQL server."""
    with client(any_server, install(any_server, dsl("chat.yml"))) as c:
        yield c


def _create(http: httpx.Client, question: str, answer: str) -> dict[str, Any]:
    resp = http.post("/apps/annotations", json={"question": question, "answer": answer})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _job(http: httpx.Client, action: str, settings: dict[str, Any] = REPLY) -> dict[str, Any]:
    resp = http.post(f"/apps/annotation-reply/{action}", json=settings)
    assert resp.status_code == 200, resp.text
    job: dict[str, Any] = resp.json()
    assert job["job_status"] in ("waiting", "processing")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = http.get(f"/apps/annotation-reply/{action}/status/{job['job_id']}").json()
        assert status["job_id"] == job["job_id"]
        if status["job_status"] in ("completed", "error"):
            return dict(status)
        time.sleep(0.05)
    raise AssertionError("the annotation reply job did not finish")


def test_create_list_update_delete(http: httpx.Client) -> None:
    first = _create(http, "Is the tram to Belém accessible?", "Yes, line 15E has low floors.")
    assert first["hit_count"] == 0 and isinstance(first["created_at"], int)
    uuid.UUID(first["id"])
    for i in range(4):
        _create(http, f"Question {i} about ferries", f"Answer {i}")
    page = http.get("/apps/annotations", params={"page": 1, "limit": 2}).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["page"] == 1 and page["has_more"] is True
    assert [a["question"] for a in page["data"]] == ["Question 3 about ferries", "Question 2 about ferries"]
    last = http.get("/apps/annotations", params={"page": 3, "limit": 2}).json()
    assert last["has_more"] is False and [a["id"] for a in last["data"]] == [first["id"]]
    found = http.get("/apps/annotations", params={"keyword": "low floors"}).json()
    assert found["total"] == 1 and found["data"][0]["id"] == first["id"]
    assert http.get("/apps/annotations", params={"keyword": "100%_"}).json()["total"] == 0
    everything = http.get("/apps/annotations", params={"limit": 10**19}).json()
    assert len(everything["data"]) == 5 and everything["has_more"] is False
    far = http.get("/apps/annotations", params={"page": 10**18, "limit": 100})
    assert far.status_code == 200 and far.json()["data"] == [] and far.json()["has_more"] is False

    changed = http.put(
        f"/apps/annotations/{first['id']}", json={"question": "Tram 15E step-free?", "answer": "Yes."}
    )
    assert changed.status_code == 200
    assert changed.json() | {} == {**first, "question": "Tram 15E step-free?", "answer": "Yes."}
    deleted = http.delete(f"/apps/annotations/{first['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    again = http.delete(f"/apps/annotations/{first['id']}")
    assert again.status_code == 404 and again.json() == {
        "code": "not_found",
        "message": "Annotation not found",
        "status": 404,
    }
    assert http.get("/apps/annotations").json()["total"] == 4


def test_annotations_are_per_app(live_server: LiveServer, http: httpx.Client) -> None:
    mine = _create(http, "Mine?", "Yes")
    with client(live_server, install(live_server, dsl("chat.yml"))) as other:
        assert other.get("/apps/annotations").json()["total"] == 0
        resp = other.put(f"/apps/annotations/{mine['id']}", json={"question": "x", "answer": "y"})
        assert resp.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/apps/annotations", {"question": "q"}, 400, "invalid_param"),
        ("POST", "/apps/annotations", {"question": 1, "answer": "a"}, 400, "invalid_param"),
        ("PUT", f"/apps/annotations/{uuid.uuid4()}", {"question": "q", "answer": "a"}, 404, "not_found"),
        ("PUT", "/apps/annotations/not-a-uuid", {"question": "q", "answer": "a"}, 404, "not_found"),
        ("DELETE", "/apps/annotations/not-a-uuid", None, 404, "not_found"),
        ("GET", "/apps/annotations?page=0", None, 400, "invalid_param"),
        ("GET", "/apps/annotations?limit=abc", None, 400, "invalid_param"),
        (
            "POST",
            "/apps/annotation-reply/enable",
            {"score_threshold": 2, **{k: v for k, v in REPLY.items() if k != "score_threshold"}},
            400,
            "invalid_param",
        ),
        ("POST", "/apps/annotation-reply/enable", {"score_threshold": 0.5}, 400, "invalid_param"),
        ("POST", "/apps/annotation-reply/sideways", REPLY, 400, "invalid_param"),
        ("GET", f"/apps/annotation-reply/enable/status/{uuid.uuid4()}", None, 400, "invalid_param"),
        ("GET", "/apps/annotation-reply/enable/status/nope", None, 400, "invalid_param"),
    ],
)
def test_bad_requests(http: httpx.Client, method: str, path: str, body: Any, status: int, code: str) -> None:
    resp = http.request(method, path, json=body)
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code and resp.json()["status"] == status


def test_not_json_is_415(http: httpx.Client) -> None:
    resp = http.post("/apps/annotations", content=b"question=q", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415 and resp.json()["code"] == "unsupported_media_type"


def test_job_of_the_other_action_is_unknown(http: httpx.Client) -> None:
    job = _job(http, "enable")
    assert job["job_status"] == "completed" and job["error_msg"] == ""
    resp = http.get(f"/apps/annotation-reply/disable/status/{job['job_id']}")
    assert resp.status_code == 400 and resp.json()["message"] == "The job does not exist."


def test_reply_from_annotation_blocking_and_streaming(http: httpx.Client) -> None:
    note = _create(http, "Is the tram to Belém accessible?", "Yes, line 15E has low floors.")
    body = {"inputs": {}, "query": "is the tram to Belem accessible", "user": "ann-user"}
    before = http.post("/chat-messages", json={**body, "response_mode": "blocking"}).json()
    assert before["answer"] != note["answer"]  # reply is off: the model answers
    assert _job(http, "enable")["job_status"] == "completed"

    blocking = http.post("/chat-messages", json={**body, "response_mode": "blocking"})
    assert blocking.status_code == 200, blocking.text
    reply = blocking.json()
    assert reply["answer"] == note["answer"]
    assert reply["metadata"]["annotation_reply"]["id"] == note["id"]
    assert reply["metadata"]["usage"]["total_tokens"] == 0

    events = stream_events(http, body)
    check_stream("chat", events)
    assert [e["event"] for e in events] == ["message", "message_end"]
    assert events[0]["answer"] == note["answer"]
    assert events[1]["metadata"]["annotation_reply"]["id"] == note["id"]

    other = http.post(
        "/chat-messages", json={**body, "query": "What is the weather?", "response_mode": "blocking"}
    )
    assert "annotation_reply" not in other.json()["metadata"]
    listed = http.get("/apps/annotations").json()["data"][0]
    assert listed["id"] == note["id"] and listed["hit_count"] == 2

    history = http.get(
        "/messages", params={"conversation_id": reply["conversation_id"], "user": "ann-user"}
    ).json()
    assert history["data"][0]["answer"] == note["answer"]

    assert http.get("/parameters").json()["annotation_reply"] == {"enabled": True}
    assert _job(http, "disable")["job_status"] == "completed"
    assert http.get("/parameters").json()["annotation_reply"] == {"enabled": False}
    off = http.post("/chat-messages", json={**body, "response_mode": "blocking"}).json()
    assert off["answer"] != note["answer"]


def test_threshold_decides(http: httpx.Client) -> None:
    _create(http, "How much is a day ticket for the metro?", "6.80 euros.")
    _job(http, "enable", {**REPLY, "score_threshold": 1.0})
    loose = {
        "inputs": {},
        "query": "How much is a metro day ticket?",
        "user": "u",
        "response_mode": "blocking",
    }
    assert http.post("/chat-messages", json=loose).json()["answer"] != "6.80 euros."
    _job(http, "enable", {**REPLY, "score_threshold": 0.5})
    assert http.post("/chat-messages", json=loose).json()["answer"] == "6.80 euros."


def test_dsl_feature_switches_reply_on(live_server: LiveServer) -> None:
    key = install(live_server, dsl("chat.yml", annotation_reply={"enabled": True, "score_threshold": 0.7}))
    with client(live_server, key) as http:
        _create(http, "Where is the ferry terminal?", "Cais do Sodré.")
        resp = http.post(
            "/chat-messages",
            json={
                "inputs": {},
                "query": "where is the ferry terminal",
                "user": "u",
                "response_mode": "blocking",
            },
        )
        assert resp.json()["answer"] == "Cais do Sodré."
