"""MCP servers as tool providers: the test server over stdio and streamable HTTP (real
subprocesses), reached by name through the routing file's `[mcp_servers]` / `[tool_providers]`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.server import free_port

from impl.providers import routing
from impl.providers.routing import parse_config
from impl.tools import (
    ToolContext,
    ToolError,
    ToolNotConfigured,
    invoke,
    lookup_tool,
    provider_tools,
    resolve_tool,
)
from impl.tools import mcp as mcp_tools

SERVER = Path(__file__).resolve().parents[2] / "support" / "mcp_server.py"


def stdio_config() -> dict[str, object]:
    return {"transport": "stdio", "command": sys.executable, "args": [str(SERVER), "stdio"], "timeout": 20}


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def routes(http_url: str) -> Iterator[None]:
    config = {
        "mcp_servers": {
            "local": stdio_config(),
            "remote": {"transport": "http", "url": http_url, "headers": {"X-Token": "${MCP_TEST_TOKEN}"}},
        },
        "tool_providers": {"jaguarliuu/rookie_rss/rookie_rss": "local", "feishu_document": "remote"},
    }
    routing.use(parse_config(config, {"MCP_TEST_TOKEN": "t"}))
    mcp_tools._listed.clear()
    yield
    routing.use(None)


CTX = ToolContext(timeout=30)


@pytest.mark.usefixtures("routes")
@pytest.mark.parametrize(
    "provider", ["jaguarliuu/rookie_rss/rookie_rss", "rookie_rss", "local", "feishu_document", "remote"]
)
async def test_tools_of_a_mapped_provider(provider: str) -> None:
    ref = lookup_tool(provider, "add")
    assert ref is not None and ref.source == "mcp"
    if provider in ("rookie_rss", "feishu_document"):
        return  # same servers as the named ones; only the mapping is checked
    tool = await resolve_tool(provider, "add")
    assert tool.spec().parameters["required"] == ["a", "b"]
    result = await invoke(tool, {"a": 2, "b": 40}, CTX)
    assert result.json == ({"sum": 42},) and "42" in result.text
    shouted = await invoke(await resolve_tool(provider, "shout"), {"text": "hi"}, CTX)
    assert shouted.text == "HI!"


@pytest.mark.usefixtures("routes")
async def test_files_errors_and_unknown_tools() -> None:
    pixel = await invoke(await resolve_tool("local", "pixel"), {}, CTX)
    assert pixel.files[0].mime_type == "image/png" and pixel.files[0].data.startswith(b"\x89PNG")
    with pytest.raises(ToolError, match="kaboom"):
        await invoke(await resolve_tool("remote", "explode"), {}, CTX)
    with pytest.raises(ToolNotConfigured, match="has no tool named 'nothing'"):
        await resolve_tool("local", "nothing")
    with pytest.raises(ToolNotConfigured, match="not available on this server"):
        await resolve_tool("langgenius/wikipedia/wikipedia", "wikipedia_search")
    assert lookup_tool("wikipedia", "wikipedia_search") is None
    assert sorted(t.name for t in await provider_tools("remote")) == ["add", "explode", "pixel", "shout"]


async def test_an_unreachable_server_is_a_tool_error() -> None:
    gone = {"transport": "http", "url": "http://127.0.0.1:9/mcp", "timeout": 3}
    routing.use(parse_config({"mcp_servers": {"gone": gone}}, {}))
    mcp_tools._listed.clear()
    try:
        with pytest.raises(ToolError, match="could not be reached"):
            await resolve_tool("gone", "add")
        routing.use(
            parse_config({"mcp_servers": {"bad": {"command": "/nonexistent/binary", "timeout": 3}}}, {})
        )
        with pytest.raises(ToolError, match="could not be reached"):
            await resolve_tool("bad", "add")
    finally:
        routing.use(None)
