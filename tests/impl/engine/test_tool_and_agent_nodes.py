"""The `tool` and `agent` nodes on in-memory graphs with the builtin model and builtin tools:
parameters in Dify's forms, outputs (text, files, json), errors through the error strategy,
agent logs, both strategies, and what is refused cleanly."""

from __future__ import annotations

import json
import time
from typing import Any

from test_runner import START, Hooks, edge, end, node, run


def tool(node_id: str, provider: str, name: str, **data: Any) -> dict[str, Any]:
    return node(node_id, "tool", provider_id=provider, provider_type="builtin", tool_name=name, **data)


def agent(
    node_id: str, query: str, tools: list[dict[str, Any]], strategy: str = "function_calling", **params: Any
) -> dict[str, Any]:
    parameters = {
        "model": {
            "type": "constant",
            "value": {"provider": "builtin", "model": "builtin-echo", "completion_params": {}},
        },
        "tools": {"type": "constant", "value": tools},
        "instruction": {"type": "constant", "value": "Use tools."},
        "query": {"type": "mixed", "value": query},
        **{k: {"type": "constant", "value": v} for k, v in params.items()},
    }
    return node(
        node_id,
        "agent",
        agent_strategy_provider_name="langgenius/agent/agent",
        agent_strategy_name=strategy,
        agent_parameters=parameters,
    )


def test_tool_node_parameter_forms_and_outputs() -> None:
    nodes = [
        START,
        tool(
            "parse",
            "langgenius/json_process/json_process",
            "parse",
            tool_parameters={
                "content": {"type": "variable", "value": ["start", "doc"]},
                "json_filter": {"type": "mixed", "value": "$.{{#start.key#}}[1]"},
            },
        ),
        tool(
            "clock",
            "time",
            "current_time",
            tool_configurations={"format": {"type": "constant", "value": "%Y"}, "timezone": "UTC"},
        ),
        tool("chart", "chart", "bar_chart", tool_parameters={"data": {"type": "constant", "value": "1;2;3"}}),
        end(item=["parse", "text"], year=["clock", "text"], files=["chart", "files"], js=["clock", "json"]),
    ]
    edges = [edge("start", "parse"), edge("parse", "clock"), edge("clock", "chart"), edge("chart", "end")]
    outcome, events = run(nodes, edges, {"doc": json.dumps({"xs": ["a", "b"]}), "key": "xs"})
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs["item"] == "b" and outcome.outputs["year"] == time.strftime("%Y", time.gmtime())
    assert outcome.outputs["js"] == [{"data": []}]
    [image] = outcome.outputs["files"]
    assert image["mime_type"] == "image/svg+xml" and image["url"].startswith("data:image/svg+xml;base64,")
    finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "parse"][0]
    assert finished["inputs"] == {"content": '{"xs": ["a", "b"]}', "json_filter": "$.xs[1]"}


def test_tool_node_failures_go_through_the_error_strategy() -> None:
    missing = tool("t", "langgenius/wikipedia/wikipedia", "wikipedia_search")
    outcome, events = run([START, missing, end()], [edge("start", "t"), edge("t", "end")])
    assert outcome.status == "failed" and "not available on this server" in (outcome.error or "")
    failing = tool(
        "t",
        "time",
        "current_time",
        tool_configurations={"timezone": "Mars/Base"},
        error_strategy="default-value",
        default_value=[{"key": "text", "type": "string", "value": "unknown"}],
    )
    outcome, events = run([START, failing, end(out=["t", "text"])], [edge("start", "t"), edge("t", "end")])
    assert outcome.status == "partial-succeeded" and outcome.outputs["out"] == "unknown"
    finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "t"][0]
    assert finished["outputs"]["error_type"] == "ToolInvokeError"
    assert "unknown time zone 'Mars/Base'" in finished["outputs"]["error_message"]


def _time_tool(**settings: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "provider_name": "time",
        "tool_name": "current_time",
        "parameters": {"timezone": {"auto": 0, "value": "UTC"}},
        "settings": {k: {"value": v} for k, v in settings.items()},
    }


def test_agent_node_function_calling_logs_and_outputs() -> None:
    nodes = [
        START,
        agent("a", "what time is it? {{#start.name#}}", [_time_tool(format="%Y")], maximum_iterations="2"),
        end(text=["a", "text"], log=["a", "json"], usage=["a", "usage"]),
    ]
    outcome, events = run(nodes, [edge("start", "a"), edge("a", "end")], {"name": "Ada"})
    assert outcome.status == "succeeded", outcome.error
    year = time.strftime("%Y", time.gmtime())
    assert year in outcome.outputs["text"]
    logs = [d for n, d in events if n == "agent_log"]
    started = [d for n, d in events if n == "node_started" and d["node_id"] == "a"][0]
    assert {log["node_execution_id"] for log in logs} == {started["id"]}
    rounds = [log for log in logs if log["parent_id"] is None]
    assert [(r["label"], r["status"]) for r in rounds] == [
        ("ROUND 1", "start"),
        ("ROUND 1", "success"),
        ("ROUND 2", "start"),
        ("ROUND 2", "success"),
    ]
    call = next(log for log in logs if log["label"] == "CALL current_time")
    assert call["data"]["output"] == year and call["parent_id"] == rounds[0]["id"]
    stored = outcome.outputs["log"]
    assert stored[-1] == {"data": []} and len(stored) == len({log["id"] for log in logs}) + 1
    assert outcome.outputs["usage"]["total_tokens"] > 0


def test_agent_node_react_and_iteration_limit() -> None:
    nodes = [
        START,
        agent("a", "[[tools-forever]] time", [_time_tool()], strategy="ReAct", maximum_iterations="1"),
        end(text=["a", "text"]),
    ]
    outcome, events = run(nodes, [edge("start", "a"), edge("a", "end")])
    assert outcome.status == "succeeded", outcome.error
    rounds = {d["label"] for n, d in events if n == "agent_log" and d["parent_id"] is None}
    assert rounds == {"ROUND 1", "ROUND 2"}  # one round with tools, one last answer without


def test_agent_node_refusals_are_clean() -> None:
    unknown_strategy = agent("a", "hi", [])
    unknown_strategy["data"]["agent_strategy_name"] = "TOD"
    outcome, _ = run([START, unknown_strategy, end()], [edge("start", "a"), edge("a", "end")])
    assert outcome.status == "failed" and "strategy 'TOD'" in (outcome.error or "")
    missing = agent(
        "a",
        "hi",
        [{"enabled": True, "provider_name": "langgenius/google/google", "tool_name": "google_search"}],
    )
    outcome, _ = run([START, missing, end()], [edge("start", "a"), edge("a", "end")])
    assert outcome.status == "failed" and "google_search" in (outcome.error or "")


class FailingHooks(Hooks):
    def build_tool_model(self, model: Any, strategy: str) -> Any:
        from impl.providers import ProviderNotInitializeError

        raise ProviderNotInitializeError(
            "Model provider 'deepseek' is not initialized: set DEEPSEEK_API_KEY."
        )


def test_agent_node_on_an_unconfigured_provider_fails_the_run() -> None:
    outcome, _ = run(
        [START, agent("a", "hi", []), end()], [edge("start", "a"), edge("a", "end")], hooks=FailingHooks()
    )
    assert outcome.status == "failed" and "DEEPSEEK_API_KEY" in (outcome.error or "")
