"""The official Python SDK (PyPI `dify-client`, unmodified) with an agent-chat app.

The SDK (0.1.x) has no audio or annotation calls; its chat calls are what agent apps use."""

from __future__ import annotations

import json
from typing import Any

from dify_client import ChatClient


def test_agent_chat_with_the_python_sdk(live_server: Any) -> None:
    chat = ChatClient(live_server.keys["agent-chat"])
    chat.base_url = live_server.base_url
    refused = chat.create_chat_message({}, "What is 6 * 7?", "sdk-agent")  # the SDK's default: blocking
    assert refused.status_code == 400
    assert refused.json()["message"] == "Agent Chat App does not support blocking mode"

    streamed = chat.create_chat_message({}, "What is 6 * 7?", "sdk-agent", response_mode="streaming")
    events = []
    for line in streamed.iter_lines(decode_unicode=True):  # the README's consumer loop
        if line.startswith("data: "):
            events.append(json.loads(line[6:]))
    names = [e["event"] for e in events]
    assert names[0] == "agent_thought" and names[-1] == "message_end"
    answer = "".join(e["answer"] for e in events if e["event"] == "agent_message")
    assert "42" in answer

    cid = events[-1]["conversation_id"]
    history = chat.get_conversation_messages("sdk-agent", conversation_id=cid).json()
    thoughts = history["data"][0]["agent_thoughts"]
    assert [t["tool"] for t in thoughts] == ["calculator", ""]
    params = chat.get_application_parameters("sdk-agent").json()
    assert params["opening_statement"].startswith("I can tell the time")
