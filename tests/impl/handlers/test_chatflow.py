"""Advanced-chat (chatflow) apps on a live server: streaming and blocking turns, memory,
conversation variables, messages and conversations, stop, failure, files, human input, the SDK."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dify_client import ChatClient, DifyClient
from support.server import LiveServer

from impl.providers import BuiltinModel, ModelRequest, PromptMessage, collect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
import live_workflows as lw


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with lw.workflow_server(tmp_path_factory.mktemp("chatflow-live")) as live:
        yield live


@pytest.fixture(scope="module")
def memory_key(server: LiveServer) -> str:
    return lw.install(server, lw.example_text("chatflow-memory.yml"))[0]


def builtin(*messages: tuple[str, str]) -> str:
    prompt = tuple(PromptMessage(role, text) for role, text in messages)  # type: ignore[arg-type]
    text, _usage = asyncio.run(collect(BuiltinModel(), ModelRequest(messages=prompt)))
    return text


def chat(server: LiveServer, key: str, query: str, **extra: Any) -> list[dict[str, Any]]:
    body = {"inputs": extra.pop("inputs", {}), "query": query, "user": extra.pop("user", "carol")}
    body.update(extra, response_mode="streaming")
    return lw.stream(server, key, "/chat-messages", body)


def test_demo_chatflow_streams_in_grammar_order(server: LiveServer) -> None:
    key = server.keys["advanced-chat"]
    events = chat(server, key, "hello there", inputs={"language": "French"})
    assert lw.check_stream(events, "advanced-chat") == ["normal"]
    names = lw.names(events)
    assert names[0] == "workflow_started" and names[-2:] == ["workflow_finished", "message_end"]
    answer = "".join(e["answer"] for e in events if e["event"] == "message")
    assert answer == builtin(("system", "Answer in French when it is set."), ("user", "hello there"))
    llm_done = names.index("node_finished", names.index("message"))
    assert names.index("message") < llm_done, "answer tokens stream while the LLM node runs"
    ids = {(e["conversation_id"], e["message_id"]) for e in events}
    assert len(ids) == 1 and events[-1]["id"] == events[-1]["message_id"]
    assert events[-2]["data"]["outputs"] == {"answer": answer}
    with lw.client(server, key) as c:
        blocking = c.post(
            "/chat-messages", json={"inputs": {}, "query": "hi", "user": "carol", "response_mode": "blocking"}
        ).json()
        assert blocking["mode"] == "advanced-chat" and blocking["event"] == "message"
        assert blocking["answer"] == builtin(("system", "Answer in  when it is set."), ("user", "hi"))
        assert blocking["metadata"]["usage"]["total_tokens"] > 0
        run = c.get(f"/workflows/run/{events[0]['workflow_run_id']}").json()
        assert run["status"] == "succeeded" and run["outputs"] == {"answer": answer}
        logs = c.get("/workflows/logs").json()
        assert logs["total"] == 2


def test_memory_and_conversation_variables(server: LiveServer, memory_key: str) -> None:
    first = chat(server, memory_key, "what is a heron", inputs={"tone": "warm"})
    assert lw.check_stream(first, "advanced-chat") == ["normal"]
    reply1 = builtin(("system", "Tone warm."), ("user", "what is a heron"))
    answer1 = "".join(e["answer"] for e in first if e["event"] == "message")
    assert answer1 == f"Turn 1: {reply1}"
    cid = first[0]["conversation_id"]
    second = chat(server, memory_key, "and a stork", conversation_id=cid, inputs={"tone": "plain"})
    answer2 = "".join(e["answer"] for e in second if e["event"] == "message")
    expected2 = builtin(
        ("system", "Tone warm."), ("user", "what is a heron"), ("assistant", answer1), ("user", "and a stork")
    )
    assert answer2 == f"Turn 2: {expected2}" and "We have exchanged 1 earlier message." in answer2
    with lw.client(server, memory_key) as c:
        page = c.get(f"/conversations/{cid}/variables", params={"user": "carol"}).json()
        by_name = {v["name"]: v for v in page["data"]}
        assert by_name["turns"]["value"] == "2" and by_name["turns"]["value_type"] == "number"
        assert json.loads(by_name["topics"]["value"]) == ["what is a heron", "and a stork"]
        assert [v["name"] for v in page["data"]] == ["turns", "topics", "profile"] and page[
            "has_more"
        ] is False
        one = c.get(f"/conversations/{cid}/variables", params={"user": "carol", "limit": 1}).json()
        assert one["has_more"] is True and len(one["data"]) == 1
        rest = c.get(
            f"/conversations/{cid}/variables", params={"user": "carol", "last_id": one["data"][0]["id"]}
        ).json()
        assert [v["name"] for v in rest["data"]] == ["topics", "profile"]
        named = c.get(
            f"/conversations/{cid}/variables", params={"user": "carol", "variable_name": "topic"}
        ).json()
        assert [v["name"] for v in named["data"]] == ["topics"]
        turns_id = by_name["turns"]["id"]
        url = f"/conversations/{cid}/variables/{turns_id}"
        updated = c.put(url, json={"value": 10, "user": "carol"})
        assert updated.status_code == 200 and updated.json()["value"] == "10"
        mismatch = c.put(url, json={"value": "ten", "user": "carol"})
        assert mismatch.status_code == 400
        assert mismatch.json() == {
            "code": "bad_request",
            "message": "Type mismatch: variable 'turns' expects number, but got str type",
            "status": 400,
        }
        assert c.put(url, json={"value": True, "user": "carol"}).status_code == 400
        profile = f"/conversations/{cid}/variables/{by_name['profile']['id']}"
        assert c.put(profile, json={"value": [1], "user": "carol"}).status_code == 400
        assert json.loads(c.put(profile, json={"value": {"a": 1}, "user": "carol"}).json()["value"]) == {
            "a": 1
        }
        unknown = c.put(
            f"/conversations/{cid}/variables/00000000-0000-4000-8000-000000000000",
            json={"value": 1, "user": "carol"},
        )
        assert unknown.status_code == 404 and unknown.json()["message"] == "Conversation Variable Not Exists."
        other_user = c.get(f"/conversations/{cid}/variables", params={"user": "dave"})
        assert other_user.status_code == 404
        third = c.post(
            "/chat-messages", json={"inputs": {}, "query": "x", "user": "carol", "conversation_id": cid}
        ).json()
        assert third["answer"].startswith("Turn 11: ")
        history = c.get("/messages", params={"conversation_id": cid, "user": "carol"}).json()
        assert [m["query"] for m in history["data"]] == ["what is a heron", "and a stork", "x"]
        assert history["data"][0]["answer"] == answer1
        conversations = c.get("/conversations", params={"user": "carol"}).json()
        assert conversations["data"][0]["id"] == cid and conversations["data"][0]["name"] == "what is a heron"
        suggested = c.get(f"/messages/{third['message_id']}/suggested", params={"user": "carol"}).json()
        assert suggested["result"] == "success" and len(suggested["data"]) == 3


def test_files_reach_sys_files_and_vision(server: LiveServer, memory_key: str) -> None:
    image = {"type": "image", "transfer_method": "remote_url", "url": "https://example.com/heron.png"}
    events = chat(server, memory_key, "look", files=[image])
    lw.check_stream(events, "advanced-chat")
    answer = "".join(e["answer"] for e in events if e["event"] == "message")
    assert "I received 1 image." in answer
    start = [e for e in events if e["event"] == "node_finished" and e["data"]["node_id"] == "start"][0]
    (file,) = start["data"]["outputs"]["sys.files"]
    assert file["type"] == "image" and file["transfer_method"] == "remote_url"
    assert file["remote_url"] == "https://example.com/heron.png" and file["filename"] == "heron.png"
    with lw.client(server, memory_key) as c:
        too_many = c.post(
            "/chat-messages",
            json={"inputs": {}, "query": "q", "user": "carol", "files": [image, image, image]},
        )
        assert too_many.status_code == 400 and too_many.json()["code"] == "invalid_param"


def _variant(**llm_params: Any) -> str:
    doc = yaml.safe_load(lw.example_text("advanced-chat.yml"))
    doc["workflow"]["graph"]["nodes"][1]["data"]["model"]["completion_params"] = llm_params
    doc["workflow"]["features"]["suggested_questions_after_answer"] = {"enabled": False}
    return yaml.safe_dump(doc)


def test_stop_ends_with_workflow_finished_then_message_end(server: LiveServer) -> None:
    key = lw.install(server, _variant(token_delay=0.04, reply_tokens=60))[0]
    stopped: list[str] = []

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "message" and not stopped:
            stopped.append(event["task_id"])
            with lw.client(server, key) as c:
                c.post(f"/chat-messages/{event['task_id']}/stop", json={"user": "carol"})

    body = {"inputs": {}, "query": "long one", "user": "carol", "response_mode": "streaming"}
    events = lw.stream(server, key, "/chat-messages", body, on_event=on_event)
    assert lw.check_stream(events, "advanced-chat") == ["stopped"]
    assert "answer" not in lw.node_ids(events)
    with lw.client(server, key) as c:
        messages = c.get(
            "/messages", params={"conversation_id": events[0]["conversation_id"], "user": "carol"}
        )
        stored = messages.json()["data"][0]["answer"]
        assert stored == "".join(e["answer"] for e in events if e["event"] == "message") and stored
        assert c.get(f"/workflows/run/{events[0]['workflow_run_id']}").json()["status"] == "stopped"
        suggested = c.get(f"/messages/{events[0]['message_id']}/suggested", params={"user": "carol"})
        assert (
            suggested.status_code == 400 and suggested.json()["message"] == "Suggested Questions Is Disabled."
        )


def test_failed_graph_ends_with_error(server: LiveServer) -> None:
    key = lw.install(server, _variant(fail="rate_limit_error"))[0]
    events = chat(server, key, "boom")
    assert lw.check_stream(events, "advanced-chat") == ["failed"]
    finished, error = events[-2], events[-1]
    assert finished["data"]["status"] == "failed" and "rate_limit_error" in finished["data"]["error"]
    assert error["code"] == "invalid_param" and error["message"].startswith("Run failed: ")
    with lw.client(server, key) as c:
        blocking = c.post("/chat-messages", json={"inputs": {}, "query": "boom", "user": "carol"})
        assert blocking.status_code == 400 and blocking.json()["code"] == "invalid_param"
        history = c.get(
            "/messages", params={"conversation_id": events[0]["conversation_id"], "user": "carol"}
        )
        assert history.json()["data"][0]["status"] == "error"
        empty = c.post("/chat-messages", json={"inputs": {}, "query": "", "user": "carol"})
        assert empty.status_code == 400 and empty.json()["code"] == "invalid_param"
        missing = c.post(
            "/chat-messages",
            json={
                "inputs": {},
                "query": "q",
                "user": "carol",
                "conversation_id": "00000000-0000-4000-8000-000000000000",
            },
        )
        assert missing.status_code == 404 and missing.json()["message"] == "Conversation Not Exists."


def test_workflow_id_runs_an_earlier_version(server: LiveServer) -> None:
    doc = yaml.safe_load(lw.example_text("chatflow-human-input.yml"))
    key, app_id, first = lw.install(server, lw.example_text("advanced-chat.yml"))
    _key, _app, _second = lw.install(server, _variant(reply_tokens=3), app_id)
    with lw.client(server, key) as c:
        old = c.post(
            "/chat-messages", json={"inputs": {}, "query": "v", "user": "u", "workflow_id": first}
        ).json()
        assert old["answer"] == builtin(("system", "Answer in  when it is set."), ("user", "v"))
        bad = c.post("/chat-messages", json={"inputs": {}, "query": "v", "user": "u", "workflow_id": "x"})
        assert bad.status_code == 400 and bad.json()["code"] == "bad_request"
    assert doc["app"]["mode"] == "advanced-chat"


def test_human_input_in_a_chatflow(server: LiveServer) -> None:
    key = lw.install(server, lw.example_text("chatflow-human-input.yml"))[0]
    events = chat(server, key, "may I")
    assert lw.check_stream(events, "advanced-chat") == ["paused"]
    token = [e for e in events if e["event"] == "human_input_required"][0]["data"]["form_token"]
    run_id = events[0]["workflow_run_id"]
    followed: list[list[dict[str, Any]]] = []

    def follow() -> None:
        followed.append(
            lw.stream(
                server,
                key,
                f"/workflow/{run_id}/events",
                {},
                method="GET",
                params={"user": "carol", "continue_on_pause": "true"},
            )  # fmt: skip
        )

    thread = threading.Thread(target=follow)
    thread.start()
    with lw.client(server, key) as c:
        ok = c.post(
            f"/form/human_input/{token}", json={"inputs": {"note": "go"}, "action": "allow", "user": "carol"}
        )
        assert ok.status_code == 200
    thread.join(timeout=20)
    resumed = followed[0]
    assert lw.check_stream(resumed, "advanced-chat-events") == ["normal"]
    answer = "".join(e["answer"] for e in resumed if e["event"] == "message")
    assert answer == 'Checking "may I". Operator says: go.'
    with lw.client(server, key) as c:
        history = c.get(
            "/messages", params={"conversation_id": events[0]["conversation_id"], "user": "carol"}
        )
        assert history.json()["data"][0]["answer"] == answer


def test_official_python_sdk(server: LiveServer) -> None:
    chat_client = ChatClient(server.keys["advanced-chat"])
    chat_client.base_url = server.base_url
    blocking = chat_client.create_chat_message({}, "sdk hello", "sdk-user")
    assert blocking.status_code == 200 and "sdk hello" in blocking.json()["answer"]
    streamed = chat_client.create_chat_message({}, "sdk stream", "sdk-user", response_mode="streaming")
    events = [
        json.loads(line[6:]) for line in streamed.iter_lines(decode_unicode=True) if line.startswith("data: ")
    ]
    assert events[-1]["event"] == "message_end" and events[-2]["event"] == "workflow_finished"
    workflow = DifyClient(server.keys["workflow"])
    workflow.base_url = server.base_url
    run = workflow._send_request(
        "POST", "/workflows/run", {"inputs": {"name": "Sdk"}, "response_mode": "blocking", "user": "s"}
    )
    assert run.json()["data"]["outputs"] == {"greeting": "Hello, Sdk!"}
    params = workflow.get_application_parameters("s").json()
    assert params["user_input_form"][0]["text-input"]["variable"] == "name"


def test_variables_added_by_a_later_version_reach_existing_conversations(server: LiveServer) -> None:
    doc = yaml.safe_load(lw.example_text("chatflow-memory.yml"))
    full = yaml.safe_dump(doc)
    doc["workflow"]["conversation_variables"] = doc["workflow"]["conversation_variables"][:2]
    key, app_id, _first = lw.install(server, yaml.safe_dump(doc))
    with lw.client(server, key) as c:
        cid = c.post("/chat-messages", json={"inputs": {}, "query": "a", "user": "v"}).json()[
            "conversation_id"
        ]
        names = [
            v["name"] for v in c.get(f"/conversations/{cid}/variables", params={"user": "v"}).json()["data"]
        ]
        assert names == ["turns", "topics"]
        lw.install(server, full, app_id)
        turn = c.post(
            "/chat-messages", json={"inputs": {}, "query": "b", "user": "v", "conversation_id": cid}
        )
        assert turn.status_code == 200 and turn.json()["answer"].startswith("Turn 2: ")
        page = c.get(f"/conversations/{cid}/variables", params={"user": "v"}).json()["data"]
        assert [v["name"] for v in page] == ["turns", "topics", "profile"] and page[2]["value"] == "{}"
