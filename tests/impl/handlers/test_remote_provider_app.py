"""A chat app on an OpenAI-compatible provider, end to end: server → fake upstream → SSE / JSON."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sse_client import assert_valid_stream, headers, open_stream
from support.fake_openai import API_KEY, REPLY, running_fake_openai
from support.server import LiveServer, cli_command, start_server

TEMPLATE = Path(__file__).resolve().parent / "apps" / "chat_remote.yml.tmpl"
MODELS = ("ok", "rate-limited", "cut", "broken")


@pytest.fixture(scope="module")
def remote(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, dict[str, str], list[Any]]]:
    with running_fake_openai() as (base_url, received):
        data_dir = tmp_path_factory.mktemp("remote")
        server = start_server(data_dir, env={"OPENAI_API_BASE": base_url, "OPENAI_API_KEY": API_KEY})
        try:
            keys: dict[str, str] = {}
            for model in MODELS:
                dsl = data_dir / f"{model}.yml"
                dsl.write_text(TEMPLATE.read_text().replace("MODEL", model))
                out = subprocess.run(
                    cli_command("apps", "import", str(dsl), "--data-dir", str(data_dir)),
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=True,
                )
                found = re.search(r"key: (app-\S+)", out.stdout)
                assert found, out.stdout + out.stderr
                keys[model] = found.group(1)
            yield server, keys, received
        finally:
            server.stop()


def body(**extra: Any) -> dict[str, Any]:
    return {"query": "hi", "inputs": {"persona": "a pirate"}, "user": "remote-user", **extra}


def test_blocking_and_streaming_through_the_provider(
    remote: tuple[LiveServer, dict[str, str], list[Any]],
) -> None:
    server, keys, received = remote
    resp = httpx.post(
        server.base_url + "/chat-messages", json=body(), headers=headers(keys["ok"]), timeout=10
    )
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["answer"] == "".join(REPLY)
    assert data["metadata"]["usage"]["prompt_tokens"] == 11
    # The turn's request (the new conversation's title is asked for concurrently: either may come last).
    sent = next(r for r in reversed(received) if "title only" not in r["messages"][0]["content"])
    assert sent["messages"][0] == {"role": "system", "content": "Answer as a pirate."}
    assert sent["temperature"] == 0.1
    stream = open_stream(
        server.base_url,
        keys["ok"],
        "/chat-messages",
        body(response_mode="streaming", conversation_id=data["conversation_id"]),
    )
    assert_valid_stream(stream, "chat")
    assert stream.answer == "".join(REPLY)
    assert [m["role"] for m in received[-1]["messages"]] == ["system", "user", "assistant", "user"]


def test_provider_errors_map_to_dify_codes(remote: tuple[LiveServer, dict[str, str], list[Any]]) -> None:
    server, keys, _ = remote
    limited = httpx.post(
        server.base_url + "/chat-messages", json=body(), headers=headers(keys["rate-limited"]), timeout=10
    )
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limit_error"
    broken = httpx.post(
        server.base_url + "/chat-messages", json=body(), headers=headers(keys["broken"]), timeout=10
    )
    assert broken.status_code == 400 and broken.json()["code"] == "completion_request_error"
    cut = open_stream(server.base_url, keys["cut"], "/chat-messages", body(response_mode="streaming"))
    assert_valid_stream(cut, "chat")
    assert [e["event"] for e in cut.events] == ["message"] * 3 + ["error"]
    assert cut.events[-1]["code"] == "completion_request_error"


def test_features_off(remote: tuple[LiveServer, dict[str, str], list[Any]]) -> None:
    server, keys, _ = remote
    h = headers(keys["ok"])
    missing = httpx.post(
        server.base_url + "/chat-messages", json={**body(), "inputs": {}}, headers=h, timeout=10
    )
    assert missing.json() == {
        "code": "invalid_param",
        "message": "persona is required in input form",
        "status": 400,
    }
    files = [{"type": "image", "transfer_method": "remote_url", "url": "https://example.com/a.png"}]
    ok = httpx.post(server.base_url + "/chat-messages", json=body(files=files), headers=h, timeout=10).json()
    history = httpx.get(
        server.base_url + "/messages",
        params={"user": "remote-user", "conversation_id": ok["conversation_id"]},
        headers=h,
        timeout=10,
    ).json()
    assert history["data"][0]["message_files"] == []  # silently dropped: the feature is off
    suggested = httpx.get(
        f"{server.base_url}/messages/{ok['message_id']}/suggested",
        params={"user": "remote-user"},
        headers=h,
        timeout=10,
    )
    assert suggested.status_code == 400
    assert suggested.json() == {
        "code": "bad_request",
        "message": "Suggested Questions Is Disabled.",
        "status": 400,
    }
