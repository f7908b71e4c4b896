"""The tools an agent-chat app enables in its DSL (`agent_mode.tools`), bound to the one tool
registry (`impl.tools`) that workflow tool and agent nodes use too.

An entry names `provider_id` (short or plugin form; `provider_type` builtin, mcp, api, workflow)
and `tool_name`; its `tool_parameters` fix parameter values.  Disabled entries are skipped.  An
enabled entry whose tool this server neither carries nor maps to an MCP server is left out of the
turn, as Dify's agent runner leaves out a tool it cannot load: `missing_tools` lists them (import
and `dify-service apps check` warn, each turn logs them) and the model answers with the tools that
remain.  A failing tool never ends the answer: its error becomes the observation the model reads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from impl import runtime
from impl.engine.nodes.knowledge import DatasetInfo
from impl.knowledge import LocalKnowledge
from impl.services.apps.chat_config import dataset_ids
from impl.tools import (
    Param,
    Tool,
    ToolContext,
    ToolError,
    ToolFile,
    ToolResult,
    lookup_tool,
    resolve_tool,
)
from impl.tools import (
    invoke as invoke_tool,
)

_log = logging.getLogger(__name__)

__all__ = [
    "ConfiguredTool",
    "Observation",
    "ToolFile",
    "configured_tools",
    "dataset_tools",
    "invoke",
    "missing_tools",
]


@dataclass(frozen=True)
class ConfiguredTool:
    """A tool enabled in an app's DSL, with the parameter values the DSL fixes."""

    tool: Tool
    fixed: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class Observation:
    text: str
    files: tuple[ToolFile, ...] = ()


def _entries(agent_mode: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not isinstance(agent_mode, Mapping) or agent_mode.get("enabled", True) is False:
        return []
    tools = agent_mode.get("tools") or []
    return [
        e
        for e in (tools if isinstance(tools, list) else [])
        if isinstance(e, Mapping) and e.get("enabled", True) is not False and e.get("tool_name")
    ]


def _provider(entry: Mapping[str, Any]) -> str:
    return str(entry.get("provider_id") or entry.get("provider_name") or "")


def missing_tools(agent_mode: Mapping[str, Any] | None) -> list[str]:
    """`provider/tool` of each enabled tool this server cannot run."""
    return [
        f"{_provider(e)}/{e['tool_name']}"
        for e in _entries(agent_mode)
        if lookup_tool(_provider(e), str(e["tool_name"])) is None
    ]


async def configured_tools(agent_mode: Mapping[str, Any] | None) -> list[ConfiguredTool]:
    """The enabled tools, resolved (MCP servers are asked for their tool lists).  A tool that
    cannot be resolved (not carried here, or its MCP server does not answer) is left out with a
    logged warning."""
    found: list[ConfiguredTool] = []
    for entry in _entries(agent_mode):
        try:
            tool = await resolve_tool(_provider(entry), str(entry["tool_name"]))
        except ToolError as exc:
            _log.warning(
                "agent tool %s/%s left out of the turn: %s", _provider(entry), entry["tool_name"], exc
            )
            continue
        if any(c.tool.name == tool.name for c in found):
            continue
        fixed = entry.get("tool_parameters")
        label = entry.get("tool_label")
        found.append(
            ConfiguredTool(tool, dict(fixed) if isinstance(fixed, Mapping) else {}, str(label or tool.label))
        )
    return found


def _dataset_tool(kb: LocalKnowledge, dataset: DatasetInfo) -> ConfiguredTool:
    """One available dataset as a tool (Dify's `DatasetRetrieverTool`): `dataset_<id>` with a
    `query` argument; the observation is the matching passages, best first, one per line."""

    async def run(args: Mapping[str, Any], _ctx: ToolContext) -> ToolResult:
        query = str(args.get("query") or "")
        if not query:
            return ToolResult(text="")
        passages = await kb.search(dataset.id, query, dataset.top_k, dataset.score_threshold)
        if passages:
            await kb.record_hits([p.segment_id for p in passages])
        return ToolResult(text="\n".join(p.content for p in passages))

    description = (
        dataset.description or f"useful for when you want to answer queries about the {dataset.name}"
    )
    tool = Tool(
        provider="dataset",
        name="dataset_" + dataset.id.replace("-", "_"),
        label=dataset.name,
        description=description.replace("\n", " "),
        params=(
            Param(
                "query",
                required=True,
                description="Query for the dataset to be used to retrieve the dataset.",
            ),
        ),
        run=run,
        origin="dataset",
    )
    return ConfiguredTool(tool, {}, dataset.name)


async def dataset_tools(model_config: Mapping[str, Any] | None) -> list[ConfiguredTool]:
    """The app's available datasets (`dataset_configs`, mapped to local files) as retrieval tools."""
    ids = dataset_ids(model_config or {})
    if not ids:
        return []
    kb = LocalKnowledge(runtime.current().database)
    return [_dataset_tool(kb, d) for d in await kb.available(ids)]


def allowed_hosts() -> tuple[str, ...]:
    """Where tools may reach non-public addresses: the server's outbound allow-list."""
    return runtime.current().settings.outbound_allowed_hosts


async def invoke(
    tools: list[ConfiguredTool],
    name: str,
    arguments: str,
    timeout: float = 30.0,
    allowed: tuple[str, ...] | None = None,
) -> Observation:
    """Run one tool call; every failure comes back as a `tool invoke error` text."""
    configured = next((c for c in tools if c.tool.name == name), None)
    if configured is None:
        return Observation(f"there is not a tool named {name}")
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return Observation(f"tool invoke error: the arguments are not valid JSON: {arguments[:200]}")
    if not isinstance(parsed, dict):
        return Observation("tool invoke error: the arguments must be a JSON object")
    args = {**parsed, **{k: v for k, v in configured.fixed.items() if v not in (None, "")}}
    ctx = ToolContext(allowed_hosts=allowed_hosts() if allowed is None else allowed, timeout=timeout)
    try:
        result: ToolResult = await invoke_tool(configured.tool, args, ctx)
    except ToolError as exc:
        return Observation(f"tool invoke error: {exc}")
    return Observation(result.observation() if not result.text else result.text, result.files)
