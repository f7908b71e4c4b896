"""The official Python SDK (PyPI `dify-client`, unmodified) against the live server."""

from __future__ import annotations

import json
from typing import Any

from dify_client import ChatClient, CompletionClient


def client(cls: Any, server: Any, mode: str) -> Any:
    c = cls(server.keys[mode])
    c.base_url = server.base_url
    return c


def test_chat_flow_with_the_python_sdk(live_server: Any) -> None:
    chat = client(ChatClient, live_server, "chat")
    blocking = chat.create_chat_message({"name": "Py"}, "Hello from the SDK", "sdk-py")
    assert blocking.status_code == 200, blocking.text
    first = blocking.json()
    cid = first["conversation_id"]
    assert "Hello from the SDK" in first["answer"]

    streamed = chat.create_chat_message(
        {}, "stream [[tokens:30]]", "sdk-py", response_mode="streaming", conversation_id=cid
    )
    events = []
    for line in streamed.iter_lines(decode_unicode=True):  # the README's consumer loop
        if line.startswith("data: "):
            events.append(json.loads(line[6:]))
    assert events[-1]["event"] == "message_end" and len(events) == 31

    history = chat.get_conversation_messages("sdk-py", conversation_id=cid, limit=10).json()
    assert [m["query"] for m in history["data"]] == ["Hello from the SDK", "stream [[tokens:30]]"]
    convs = chat.get_conversations("sdk-py", limit=5).json()
    assert convs["data"][0]["id"] == cid
    renamed = chat.rename_conversation(cid, "From Python", "sdk-py").json()
    assert renamed["name"] == "From Python"
    assert chat.message_feedback(first["id"], "like", "sdk-py").json() == {"result": "success"}

    upload = chat.file_upload("sdk-py", {"file": ("note.txt", b"hello", "text/plain")})
    assert upload.status_code == 201 and upload.json()["name"] == "note.txt"
    stop = chat._send_request("POST", f"/chat-messages/{first['task_id']}/stop", {"user": "sdk-py"})
    assert stop.json() == {"result": "success"}
    params = chat.get_application_parameters("sdk-py")
    assert params.status_code == 200


def test_completion_with_the_python_sdk(live_server: Any) -> None:
    completion = client(CompletionClient, live_server, "completion")
    resp = completion.create_completion_message({"query": "otters"}, "blocking", "sdk-py")
    assert resp.status_code == 200 and "otters" in resp.json()["answer"]
    streamed = completion.create_completion_message({"query": "otters"}, "streaming", "sdk-py")
    lines = [json.loads(ln[6:]) for ln in streamed.iter_lines(decode_unicode=True) if ln.startswith("data: ")]
    assert lines[-1]["event"] == "message_end"
    assert "".join(e.get("answer", "") for e in lines if e["event"] == "message") == resp.json()["answer"]
