"""Agent-chat apps on the live server: the tool loop, its events and grammar, stored thoughts,
tool files, the iteration limit, failures, stop, and function calling against a fake
OpenAI-style server (a server of its own, started with OPENAI_API_BASE pointing at the fake)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from extras_apps import check_stream, client, dsl, example, install, stream_events
from fake_openai_extras import API_KEY, running_fake_openai_extras
from support.server import LiveServer, start_server

from impl.sse import parse_frames


def _ask(http: httpx.Client, query: str, **extra: Any) -> list[dict[str, Any]]:
    events = stream_events(http, {"inputs": {}, "query": query, "user": "agent-user", **extra})
    check_stream("agent-chat", events)
    return events


def _thoughts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "agent_thought"]


def _answer(events: list[dict[str, Any]]) -> str:
    return "".join(e["answer"] for e in events if e["event"] in ("agent_message", "message"))


@pytest.fixture
def agent(live_server: LiveServer) -> Iterator[httpx.Client]:
    with client(live_server, live_server.keys["agent-chat"]) as http:
        yield http


def test_agent_on_postgresql(live_server_pg: LiveServer) -> None:
    with client(live_server_pg, live_server_pg.keys["agent-chat"]) as http:
        events = _ask(http, "draw an image, then tell me")
        assert [t["tool"] for t in _thoughts(events)] == ["solid_image", "solid_image", ""]
        message = http.get(
            "/messages", params={"conversation_id": events[-1]["conversation_id"], "user": "agent-user"}
        ).json()["data"][0]
        assert [t["position"] for t in message["agent_thoughts"]] == [1, 2]
        assert len(message["message_files"]) == 1


def test_blocking_is_refused(agent: httpx.Client) -> None:
    expected = {
        "code": "invalid_param",
        "message": "Agent Chat App does not support blocking mode",
        "status": 400,
    }
    for body in ({"response_mode": "blocking"}, {}, {"response_mode": None}):
        resp = agent.post("/chat-messages", json={"inputs": {}, "query": "2+2", "user": "u", **body})
        assert resp.status_code == 400 and resp.json() == expected


def test_calculator_round_trip_and_stored_thoughts(agent: httpx.Client) -> None:
    events = _ask(agent, "What is 12 * (3 + 4)?")
    names = [e["event"] for e in events]
    assert names[0] == "agent_thought" and names[-1] == "message_end"
    thoughts = _thoughts(events)
    call, observed, final = thoughts
    assert call["id"] == observed["id"] and call["position"] == observed["position"] == 1
    assert call["tool"] == "calculator" and call["observation"] == ""
    assert json.loads(call["tool_input"]) == {"calculator": {"expression": "12 * (3 + 4)"}}
    assert json.loads(observed["observation"]) == {"calculator": "84"}
    assert call["tool_labels"]["calculator"]["en_US"] == "Calculator"
    assert final["position"] == 2 and final["tool"] == "" and "84" in final["thought"]
    answer = _answer(events)
    assert "84" in answer and final["thought"] == answer
    end = events[-1]
    assert end["metadata"]["usage"]["total_tokens"] > 0

    history = agent.get("/messages", params={"conversation_id": end["conversation_id"], "user": "agent-user"})
    assert history.status_code == 200
    message = history.json()["data"][0]
    assert message["answer"] == answer
    stored = message["agent_thoughts"]
    assert [t["position"] for t in stored] == [1, 2]
    assert stored[0]["id"] == call["id"] and stored[0]["tool"] == "calculator"
    assert json.loads(stored[0]["observation"]) == {"calculator": "84"}
    assert stored[1]["thought"] == answer and stored[0]["message_id"] == end["message_id"]

    # The conversation continues with history.
    follow = _ask(agent, "and what time is it?", conversation_id=end["conversation_id"])
    assert _thoughts(follow)[0]["tool"] == "current_time"
    assert follow[-1]["conversation_id"] == end["conversation_id"]


def test_tool_file_becomes_message_file(agent: httpx.Client) -> None:
    events = _ask(agent, "please draw an image")
    files = [e for e in events if e["event"] == "message_file"]
    assert len(files) == 1 and files[0]["type"] == "image" and files[0]["belongs_to"] == "assistant"
    observed = _thoughts(events)[1]
    assert observed["message_files"] == [files[0]["id"]]
    picture = agent.get(files[0]["url"].removeprefix("/v1"))
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
    assert picture.headers["content-type"] == "image/png"
    message = agent.get(
        "/messages", params={"conversation_id": events[-1]["conversation_id"], "user": "agent-user"}
    ).json()["data"][0]
    assert [f["id"] for f in message["message_files"]] == [files[0]["id"]]
    assert message["message_files"][0]["belongs_to"] == "assistant"
    assert message["agent_thoughts"][0]["files"] == [files[0]["id"]]


@pytest.mark.parametrize(
    ("query", "tool", "observation"),
    [
        ("what is 1/0", "calculator", "tool invoke error: division by zero"),
        (
            '[[tool:calculator {"expression": "__import__(\'os\')"}]]',
            "calculator",
            "tool invoke error: unsupported",
        ),
        ("[[tool:no_such_tool]] hello", "no_such_tool", "there is not a tool named no_such_tool"),
        ("fetch http://127.0.0.1:9/secret", "http_get", "tool invoke error: refused: 127.0.0.1"),
        ("fetch http://169.254.169.254/latest/meta-data", "http_get", "tool invoke error: refused"),
        ("fetch http://localhost:9/", "http_get", "tool invoke error: refused"),
        ('[[tool:calculator {"expression": "2 ** 99999"}]]', "calculator", "tool invoke error: the exponent"),
        ('[[tool:http_get {"url": "file:///etc/passwd"}]]', "http_get", "tool invoke error: only http"),
        ("[[tool:calculator {not json}]]", "calculator", "tool invoke error: the arguments are not"),
    ],
)
def test_failing_tools_become_observations(
    agent: httpx.Client, query: str, tool: str, observation: str
) -> None:
    events = _ask(agent, query)
    assert events[-1]["event"] == "message_end"
    observed = _thoughts(events)[1]
    assert observed["tool"] == tool
    assert json.loads(observed["observation"])[tool].startswith(observation)


def test_iteration_limit(live_server: LiveServer) -> None:
    mode = {**example("agent-chat.yml")["model_config"]["agent_mode"], "max_iteration": 2}
    with client(live_server, install(live_server, dsl("agent-chat.yml", agent_mode=mode))) as http:
        events = _ask(http, "[[tools-forever]] keep going")
    thoughts = _thoughts(events)
    positions = [t["position"] for t in thoughts]
    assert positions == [1, 1, 2, 2, 3]
    assert thoughts[-1]["tool"] == "" and events[-1]["event"] == "message_end"


def test_provider_failure_ends_with_error(agent: httpx.Client) -> None:
    events = _ask(agent, "[[fail:rate_limit_error]] hi")
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["code"] == "rate_limit_error" and events[0]["status"] == 429
    history = agent.get(
        "/messages", params={"conversation_id": events[0]["conversation_id"], "user": "agent-user"}
    ).json()["data"][0]
    assert history["status"] == "error" and history["error"]


def test_stop_ends_with_message_end(live_server: LiveServer, agent: httpx.Client) -> None:
    body = {
        "inputs": {},
        "query": "[[tools-forever]] [[delay:0.3]] slow",
        "user": "stopper",
        "response_mode": "streaming",
    }
    started = time.monotonic()
    events: list[dict[str, Any]] = []
    with agent.stream("POST", "/chat-messages", json=body) as resp:
        buffer = ""
        for text in resp.iter_text():
            buffer += text
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                parsed = parse_frames(block + "\n\n")[0]
                if parsed is None:
                    continue
                events.append(parsed)
                if len(events) == 1:
                    stop = agent.post(f"/chat-messages/{parsed['task_id']}/stop", json={"user": "stopper"})
                    assert stop.json() == {"result": "success"}
    check_stream("agent-chat", events)
    assert events[-1]["event"] == "message_end"
    assert len(_thoughts(events)) < 6 and time.monotonic() - started < 5


def test_annotation_reply_in_agent_app(live_server: LiveServer) -> None:
    key = install(
        live_server, dsl("agent-chat.yml", annotation_reply={"enabled": True, "score_threshold": 0.8})
    )
    with client(live_server, key) as http:
        note = http.post("/apps/annotations", json={"question": "What is 2 + 2?", "answer": "Four."}).json()
        events = _ask(http, "what is 2 + 2")
    assert [e["event"] for e in events] == ["message", "message_end"]
    assert events[0]["answer"] == "Four." and events[1]["metadata"]["annotation_reply"]["id"] == note["id"]


def test_keyword_moderation(live_server: LiveServer) -> None:
    sensitive = {
        "enabled": True,
        "type": "keywords",
        "configs": {
            "keywords": "forbidden\ncurrent_time",
            "inputs_config": {"enabled": True, "preset_response": "I cannot discuss that."},
            "outputs_config": {"enabled": True, "preset_response": "[removed]"},
        },
    }
    with client(
        live_server, install(live_server, dsl("agent-chat.yml", sensitive_word_avoidance=sensitive))
    ) as http:
        blocked = _ask(http, "tell me something FORBIDDEN")
        assert [e["event"] for e in blocked] == ["message", "message_end"]
        assert blocked[0]["answer"] == "I cannot discuss that."
        replaced = _ask(http, "what is the time now?")  # the answer names the current_time tool
        names = [e["event"] for e in replaced]
        assert names[-2:] == ["message_replace", "message_end"]
        assert replaced[-2]["answer"] == "[removed]" and replaced[-2]["reason"] == "output_moderation"
        stored = http.get(
            "/messages", params={"conversation_id": replaced[-1]["conversation_id"], "user": "agent-user"}
        ).json()["data"][0]
        assert stored["answer"] == "[removed]"


def test_tts_autoplay_events(live_server: LiveServer) -> None:
    tts = {"enabled": True, "autoPlay": "enabled", "voice": "", "language": "en-US"}
    with client(live_server, install(live_server, dsl("agent-chat.yml", text_to_speech=tts))) as http:
        events = _ask(http, "what is 6 * 7")
    names = [e["event"] for e in events]
    assert names[-2:] == ["tts_message_end", "message_end"]
    chunks = [e for e in events if e["event"] == "tts_message"]
    assert chunks and events[-2]["audio"] == ""
    audio = b"".join(base64.b64decode(e["audio"]) for e in chunks)
    assert audio[:3] == b"ID3" or audio[:1] == b"\xff" or audio[:4] == b"RIFF"


@pytest.fixture(scope="module")
def openai_agent(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, list[dict[str, Any]]]]:
    with running_fake_openai_extras() as (base, received):
        server = start_server(
            tmp_path_factory.mktemp("agent-openai"), env={"OPENAI_API_BASE": base, "OPENAI_API_KEY": API_KEY}
        )
        try:
            yield server, received
        finally:
            server.stop()


def test_function_calling_with_openai_compatible_provider(
    openai_agent: tuple[LiveServer, list[dict[str, Any]]],
) -> None:
    server, received = openai_agent
    model = {"provider": "openai-compatible", "name": "gpt-fake", "mode": "chat", "completion_params": {}}
    with client(server, install(server, dsl("agent-chat.yml", model=model))) as http:
        events = _ask(http, "use the calculator please")
    thoughts = _thoughts(events)
    assert thoughts[0]["tool"] == "calculator"
    assert json.loads(thoughts[0]["tool_input"]) == {"calculator": {"expression": "6*7"}}
    assert json.loads(thoughts[1]["observation"]) == {"calculator": "42"}
    assert _answer(events) == "The tool said: 42."
    first, second = [r for r in received if r.get("model") == "gpt-fake" and "tools" in r][-2:]
    assert {t["function"]["name"] for t in first["tools"]} == {
        "current_time",
        "calculator",
        "http_get",
        "solid_image",
    }
    assert second["messages"][-2]["tool_calls"][0]["function"] == {
        "name": "calculator",
        "arguments": '{"expression": "6*7"}',
    }
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "42"}
    assert events[-1]["metadata"]["usage"]["prompt_tokens"] == 40


def test_loop_model_hits_the_limit_then_answers_without_tools(
    openai_agent: tuple[LiveServer, list[dict[str, Any]]],
) -> None:
    server, received = openai_agent
    model = {"provider": "openai-compatible", "name": "loop", "mode": "chat", "completion_params": {}}
    mode = {**example("agent-chat.yml")["model_config"]["agent_mode"], "max_iteration": 3}
    with client(server, install(server, dsl("agent-chat.yml", model=model, agent_mode=mode))) as http:
        events = _ask(http, "calculator forever")
    assert [t["position"] for t in _thoughts(events)] == [1, 1, 2, 2, 3, 3, 4]
    agent_calls = [
        r
        for r in received
        if r.get("model") == "loop" and ("tools" in r or any(m["role"] == "tool" for m in r["messages"]))
    ]
    calls = agent_calls[-4:]  # (the conversation title is asked for separately)
    assert ["tools" in c for c in calls] == [True, True, True, False]


def test_demo_seeds_the_agent_app(live_server: LiveServer) -> None:
    data = json.loads((Path(live_server.data_dir) / "demo-keys.json").read_text())
    assert "agent-chat" in data
    with client(live_server, data["agent-chat"]) as http:
        info = http.get("/info").json()
        assert info["mode"] == "agent-chat"
        meta = http.get("/meta").json()
        assert set(meta["tool_icons"]) == {"current_time", "calculator", "http_get", "solid_image"}


def test_react_strategy_with_a_plain_chat_model(
    openai_agent: tuple[LiveServer, list[dict[str, Any]]],
) -> None:
    server, received = openai_agent
    model = {"provider": "openai-compatible", "name": "plain-react", "mode": "chat", "completion_params": {}}
    mode = {**example("agent-chat.yml")["model_config"]["agent_mode"], "strategy": "react"}
    with client(server, install(server, dsl("agent-chat.yml", model=model, agent_mode=mode))) as http:
        events = _ask(http, "what is six times seven?")
    call, observed, final = _thoughts(events)
    assert call["thought"] == "I should use the calculator." and call["tool"] == "calculator"
    assert json.loads(observed["observation"]) == {"calculator": "42"}
    assert _answer(events) == "The tool said: 42." and final["thought"] == "The tool said: 42."
    sent = [
        r
        for r in received
        if r.get("model") == "plain-react" and "Final Answer:" in r["messages"][0]["content"]
    ]
    assert all("tools" not in r for r in sent) and sent[-1]["messages"][-1]["content"] == "Observation: 42"


def test_agent_without_tools_answers_directly(live_server: LiveServer) -> None:
    for mode in (
        {"enabled": True, "strategy": "function_call", "tools": []},
        {"enabled": False, "tools": []},
    ):
        with client(live_server, install(live_server, dsl("agent-chat.yml", agent_mode=mode))) as http:
            events = _ask(http, "what is 6 * 7")
        (thought,) = _thoughts(events)
        assert thought["position"] == 1 and thought["tool"] == "" and thought["thought"] == _answer(events)
        assert "6 * 7" in _answer(events) and events[-1]["event"] == "message_end"
