"""The workflow `agent` node: Dify's agent strategies (`function_calling`, `ReAct`) on the node's
routed model with tools of the registry (`impl.tools`).

Node data as Dify exports it: `agent_strategy_provider_name` (`langgenius/agent/agent`),
`agent_strategy_name`, and `agent_parameters`, each `{type, value}`: `model` (a model selector:
provider, model, completion_params), `tools` (entries with `provider_name`, `tool_name`,
`parameters` — `auto: 1` lets the model fill one, `auto: 0` fixes its `value` — and `settings`),
`instruction` and `query` (templates), `maximum_iterations` (default 3).  MCP-agent strategies
(`mcp_sse_function_calling` …) run as function calling, with the tools of the servers their
`mcp_servers_config` names when the routing file configures servers of those names (a URL in a
DSL is never connected to).

Each round is logged as Dify's agent plugin logs it: an `agent_log` record `ROUND n` (status
`start`, then `success`) with a child for the model's reply and one per tool call
(`CALL <tool>`).  Outputs: `text`, `usage`, `files` (tool files), `json` (the log records, then
`{"data": []}`).  A strategy this server does not know, or a tool it does not have, fails the
node with `AgentNodeError`.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from impl.engine.graph import Node
from impl.engine.nodes.llm import usage_json
from impl.engine.nodes.tool import parameter_value, store_file, tool_context
from impl.engine.runner import NodeError, NodeResult, Scope, WorkflowRunner, handles
from impl.providers import ModelConfig, TextDelta, Usage, build_tool_model, until_stopped
from impl.providers.function_calling import AgentTurn, FunctionCallingModel, ThoughtText, ToolCall, ToolCalls
from impl.providers.routing import active
from impl.tools import Tool, ToolError, invoke, provider_tools, resolve_tool

DEFAULT_MAX_ITERATIONS = 3
MAX_ITERATIONS = 99
STRATEGIES = {"function_calling": "function_call", "react": "react"}


@dataclass
class Bound:
    tool: Tool
    fixed: dict[str, Any] = field(default_factory=dict)


def _param(runner: WorkflowRunner, node: Node, name: str) -> Any:
    params = node.data.get("agent_parameters")
    raw = params.get(name) if isinstance(params, Mapping) else None
    return parameter_value(runner, raw) if isinstance(raw, Mapping) else raw


def _strategy(node: Node) -> str:
    name = str(node.data.get("agent_strategy_name") or "function_calling")
    if name.lower() in STRATEGIES:
        return STRATEGIES[name.lower()]
    if name.lower().startswith("mcp") and "react" not in name.lower():
        return "function_call"
    provider = node.data.get("agent_strategy_provider_name")
    raise NodeError(
        f"the agent strategy {name!r} of {provider!r} is not available on this server", "AgentNodeError"
    )


def _model(runner: WorkflowRunner, node: Node, strategy: str) -> tuple[FunctionCallingModel, dict[str, Any]]:
    value = _param(runner, node, "model")
    if not isinstance(value, Mapping) or not value.get("provider"):
        raise NodeError(f"agent node {node.id} has no model", "AgentNodeError")
    params = value.get("completion_params")
    params = dict(params) if isinstance(params, Mapping) else {}
    section: dict[str, Any] = {
        "provider": str(value["provider"]),
        "name": str(value.get("model") or value.get("name") or ""),
        "mode": str(value.get("mode") or "chat"),
        "completion_params": params,
    }
    build = getattr(runner.hooks, "build_tool_model", None)
    if build is not None:
        model: FunctionCallingModel = build(section, strategy)
    else:
        config = ModelConfig(
            provider=str(section["provider"]), name=str(section["name"]), completion_params=params
        )
        model = build_tool_model(config, strategy)
    return model, params


async def _tools(runner: WorkflowRunner, node: Node) -> list[Bound]:
    bound: list[Bound] = []
    entries = _param(runner, node, "tools")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping) or entry.get("enabled", True) is False:
            continue
        provider, name = str(entry.get("provider_name") or ""), str(entry.get("tool_name") or "")
        try:
            tool = await resolve_tool(provider, name)
        except ToolError as exc:
            raise NodeError(str(exc), "AgentNodeError") from exc
        fixed: dict[str, Any] = {}
        for key, setting in (entry.get("settings") or {}).items():
            value = setting.get("value") if isinstance(setting, Mapping) else setting
            if value not in (None, ""):
                fixed[str(key)] = parameter_value(runner, value)
        for key, param in (entry.get("parameters") or {}).items():
            if isinstance(param, Mapping) and not param.get("auto") and param.get("value") not in (None, ""):
                fixed[str(key)] = parameter_value(runner, param.get("value"))
        if all(b.tool.name != tool.name for b in bound):
            bound.append(Bound(tool, fixed))
    config = _param(runner, node, "mcp_servers_config")
    if isinstance(config, str) and config.strip():
        try:
            servers = json.loads(config)
        except ValueError:
            servers = {}
        configured = active().mcp_servers
        for server in servers if isinstance(servers, Mapping) else {}:
            if str(server) in configured:
                try:
                    found = await provider_tools(str(server))
                except ToolError as exc:
                    raise NodeError(str(exc), "AgentNodeError") from exc
                bound.extend(Bound(t) for t in found if all(b.tool.name != t.name for b in bound))
    return bound


class AgentLog:
    """Emits `agent_log` records and keeps them for the `json` output."""

    def __init__(self, runner: WorkflowRunner, node: Node) -> None:
        self.runner = runner
        self.node = node
        self.execution_id = getattr(runner, "execution_ids", {}).get(node.id, "")
        self.records: dict[str, dict[str, Any]] = {}

    def put(
        self,
        label: str,
        status: str,
        data: Mapping[str, Any],
        *,
        log_id: str | None = None,
        parent: str | None = None,
        error: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        log_id = log_id or str(uuid.uuid4())
        record = {
            "node_execution_id": self.execution_id,
            "id": log_id,
            "label": label,
            "parent_id": parent,
            "error": error,
            "status": status,
            "data": dict(data),
            "metadata": dict(metadata or {}),
            "node_id": self.node.id,
        }
        self.records[log_id] = record
        self.runner.emit("agent_log", record)
        return log_id

    def json(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "node_execution_id"} for r in self.records.values()]


@handles("agent")
async def agent_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    strategy = _strategy(node)
    model, params = _model(runner, node, strategy)
    tools = await _tools(runner, node)
    instruction = str(_param(runner, node, "instruction") or "")
    query = str(_param(runner, node, "query") or "")
    try:
        limit = int(str(_param(runner, node, "maximum_iterations") or DEFAULT_MAX_ITERATIONS))
    except ValueError:
        limit = DEFAULT_MAX_ITERATIONS
    limit = max(1, min(limit, MAX_ITERATIONS))
    turns: list[AgentTurn] = [AgentTurn("system", instruction)] if instruction else []
    if isinstance(node.data.get("memory"), Mapping):
        turns += [AgentTurn(m.role, m.content) for m in runner.hooks.history]
    turns.append(AgentTurn("user", query))
    log = AgentLog(runner, node)
    text_parts: list[str] = []
    files: list[dict[str, Any]] = []
    usage = Usage(0, 0)
    specs = [b.tool.spec() for b in tools]
    ctx = tool_context(runner)
    for round_no in range(1, limit + 2):
        offer = bool(tools) and round_no <= limit
        started = time.monotonic()
        round_id = log.put(f"ROUND {round_no}", "start", {})
        reply: list[str] = []
        said = ""
        calls: tuple[ToolCall, ...] = ()
        items = until_stopped(
            model.stream_tools(turns, specs if offer else [], params),
            runner.stop_event,
            on_stop=runner.check_stop,
        )
        async with contextlib.aclosing(items):
            async for item in items:
                if isinstance(item, TextDelta):
                    reply.append(item.text)
                    text_parts.append(item.text)
                    runner.stream_delta(node, item.text)
                elif isinstance(item, ToolCalls):
                    calls = item.calls
                elif isinstance(item, ThoughtText):
                    said = item.text
                else:
                    usage = Usage(
                        usage.prompt_tokens + item.prompt_tokens,
                        usage.completion_tokens + item.completion_tokens,
                    )
        thought = said or "".join(reply)
        log.put(
            str(getattr(model, "name", "") or "Thought"),
            "success",
            {"output": thought, "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in calls]},
            parent=round_id,
        )
        if not calls:
            log.put(
                f"ROUND {round_no}",
                "success",
                {"output": {"llm_response": thought, "tool_responses": []}},
                log_id=round_id,
                metadata={"elapsed_time": round(time.monotonic() - started, 6)},
            )
            break
        turns.append(AgentTurn("assistant", thought, tool_calls=calls))
        responses = []
        for call in calls:
            observation = await _call(runner, tools, call, ctx, files)
            log.put(
                f"CALL {call.name}",
                "success",
                {"tool_name": call.name, "tool_call_args": call.arguments, "output": observation},
                parent=round_id,
            )
            responses.append(
                {"tool_call_id": call.id, "tool_call_name": call.name, "tool_response": observation}
            )
            turns.append(AgentTurn("tool", observation, tool_call_id=call.id, name=call.name))
        log.put(
            f"ROUND {round_no}",
            "success",
            {"output": {"llm_response": thought, "tool_responses": responses}},
            log_id=round_id,
            metadata={"elapsed_time": round(time.monotonic() - started, 6)},
        )
    outputs = {
        "text": "".join(text_parts),
        "usage": usage_json(usage),
        "files": files,
        "json": [*log.json(), {"data": []}],
    }
    inputs = {"instruction": instruction, "query": query, "tools": [b.tool.name for b in tools]}
    return NodeResult(
        outputs=outputs, inputs=inputs, tokens=usage.total_tokens, prompt_tokens=usage.prompt_tokens
    )


async def _call(
    runner: WorkflowRunner, tools: list[Bound], call: ToolCall, ctx: Any, files: list[dict[str, Any]]
) -> str:
    """Run one tool call; a failure becomes the observation the model reads."""
    bound = next((b for b in tools if b.tool.name == call.name), None)
    if bound is None:
        return f"there is not a tool named {call.name}"
    try:
        parsed = json.loads(call.arguments or "{}")
    except ValueError:
        return f"tool invoke error: the arguments are not valid JSON: {call.arguments[:200]}"
    if not isinstance(parsed, dict):
        return "tool invoke error: the arguments must be a JSON object"
    try:
        result = await invoke(bound.tool, {**parsed, **bound.fixed}, ctx)
    except ToolError as exc:
        return f"tool invoke error: {exc}"
    for file in result.files:
        files.append(await store_file(runner, file))
    return result.observation()
