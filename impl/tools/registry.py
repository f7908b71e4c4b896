"""The one tool registry: workflow tool nodes, agent nodes and agent-chat apps all look tools up
here, by the provider and tool names of Dify's DSL.

`BUILTIN` is the explicit table of tools this server carries (see each module for what a tool
does).  A provider is named as Dify names it: short (`time`, `webscraper`) or in plugin form
(`langgenius/time/time`), reduced to its last part.  Providers not in the table are looked up in
the routing file's MCP mapping (`impl.tools.mcp`).

| provider       | tools                                                                           |
| -------------- | ------------------------------------------------------------------------------- |
| `time`         | current_time, timezone_conversion, localtime_to_timestamp, timestamp_to_localtime,
|                | weekday |
| `webscraper`   | webscraper (and http_get)                                                       |
| `jina`         | jina_reader (read locally)                                                      |
| `http`         | http_get                                                                        |
| `calculator`   | calculator (also provider `math`)                                              |
| `json_process` | parse, insert, replace, delete                                                  |
| `base64_codec` | base64_encoder, base64_decoder                                                  |
| `chart`        | bar_chart, line_chart, pie_chart (SVG)                                          |
| `audio`        | tts (espeak-ng)                                                                 |
| `dalle`        | dalle2, dalle3 (routed images endpoint)                                         |
| `image`        | solid_image                                                                     |
| `qrcode`       | qrcode_generator (PNG)                                                          |
| `regex`        | regex_extract (in a child process with a time limit)                            |
| `maths`        | eval_expression (the calculator's evaluator)                                    |
| `code`         | simple_code (Python 3 / JavaScript in the code sandbox, `impl.sandbox`)         |
| `md_exporter`  | md_to_docx, md_to_pptx, md_to_xlsx, md_to_csv, md_to_json, md_to_latex,         |
|                | md_to_html, md_to_html_text, md_to_md, md_to_xml, md_to_ipynb, md_to_codeblock, |
|                | md_to_pdf, md_to_png (plugin `bowenliang123/md_exporter`; PDF/PNG by Chromium)  |
"""

from __future__ import annotations

from dataclasses import dataclass

from impl.providers.routing import Routes, active, provider_key
from impl.tools import code_tool, md_exporter, media, time_tools, utilities, web
from impl.tools.base import Tool, ToolError

BUILTIN: dict[tuple[str, str], Tool] = {
    (t.provider, t.name): t
    for t in (
        *time_tools.TOOLS,
        *web.TOOLS,
        *utilities.TOOLS,
        *media.TOOLS,
        *md_exporter.TOOLS,
        *code_tool.TOOLS,
    )
}
# Other provider names for the same tools (the names older apps of this server used too).
PROVIDER_ALIASES: dict[str, str] = {
    "current_time": "time",
    "math": "calculator",
    "http_get": "http",
    "solid_image": "image",
    "jina_tool": "jina",
    "json": "json_process",
    "charts": "chart",
}
# Tools also reachable under a second provider: (provider, tool) -> (provider, tool).
EXTRA: dict[tuple[str, str], tuple[str, str]] = {("webscraper", "http_get"): ("http", "http_get")}


class ToolNotConfigured(ToolError):
    """The DSL names a tool this server neither carries nor maps to an MCP server."""


@dataclass(frozen=True)
class ToolRef:
    """Where a tool comes from, known without running anything (for import checks)."""

    provider: str
    tool: str
    source: str  # builtin | mcp
    server: str = ""


def _key(provider: str | None) -> str:
    short = provider_key(provider)
    return PROVIDER_ALIASES.get(short, short)


def mcp_server_for(provider: str | None, routes: Routes | None = None) -> str | None:
    """The configured MCP server a DSL tool provider maps to, if any."""
    routes = routes or active()
    name = (provider or "").strip()
    short = name.rsplit("/", 1)[-1]
    if name in routes.tool_providers:
        return routes.tool_providers[name]
    for mapped, server in routes.tool_providers.items():  # short and plugin forms match each other
        if mapped.rsplit("/", 1)[-1].lower() == short.lower():
            return server
    for candidate in (name, short, short.lower()):
        if candidate in routes.mcp_servers:
            return candidate
    return None


def builtin_tool(provider: str | None, tool: str) -> Tool | None:
    """A builtin tool by provider and name; with no provider, by its name alone."""
    if not (provider or "").strip():
        return next((t for (_, name), t in BUILTIN.items() if name == tool), None)
    key = (_key(provider), tool)
    return BUILTIN.get(EXTRA.get(key, key))


def lookup_tool(provider: str | None, tool: str) -> ToolRef | None:
    """Whether `tool` of `provider` is available here, and from where (None: it is not)."""
    found = builtin_tool(provider, tool)
    if found is not None:
        return ToolRef(found.provider, found.name, "builtin")
    server = mcp_server_for(provider)
    if server is not None:
        return ToolRef(str(provider), tool, "mcp", server)
    return None


async def resolve_tool(provider: str | None, tool: str) -> Tool:
    """The runnable tool; `ToolNotConfigured` when the server has no such tool."""
    found = builtin_tool(provider, tool)
    if found is not None:
        return found
    routes = active()
    server = mcp_server_for(provider, routes)
    if server is None:
        raise ToolNotConfigured(
            f"the tool {tool!r} of provider {provider!r} is not available on this server "
            "(map the provider to an MCP server in the DIFY_MODEL_ROUTES file)"
        )
    from impl.tools.mcp import server_tools  # the MCP SDK is loaded on first use only

    for candidate in await server_tools(server, routes.mcp_servers[server], str(provider)):
        if candidate.name == tool:
            return candidate
    raise ToolNotConfigured(f"the MCP server {server!r} has no tool named {tool!r}")


async def provider_tools(provider: str | None) -> list[Tool]:
    """Every tool of a provider (a whole MCP server, or the builtin provider's tools)."""
    key = _key(provider)
    found = [t for (p, _), t in BUILTIN.items() if p == key]
    if found:
        return found
    routes = active()
    server = mcp_server_for(provider, routes)
    if server is None:
        raise ToolNotConfigured(f"the tool provider {provider!r} is not available on this server")
    from impl.tools.mcp import server_tools

    return await server_tools(server, routes.mcp_servers[server], str(provider))
