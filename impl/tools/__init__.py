"""The tool registry shared by workflow tool nodes, agent nodes and agent-chat apps: builtin
tools (offline or through the outbound address policy) and tools of configured MCP servers.

It sits beside `impl.engine` and below `impl.services`: it imports `impl.providers` (routing, the
images endpoint) and `impl.outbound`, nothing above.
"""

import asyncio
from collections.abc import Mapping
from typing import Any

from impl.tools.base import Param, Tool, ToolContext, ToolError, ToolFile, ToolResult
from impl.tools.registry import (
    BUILTIN,
    ToolNotConfigured,
    ToolRef,
    builtin_tool,
    lookup_tool,
    mcp_server_for,
    provider_tools,
    resolve_tool,
)

__all__ = [
    "BUILTIN",
    "Param",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolFile",
    "ToolNotConfigured",
    "ToolRef",
    "ToolResult",
    "builtin_tool",
    "invoke",
    "lookup_tool",
    "mcp_server_for",
    "provider_tools",
    "resolve_tool",
]


async def invoke(tool: Tool, given: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
    """Run a tool with Dify's argument handling; every failure is a `ToolError`."""
    args = tool.arguments(given) if tool.input_schema is None else dict(given)
    try:
        return await asyncio.wait_for(tool.run(args, ctx), ctx.timeout)
    except ToolError:
        raise
    except TimeoutError:
        raise ToolError(f"{tool.name} did not finish within {ctx.timeout:g} s") from None
    except Exception as exc:  # a tool bug is the tool's failure, never the server's
        raise ToolError(f"{exc.__class__.__name__}: {exc}") from None
