"""Routed models, the tool registry and MCP servers end to end: a real server (subprocess) with
a routing file, a fake Anthropic Messages server and the test MCP server (stdio and streamable
HTTP) on loopback.  Covers a workflow with tool nodes and an agent node, an agent-chat app on an
MCP tool, a chatflow whose agent node runs on Anthropic, chat on Anthropic, and providers or
tools that are not configured (a warning at import, a clean Dify error at run)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sse_client import assert_valid_stream, headers, open_stream
from support.fake_anthropic import API_KEY as ANTHROPIC_KEY
from support.fake_anthropic import running_fake_anthropic
from support.server import LiveServer, cli_command, free_port, start_server

APPS = Path(__file__).resolve().parent / "apps"
MCP_SERVER = Path(__file__).resolve().parents[2] / "support" / "mcp_server.py"
YEAR = time.strftime("%Y", time.gmtime())


@dataclass
class World:
    server: LiveServer
    keys: dict[str, str]
    warnings: dict[str, list[str]]


def _import(data_dir: Path, name: str, text: str, env: dict[str, str]) -> tuple[str, list[str]]:
    path = data_dir / f"{name}.yml"
    path.write_text(text)
    out = subprocess.run(
        cli_command("apps", "import", str(path), "--data-dir", str(data_dir)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    found = re.search(r"key: (app-\S+)", out.stdout)
    assert found, out.stdout + out.stderr
    return found.group(1), re.findall(r"^warning: (\[.*)$", out.stderr, re.M)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    port = free_port()
    mcp = subprocess.Popen(
        [sys.executable, str(MCP_SERVER), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with running_fake_anthropic({"timezone": "UTC"}) as (anthropic_base, _received):
            data_dir = tmp_path_factory.mktemp("routed")
            routes = data_dir / "routes.toml"
            routes.write_text(
                f"""
[mcp_servers.local]
transport = "stdio"
command = "{sys.executable}"
args = ["{MCP_SERVER}", "stdio"]
[mcp_servers.remote]
transport = "http"
url = "http://127.0.0.1:{port}/mcp"
[tool_providers]
"acme/rss/rss" = "local"
"""
            )
            import os

            env = {
                **{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))},
                "DIFY_MODEL_ROUTES": str(routes),
                "ANTHROPIC_API_BASE": anthropic_base,
                "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            }
            env.pop("DIFY_BUILTIN_MODELS", None)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            server = start_server(data_dir, env=env)
            try:
                keys: dict[str, str] = {}
                warnings: dict[str, list[str]] = {}
                sources = {
                    "workflow": (APPS / "workflow_tools.yml").read_text(),
                    "agent_chat": (APPS / "agent_chat_mcp.yml").read_text(),
                    "missing_tool": (APPS / "agent_chat_missing_tool.yml").read_text(),
                    "chatflow": (APPS / "chatflow_agent.yml").read_text(),
                }
                template = (APPS / "chat_routed.yml.tmpl").read_text()
                for name, provider, model in (
                    ("claude", "langgenius/anthropic/anthropic", "ok"),
                    ("claude_limited", "anthropic", "rate-limited"),
                    ("deepseek", "langgenius/deepseek/deepseek", "deepseek-chat"),
                ):
                    sources[name] = template.replace("PROVIDER", provider).replace("MODEL", model)
                for name, text in sources.items():
                    keys[name], warnings[name] = _import(data_dir, name, text, env)
                yield World(server, keys, warnings)
            finally:
                server.stop()
    finally:
        mcp.terminate()
        mcp.wait(timeout=10)


def test_import_warns_about_what_is_not_configured(world: World) -> None:
    assert world.warnings["workflow"] == [] and world.warnings["agent_chat"] == []
    assert world.warnings["claude"] == [] and world.warnings["chatflow"] == []
    assert world.warnings["deepseek"] == [
        "[models] model_config: model 'deepseek-chat': Model provider 'langgenius/deepseek/deepseek' "
        "is not initialized: set DEEPSEEK_API_KEY on the server; runs answer provider_not_initialize"
    ]
    assert world.warnings["missing_tool"] == [
        "[tools] model_config.agent_mode: tool 'wikipedia_search' of builtin provider 'wikipedia' is "
        "neither builtin here nor mapped to an MCP server; chat turns run without it"
    ]


def test_workflow_with_tool_and_agent_nodes(world: World) -> None:
    body = {"inputs": {"q": "world"}, "user": "u1", "response_mode": "streaming"}
    stream = open_stream(
        world.server.base_url, world.keys["workflow"], "/workflows/run", body, read_timeout=60
    )
    assert stream.status == 200, stream.raw
    assert_valid_stream(stream, "workflow")
    finished = stream.events[-1]
    assert finished["event"] == "workflow_finished" and finished["data"]["status"] == "succeeded", finished
    outputs = finished["data"]["outputs"]
    assert outputs["shouted"] == "HELLO WORLD!"
    assert outputs["year"] == YEAR
    assert "42" in outputs["answer"]  # the builtin model quotes the tool's result
    logs = [e["data"] for e in stream.events if e["event"] == "agent_log"]
    labels = [log["label"] for log in logs]
    assert labels[0] == "ROUND 1" and "CALL add" in labels and labels.count("ROUND 2") >= 1
    call = next(log for log in logs if log["label"] == "CALL add")
    assert call["data"]["tool_call_args"] == '{"a": 2, "b": 40}' and "42" in call["data"]["output"]
    assert call["parent_id"] == logs[0]["id"]
    agent_started = next(
        e for e in stream.events if e["event"] == "node_started" and e["data"]["node_id"] == "agent"
    )
    assert {log["node_execution_id"] for log in logs} == {agent_started["data"]["id"]}
    assert outputs["log"][-1] == {"data": []} and outputs["log"][0]["label"] == "ROUND 1"


def test_agent_chat_on_an_mcp_tool(world: World) -> None:
    body = {
        "query": '[[tool:add {"a": 1, "b": 2}]]',
        "inputs": {},
        "user": "u2",
        "response_mode": "streaming",
    }
    stream = open_stream(
        world.server.base_url, world.keys["agent_chat"], "/chat-messages", body, read_timeout=60
    )
    assert stream.status == 200, stream.raw
    assert_valid_stream(stream, "agent-chat")
    thoughts = [e for e in stream.events if e["event"] == "agent_thought"]
    observed = [t for t in thoughts if t["observation"]]
    assert observed and observed[0]["tool"] == "add"
    assert json.loads(json.loads(observed[0]["observation"])["add"]) == {"sum": 3}


def test_a_missing_agent_tool_is_left_out_as_dify_does(world: World) -> None:
    # Dify's agent runner skips a tool it cannot load and answers with the rest
    # (api/core/agent/base_agent_runner.py, `_init_prompt_tools`).
    # The builtin model calls an offered tool whose name the query contains: none is offered here.
    body = {"query": "wikipedia_search: Dify", "inputs": {}, "user": "u3", "response_mode": "streaming"}
    stream = open_stream(
        world.server.base_url, world.keys["missing_tool"], "/chat-messages", body, read_timeout=60
    )
    assert stream.status == 200, stream.raw
    assert_valid_stream(stream, "agent-chat")
    assert stream.events[-1]["event"] == "message_end"
    thoughts = [e for e in stream.events if e["event"] == "agent_thought"]
    assert all(t["tool"] in ("", None) for t in thoughts), thoughts  # nothing called a tool it lacks
    assert "".join(e["answer"] for e in stream.events if e["event"] == "agent_message")


def test_chat_on_anthropic_and_its_errors(world: World) -> None:
    body = {"query": "hi", "inputs": {}, "user": "u4", "response_mode": "streaming"}
    stream = open_stream(world.server.base_url, world.keys["claude"], "/chat-messages", body)
    assert_valid_stream(stream, "chat")
    assert stream.answer == "Bonjour from Claude."
    limited = httpx.post(
        world.server.base_url + "/chat-messages",
        json={**body, "response_mode": "blocking"},
        headers=headers(world.keys["claude_limited"]),
        timeout=30,
    )
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limit_error"


def test_a_provider_without_a_key_is_provider_not_initialize(world: World) -> None:
    for mode in ("blocking", "streaming"):
        body = {"query": "hi", "inputs": {}, "user": "u5", "response_mode": mode}
        resp = httpx.post(
            world.server.base_url + "/chat-messages",
            json=body,
            headers=headers(world.keys["deepseek"]),
            timeout=30,
        )
        assert resp.status_code == 400, resp.text
        assert (
            resp.json()["code"] == "provider_not_initialize" and "DEEPSEEK_API_KEY" in resp.json()["message"]
        )


def test_chatflow_agent_node_on_anthropic_tool_use(world: World) -> None:
    body = {"query": "what year is it?", "inputs": {}, "user": "u6", "response_mode": "streaming"}
    stream = open_stream(
        world.server.base_url, world.keys["chatflow"], "/chat-messages", body, read_timeout=60
    )
    assert stream.status == 200, stream.raw
    assert_valid_stream(stream, "advanced-chat")
    assert stream.answer == f"Let me check.The tool said: {YEAR}"
    calls = [
        e["data"]
        for e in stream.events
        if e["event"] == "agent_log" and e["data"]["label"] == "CALL current_time"
    ]
    assert calls and calls[0]["data"]["output"] == YEAR
