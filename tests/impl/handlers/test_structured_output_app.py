"""A workflow whose LLM node asks for structured output, over HTTP: on the builtin model and on an
OpenAI-compatible upstream (the fake server), which must receive the schema as
`response_format: {type: json_schema, ...}`."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sse_client import assert_valid_stream, headers, open_stream
from support.fake_openai import API_KEY, running_fake_openai
from support.server import LiveServer, cli_command, start_server

TEMPLATE = Path(__file__).resolve().parent / "apps" / "workflow_structured.yml.tmpl"
APPS = {"builtin": ("builtin", "echo"), "remote": ("openai", "json")}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, dict[str, str], list[Any]]]:
    with running_fake_openai() as (base_url, received):
        data_dir = tmp_path_factory.mktemp("structured")
        server = start_server(data_dir, env={"OPENAI_API_BASE": base_url, "OPENAI_API_KEY": API_KEY})
        try:
            keys: dict[str, str] = {}
            for name, (provider, model) in APPS.items():
                dsl = data_dir / f"{name}.yml"
                dsl.write_text(TEMPLATE.read_text().replace("PROVIDER", provider).replace("MODEL", model))
                out = subprocess.run(
                    cli_command("apps", "import", str(dsl), "--data-dir", str(data_dir)),
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=True,
                )
                found = re.search(r"key: (app-\S+)", out.stdout)
                assert found, out.stdout + out.stderr
                keys[name] = found.group(1)
            yield server, keys, received
        finally:
            server.stop()


def _run(server: LiveServer, key: str) -> dict[str, Any]:
    resp = httpx.post(
        server.base_url + "/workflows/run",
        json={"inputs": {"topic": "rivers"}, "user": "so-user"},
        headers=headers(key),
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    assert data["status"] == "succeeded", data
    return data


def test_builtin_model_answers_the_schema(served: tuple[LiveServer, dict[str, str], list[Any]]) -> None:
    server, keys, _received = served
    data = _run(server, keys["builtin"])
    assert data["outputs"] == {
        "first": "Things about rivers",
        "n": 1,
        "items": ["Things about rivers"],
        "done": False,
    }
    stream = open_stream(
        server.base_url,
        keys["builtin"],
        "/workflows/run",
        {"inputs": {"topic": "rivers"}, "user": "so-user", "response_mode": "streaming"},
    )
    assert_valid_stream(stream, "workflow")
    llm = [e for e in stream.data_events if e["event"] == "node_finished" and e["data"]["node_id"] == "llm"][
        0
    ]
    outputs = llm["data"]["outputs"]
    assert outputs["structured_output"] == {"items": ["Things about rivers"], "count": 0, "done": False}
    assert json.loads(outputs["text"]) == outputs["structured_output"]


def test_remote_model_gets_the_schema_natively(served: tuple[LiveServer, dict[str, str], list[Any]]) -> None:
    server, keys, received = served
    data = _run(server, keys["remote"])
    assert data["outputs"] == {"first": "from", "n": 2, "items": ["from", "the fake"], "done": "true"}
    sent = received[-1]
    assert sent["model"] == "json" and sent["temperature"] == 0.1
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "llm_response",
            "schema": {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"type": "string"}, "description": "a few things"},
                    "count": {"type": "number"},
                    "done": {"type": "string"},  # Dify asks native models for booleans as strings
                },
                "required": ["items"],
            },
        },
    }
    assert "json_schema" not in sent
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][0]["content"] == "List a few things."
