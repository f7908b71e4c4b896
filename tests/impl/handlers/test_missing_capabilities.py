"""Apps that use what this server lacks import, and their runs end with a clear Dify error over a
real server: provider_not_initialize (400) for a model without an endpoint or key, a failed node
for an unsupported node type, a missing tool or knowledge base, a failed run for a graph without a
start node. Never a 500, never silence."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.server import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
import live_workflows as lw

NO_KEY = {"OPENAI_API_KEY": "", "OPENAI_API_BASE": "", "ANTHROPIC_API_KEY": "", "GEMINI_API_KEY": ""}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with lw.workflow_server(tmp_path_factory.mktemp("missing"), extra_env=NO_KEY) as live:
        yield live


def _chat_dsl(mode: str, provider: str) -> str:
    doc: dict[str, Any] = yaml.safe_load(lw.example_text(f"{mode}.yml"))
    doc["model_config"]["model"]["provider"] = provider
    return yaml.safe_dump(doc)


@pytest.mark.parametrize(
    ("mode", "path", "provider", "fragment"),
    [
        ("chat", "/chat-messages", "langgenius/openai/openai", "set OPENAI_API_KEY on the server"),
        ("completion", "/completion-messages", "openai", "set OPENAI_API_KEY on the server"),
        ("agent-chat", "/chat-messages", "openai", "set OPENAI_API_KEY on the server"),
        ("chat", "/chat-messages", "anthropic", "Model provider 'anthropic' is not initialized"),
        ("agent-chat", "/chat-messages", "langgenius/gemini/google", "is not initialized"),
    ],
)
def test_a_model_without_endpoint_answers_provider_not_initialize(
    server: LiveServer, mode: str, path: str, provider: str, fragment: str
) -> None:
    key, _app, _version = lw.install(server, _chat_dsl(mode, provider))
    body: dict[str, Any] = {"inputs": {}, "user": "u", "query": "hello"}
    with lw.client(server, key) as c:
        for response_mode in ("streaming", "blocking"):
            if mode == "agent-chat" and response_mode == "blocking":
                continue  # agent-chat refuses blocking mode first
            r = c.post(path, json={**body, "response_mode": response_mode})
            assert r.status_code == 400, r.text
            data = r.json()
            assert data["code"] == "provider_not_initialize" and data["status"] == 400
            assert fragment in data["message"]


def _workflow(nodes: list[dict[str, Any]], mode: str = "workflow") -> str:
    last = "answer" if mode == "advanced-chat" else "end"
    tail: dict[str, Any] = (
        {"id": last, "data": {"type": "answer", "title": "Answer", "answer": "{{#sys.query#}}"}}
        if mode == "advanced-chat"
        else {"id": last, "data": {"type": "end", "title": "End", "outputs": []}}
    )
    chain = ["start", *[n["id"] for n in nodes], last]
    edges = [
        {"id": f"e{i}", "source": a, "target": b, "sourceHandle": "source"}
        for i, (a, b) in enumerate(zip(chain, chain[1:], strict=False))
    ]
    doc = {
        "app": {"mode": mode, "name": "Missing"},
        "kind": "app",
        "version": "0.3.0",
        "workflow": {
            "graph": {
                "nodes": [START, *nodes, tail],
                "edges": edges,
            }
        },
    }
    return yaml.safe_dump(doc)


START = {"id": "start", "data": {"type": "start", "title": "Start", "variables": []}}
RUN = {"inputs": {}, "user": "u", "response_mode": "streaming"}
TOOL = {
    "id": "search",
    "data": {"type": "tool", "title": "Search", "provider_id": "tavily", "tool_name": "tavily_search"},
}
# Knowledge retrieval runs here (tests/impl/knowledge); writing into a knowledge base does not.
KNOWLEDGE = {"id": "store", "data": {"type": "knowledge-index", "title": "Store"}}
CLAUDE = {
    "id": "write",
    "data": {
        "type": "llm",
        "title": "Write",
        "model": {"provider": "anthropic", "name": "claude-x", "mode": "chat"},
        "prompt_template": [{"role": "user", "text": "hi"}],
    },
}


@pytest.mark.parametrize(
    ("node", "fragment"),
    [
        (TOOL, "the tool 'tavily_search' of provider 'tavily' is not available on this server"),
        (KNOWLEDGE, "Node type 'knowledge-index' cannot run on this server: this server only reads"),
        (CLAUDE, "Model provider 'anthropic' is not initialized"),
    ],
)
def test_a_node_that_cannot_run_fails_itself_and_the_run(
    server: LiveServer, node: dict[str, Any], fragment: str
) -> None:
    key, _app, _version = lw.install(server, _workflow([node]))
    events = lw.stream(server, key, "/workflows/run", RUN)
    assert lw.check_stream(events, "workflow") == ["failed"]
    finished = [e["data"] for e in events if e["event"] == "node_finished"]
    assert [(d["node_id"], d["status"]) for d in finished] == [("start", "succeeded"), (node["id"], "failed")]
    assert fragment in finished[-1]["error"]
    last = events[-1]["data"]
    assert last["status"] == "failed" and fragment in last["error"]
    with lw.client(server, key) as c:
        blocking = c.post("/workflows/run", json={"inputs": {}, "user": "u", "response_mode": "blocking"})
    assert blocking.status_code == 200 and blocking.json()["data"]["status"] == "failed"


def test_a_chatflow_with_a_node_that_cannot_run_ends_with_a_clear_error(server: LiveServer) -> None:
    key, _app, _version = lw.install(server, _workflow([KNOWLEDGE], "advanced-chat"))
    body = {"inputs": {}, "user": "u", "query": "hi", "response_mode": "streaming"}
    events = lw.stream(server, key, "/chat-messages", body)
    lw.check_stream(events, "advanced-chat")
    failed = [e["data"] for e in events if e["event"] == "node_finished" and e["data"]["status"] == "failed"]
    reason = "Node type 'knowledge-index' cannot run on this server: this server only reads knowledge bases"
    assert failed and failed[0]["node_id"] == "store" and reason in failed[0]["error"]
    assert events[-1]["event"] == "error" and reason in events[-1]["message"]


def test_a_graph_without_a_start_node_fails_its_run(server: LiveServer, tmp_path: Path) -> None:
    doc = yaml.safe_load(_workflow([]))
    doc["workflow"]["graph"]["nodes"] = doc["workflow"]["graph"]["nodes"][1:]
    doc["workflow"]["graph"]["edges"] = []
    key, _app, _version = lw.install(server, yaml.safe_dump(doc))
    events = lw.stream(server, key, "/workflows/run", RUN)
    assert lw.names(events) == ["workflow_started", "workflow_finished"]
    assert events[-1]["data"]["error"] == "the graph has no start node"
    with httpx.Client(base_url=server.base_url, timeout=10.0) as c:
        r = c.get("/parameters", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json()["user_input_form"] == []
