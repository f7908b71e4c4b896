"""/info, /parameters, /meta, /site and /end-users on the live server, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
import pytest
from extras_apps import client, dsl, install
from support.server import LiveServer

TIMEOUT = 10.0


def _get(server: LiveServer, path: str, mode: str = "chat", **params: str) -> httpx.Response:
    return httpx.get(
        server.base_url + path,
        params=params,
        headers={"Authorization": f"Bearer {server.keys[mode]}"},
        timeout=TIMEOUT,
    )


def test_info(any_server: LiveServer) -> None:
    resp = _get(any_server, "/info")
    assert resp.status_code == 200
    assert resp.json() == {
        "name": "Demo Chat",
        "description": "A friendly assistant that answers questions and remembers the conversation.",
        "tags": [],
        "mode": "chat",
        "author_name": "",
    }
    assert _get(any_server, "/info", "completion").json()["mode"] == "completion"


def test_parameters_of_the_chat_app(any_server: LiveServer) -> None:
    # A fresh copy of the demo chat app: the shared one's annotation reply is switched by the
    # conformance suite's fuzzing of the enable/disable operation earlier in the session.
    key = install(any_server, dsl("chat.yml"))
    with client(any_server, key) as c:
        body = c.get("/parameters").json()
    assert body["opening_statement"] == "Hello! Ask me anything."
    assert body["suggested_questions"] == ["What can you do?", "Tell me a fun fact."]
    assert body["suggested_questions_after_answer"] == {"enabled": True}
    assert body["speech_to_text"] == {"enabled": False}
    assert body["retriever_resource"] == {"enabled": True}
    assert body["annotation_reply"] == {"enabled": False}
    assert body["file_upload"]["image"]["enabled"] is True
    assert body["user_input_form"] == [
        {
            "text-input": {
                "default": "",
                "label": "Your name",
                "max_length": 48,
                "required": False,
                "variable": "name",
            }
        }
    ]
    assert body["system_parameters"] == {
        "file_size_limit": 15,
        "image_file_size_limit": 10,
        "audio_file_size_limit": 50,
        "video_file_size_limit": 100,
        "workflow_file_upload_limit": 10,
    }


def test_parameters_of_the_completion_app(any_server: LiveServer) -> None:
    body = _get(any_server, "/parameters", "completion").json()
    assert body["more_like_this"] == {"enabled": True}
    assert body["opening_statement"] == ""
    assert [next(iter(item)) for item in body["user_input_form"]] == ["paragraph", "select"]
    assert body["user_input_form"][0]["paragraph"]["variable"] == "query"
    assert body["user_input_form"][1]["select"]["options"] == ["neutral", "cheerful", "formal"]


def test_parameters_ignore_user_and_unknown_query(any_server: LiveServer) -> None:
    assert _get(any_server, "/parameters", user="someone", unknown="1").status_code == 200


def test_meta(any_server: LiveServer) -> None:
    resp = _get(any_server, "/meta")
    assert resp.status_code == 200
    assert resp.json() == {"tool_icons": {}}


def test_site(any_server: LiveServer) -> None:
    body = _get(any_server, "/site").json()
    assert body["title"] == "Demo Chat"
    assert body["icon_type"] == "emoji"
    assert body["icon"] == "\U0001f916"
    assert body["icon_background"] == "#FFEAD5"
    assert body["use_icon_as_answer_icon"] is False
    assert body["description"].startswith("A friendly assistant")


def test_end_user_after_a_chat(any_server: LiveServer) -> None:
    """A chat creates the end user; /end-users/{id} returns it with ISO timestamps."""
    user = f"user-{uuid.uuid4().hex[:8]}"
    chat = httpx.post(
        any_server.base_url + "/chat-messages",
        json={"query": "hello", "inputs": {}, "user": user, "response_mode": "blocking"},
        headers={"Authorization": f"Bearer {any_server.keys['chat']}"},
        timeout=TIMEOUT,
    )
    assert chat.status_code == 200, chat.text
    conversations = _get(any_server, "/conversations", user=user).json()["data"]
    assert len(conversations) == 1
    messages = _get(any_server, "/messages", conversation_id=conversations[0]["id"], user=user).json()["data"]
    assert messages
    # The end user id is what feedback lists as from_end_user_id; fetch it via the app's feedbacks.
    message_id = messages[0]["id"]
    fb = httpx.post(
        any_server.base_url + f"/messages/{message_id}/feedbacks",
        json={"rating": "like", "user": user},
        headers={"Authorization": f"Bearer {any_server.keys['chat']}"},
        timeout=TIMEOUT,
    )
    assert fb.status_code == 200, fb.text
    feedbacks = _get(any_server, "/app/feedbacks", limit="101").json()["data"]
    end_user_id = next(f["from_end_user_id"] for f in feedbacks if f["message_id"] == message_id)
    resp = _get(any_server, f"/end-users/{end_user_id}")
    assert resp.status_code == 200
    body = resp.json()
    assert body["id"] == end_user_id
    assert body["session_id"] == user and body["external_user_id"] == user
    assert body["type"] == "service-api"
    assert body["is_anonymous"] is False
    assert body["created_at"].endswith("Z") and "T" in body["created_at"]


@pytest.mark.parametrize("end_user_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_end_user(any_server: LiveServer, end_user_id: str) -> None:
    """Unknown ids and malformed ones alike: 404 end_user_not_found (format uuid is not enforced)."""
    resp = _get(any_server, f"/end-users/{end_user_id}")
    assert resp.json() == {"code": "end_user_not_found", "message": "End user not found.", "status": 404}
