"""Request shapes where Dify's answer is more specific than a generic validation error."""

from __future__ import annotations

import uuid

import httpx
from support.server import LiveServer


def _auth(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.keys['chat']}"}


def test_upload_without_a_file_part(live_server: LiveServer) -> None:
    r = httpx.post(
        live_server.base_url + "/files/upload",
        headers=_auth(live_server),
        files={"user": (None, "shape-user")},
        timeout=10,
    )
    assert r.status_code == 400
    assert r.json() == {"code": "no_file_uploaded", "message": "Please upload your file.", "status": 400}


def test_upload_with_two_file_parts(live_server: LiveServer) -> None:
    files = [
        ("file", ("a.txt", b"one", "text/plain")),
        ("file", ("b.txt", b"two", "text/plain")),
        ("user", (None, "shape-user")),
    ]
    r = httpx.post(
        live_server.base_url + "/files/upload", headers=_auth(live_server), files=files, timeout=10
    )
    assert r.status_code == 400
    assert r.json()["code"] == "too_many_files"


def test_delete_conversation_without_any_body(live_server: LiveServer) -> None:
    headers = _auth(live_server)
    chat = {"query": "hello", "inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "DEFAULT-USER"}
    created = httpx.post(live_server.base_url + "/chat-messages", headers=headers, json=chat, timeout=30)
    assert created.status_code == 200, created.text
    conversation = created.json()["conversation_id"]
    r = httpx.delete(f"{live_server.base_url}/conversations/{conversation}", headers=headers, timeout=10)
    assert r.status_code == 204, r.text
    again = httpx.delete(f"{live_server.base_url}/conversations/{conversation}", headers=headers, timeout=10)
    assert again.status_code == 404 and again.json()["code"] == "not_found"
    unknown = httpx.delete(
        f"{live_server.base_url}/conversations/{uuid.uuid4()}", headers=headers, timeout=10
    )
    assert unknown.status_code == 404
