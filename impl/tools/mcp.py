"""Tools served by MCP servers, through the official `mcp` Python SDK (1.x).

Servers are configured by name in the routing file (`impl.providers.routing`, `[mcp_servers]`):

    [mcp_servers.rss]
    transport = "stdio"                 # stdio | http (streamable HTTP) | sse
    command = "python3"
    args = ["rss_server.py"]
    env = { RSS_TOKEN = "${RSS_TOKEN}" }  # ${VAR} is read from the server's environment
    timeout = 30                        # seconds per call (default 30)
    [mcp_servers.search]
    transport = "http"
    url = "https://mcp.example.com/mcp"
    headers = { Authorization = "Bearer ${SEARCH_KEY}" }

A DSL tool provider reaches a server when `[tool_providers]` maps its name (full plugin form or its
last part) to the server, or when the provider is named like the server (Dify's `mcp` provider
type names the server).  Each call opens a session, initializes it, calls the tool and closes
it: no process or connection outlives a call, so a crashed server costs one failed call.  The
tool list of a server is cached for `LIST_TTL` seconds.  Servers are the operator's choice: a URL
written in a DSL is never connected to.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import httpx
from mcp import ClientSession, StdioServerParameters
from mcp import types as mcp_types
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from impl.tools.base import Tool, ToolContext, ToolError, ToolFile, ToolResult

LIST_TTL = 60.0
DEFAULT_TIMEOUT = 30.0
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_listed: dict[str, tuple[float, list[mcp_types.Tool]]] = {}


def _expand(value: Any, env: Mapping[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1), ""), str(value))


def _strings(table: Any, env: Mapping[str, str]) -> dict[str, str]:
    return {str(k): _expand(v, env) for k, v in (table or {}).items()} if isinstance(table, Mapping) else {}


@contextlib.asynccontextmanager
async def session(
    config: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    """An initialized session with the server `config` describes."""
    env = os.environ if env is None else env
    transport = str(config.get("transport") or ("stdio" if config.get("command") else "http")).lower()
    timeout = float(config.get("timeout") or DEFAULT_TIMEOUT)
    async with contextlib.AsyncExitStack() as stack:
        if transport == "stdio":
            command = config.get("command")
            if not command:
                raise ToolError("the MCP server has no command")
            params = StdioServerParameters(
                command=str(command),
                args=[_expand(a, env) for a in config.get("args") or []],
                env={**os.environ, **_strings(config.get("env"), env)} if config.get("env") else None,
                cwd=str(config["cwd"]) if config.get("cwd") else None,
            )
            read, write = await stack.enter_async_context(stdio_client(params))
        elif transport in ("http", "streamable_http", "streamable-http"):
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    headers=_strings(config.get("headers"), env),
                    timeout=httpx.Timeout(timeout, read=timeout * 10),
                )
            )
            read, write, _ = await stack.enter_async_context(
                streamable_http_client(_expand(config.get("url") or "", env), http_client=client)
            )
        elif transport == "sse":
            read, write = await stack.enter_async_context(
                sse_client(
                    _expand(config.get("url") or "", env),
                    headers=_strings(config.get("headers"), env),
                    timeout=timeout,
                )
            )
        else:
            raise ToolError(f"unknown MCP transport {transport!r} (use stdio, http or sse)")
        client_session = await stack.enter_async_context(
            ClientSession(read, write, read_timeout_seconds=timedelta(seconds=timeout))
        )
        await client_session.initialize()
        yield client_session


async def list_tools(name: str, config: Mapping[str, Any]) -> list[mcp_types.Tool]:
    """The server's tools (cached for LIST_TTL seconds)."""
    cached = _listed.get(name)
    if cached is not None and time.monotonic() - cached[0] < LIST_TTL:
        return cached[1]
    try:
        async with session(config) as s:
            tools = list((await s.list_tools()).tools)
    except ToolError:
        raise
    except Exception as exc:
        raise ToolError(f"the MCP server {name!r} could not be reached: {_reason(exc)}") from None
    _listed[name] = (time.monotonic(), tools)
    return tools


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _reason(exc.exceptions[0])
    return f"{exc.__class__.__name__}: {exc}"


def result_of(result: mcp_types.CallToolResult) -> ToolResult:
    """An MCP call result as Dify's tool messages: text parts, structured JSON, image/audio files."""
    texts: list[str] = []
    files: list[ToolFile] = []
    for i, part in enumerate(result.content):
        if isinstance(part, mcp_types.TextContent):
            texts.append(part.text)
        elif isinstance(part, mcp_types.ImageContent | mcp_types.AudioContent):
            kind = "image" if isinstance(part, mcp_types.ImageContent) else "audio"
            extension = part.mimeType.rsplit("/", 1)[-1].split("+")[0] or "bin"
            try:
                data = base64.b64decode(part.data)
            except ValueError:
                continue
            files.append(ToolFile(f"{kind}_{i + 1}.{extension}", part.mimeType, data, kind))
        elif isinstance(part, mcp_types.EmbeddedResource):
            resource = part.resource
            if isinstance(resource, mcp_types.TextResourceContents):
                texts.append(resource.text)
        elif isinstance(part, mcp_types.ResourceLink):
            texts.append(str(part.uri))
    text = "\n".join(texts)
    if result.isError:
        raise ToolError(text or "the MCP tool reported an error")
    structured = result.structuredContent
    return ToolResult(text, json=(structured,) if isinstance(structured, dict) else (), files=tuple(files))


def as_tool(server: str, config: Mapping[str, Any], provider: str, listed: mcp_types.Tool) -> Tool:
    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            async with session(config) as s:
                result = await s.call_tool(listed.name, args)
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError(f"the MCP server {server!r} failed: {_reason(exc)}") from None
        return result_of(result)

    return Tool(
        provider,
        listed.name,
        listed.title or listed.name,
        listed.description or listed.name,
        (),
        run,
        input_schema=dict(listed.inputSchema or {"type": "object", "properties": {}}),
        origin=f"mcp:{server}",
    )


async def server_tools(server: str, config: Mapping[str, Any], provider: str) -> list[Tool]:
    return [as_tool(server, config, provider, t) for t in await list_tools(server, config)]
