"""The workflow `tool` node: runs a tool of the registry (`impl.tools`) with the node's parameters.

Parameters follow Dify's node data: `tool_parameters` maps a name to `{type, value}` where `type`
is `mixed` (a template rendered against the variable pool), `variable` (a selector) or `constant`;
`tool_configurations` holds the form parameters (plain values, or `{type, value}` in newer DSLs).
Outputs are Dify's: `text` (the text the tool produced), `files` (files it made, stored through
the hooks) and `json` (its JSON objects, or `[{"data": []}]` when it made none).  A tool this
server does not carry (nor map to an MCP server) fails the node with `ToolNodeError`; a tool that
fails fails it with `ToolInvokeError` (both go through the node's error strategy).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from impl.engine.graph import Node
from impl.engine.runner import NodeError, NodeResult, Scope, WorkflowRunner, handles
from impl.engine.variables import selector_of
from impl.tools import (
    Tool,
    ToolContext,
    ToolError,
    ToolFile,
    ToolNotConfigured,
    ToolResult,
    invoke,
    resolve_tool,
)


def tool_context(runner: WorkflowRunner) -> ToolContext:
    return ToolContext(allowed_hosts=tuple(sorted(runner.hooks.http_allowed_hosts)))


async def store_file(runner: WorkflowRunner, file: ToolFile) -> dict[str, Any]:
    """The engine's file mapping for a file a tool made: stored by the hooks when they can
    (`store_tool_file`), else carried inline as a `data:` URL."""
    store = getattr(runner.hooks, "store_tool_file", None)
    if store is not None:
        stored: dict[str, Any] = await store(file)
        return stored
    extension = file.filename.rsplit(".", 1)[-1].lower() if "." in file.filename else ""
    url = f"data:{file.mime_type};base64,{base64.b64encode(file.data).decode()}"
    return {
        "id": None,
        "related_id": None,
        "upload_file_id": None,
        "type": file.type,
        "transfer_method": "tool_file",
        "filename": file.filename,
        "extension": f".{extension}" if extension else None,
        "mime_type": file.mime_type,
        "size": len(file.data),
        "url": url,
        "remote_url": None,
    }


def parameter_value(runner: WorkflowRunner, raw: Any) -> Any:
    """A `{type, value}` parameter of a tool or agent node, resolved against the pool."""
    if not isinstance(raw, Mapping) or "type" not in raw:
        return raw
    kind, value = raw.get("type"), raw.get("value")
    if kind == "variable":
        return runner.pool.value(selector_of(value))
    if kind == "mixed" and isinstance(value, str):
        return runner.pool.render(value)
    return value


async def outputs_of(runner: WorkflowRunner, result: ToolResult) -> dict[str, Any]:
    files = [await store_file(runner, f) for f in result.files]
    return {"text": result.text, "files": files, "json": list(result.json) or [{"data": []}]}


def tool_info(node: Node) -> dict[str, Any]:
    data = node.data
    return {
        "provider_type": str(data.get("provider_type") or "builtin"),
        "provider_id": str(data.get("provider_id") or data.get("provider_name") or ""),
    }


@handles("tool")
async def tool_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    data = node.data
    provider = str(data.get("provider_id") or data.get("provider_name") or "")
    name = str(data.get("tool_name") or "")
    try:
        tool: Tool = await resolve_tool(provider, name)
    except ToolNotConfigured as exc:
        raise NodeError(str(exc), "ToolNodeError") from exc
    except ToolError as exc:
        raise NodeError(f"Failed to load tool {provider}/{name}: {exc}", "ToolNodeError") from exc
    args: dict[str, Any] = {}
    configurations = data.get("tool_configurations")
    for key, raw in configurations.items() if isinstance(configurations, Mapping) else []:
        args[str(key)] = parameter_value(runner, raw)
    parameters = data.get("tool_parameters")
    for key, raw in parameters.items() if isinstance(parameters, Mapping) else []:
        args[str(key)] = parameter_value(runner, raw)
    try:
        result = await invoke(tool, args, tool_context(runner))
    except ToolError as exc:
        raise NodeError(f"Failed to invoke tool {provider}/{name}: {exc}", "ToolInvokeError") from exc
    return NodeResult(
        outputs=await outputs_of(runner, result),
        inputs=args,
        process_data={"tool_info": tool_info(node)},
    )
