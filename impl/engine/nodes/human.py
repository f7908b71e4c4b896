"""human-input: the run pauses until someone submits the node's form (or it expires).

The engine only describes the form and waits; the service stores it, hands out the single-use
token, emits `human_input_required` / `workflow_paused`, and resumes the run on submission.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from impl.engine.graph import SOURCE, Node
from impl.engine.runner import NodeError, NodeResult, Scope, WorkflowRunner, handles
from impl.engine.variables import selector_of, to_text

OUTPUT_PLACEHOLDER = re.compile(r"\{\{#\$output\.([A-Za-z0-9_]+)#\}\}")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
DEFAULT_TIMEOUT = 86400
TIMEOUT_HANDLE = "__timeout"


def timeout_seconds(data: Mapping[str, Any]) -> int:
    raw = data.get("timeout")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw > 0:
        return int(raw * UNIT_SECONDS.get(str(data.get("timeout_unit") or "hour"), 3600))
    return DEFAULT_TIMEOUT


def describe_form(runner: WorkflowRunner, node: Node) -> dict[str, Any]:
    data = node.data
    inputs = [
        dict(i) for i in data.get("inputs") or [] if isinstance(i, Mapping) and i.get("output_variable_name")
    ]
    defaults: dict[str, str] = {}
    for item in inputs:
        default = item.get("default")
        if isinstance(default, Mapping):
            if default.get("type") == "variable":
                defaults[str(item["output_variable_name"])] = to_text(
                    runner.pool.value(selector_of(default.get("selector")))
                )
            elif default.get("value") is not None:
                defaults[str(item["output_variable_name"])] = str(default.get("value"))
    actions = [
        {
            "id": str(a.get("id")),
            "title": str(a.get("title") or a.get("id")),
            "button_style": str(a.get("button_style") or "default"),
        }
        for a in data.get("user_actions") or []
        if isinstance(a, Mapping) and a.get("id")
    ]
    if not actions:
        actions = [{"id": "submit", "title": "Submit", "button_style": "primary"}]
    return {
        "form_content": runner.pool.render(str(data.get("form_content") or "")),
        "inputs": inputs,
        "user_actions": actions,
        "resolved_default_values": defaults,
        "timeout_seconds": timeout_seconds(data),
    }


def render_content(content: str, values: Mapping[str, Any]) -> str:
    return OUTPUT_PLACEHOLDER.sub(lambda m: to_text(values.get(m.group(1))), content)


@handles("human-input")
async def human_input_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    form = describe_form(runner, node)
    outcome = await runner.hooks.pause(runner, node, form)
    handles_out = {e.source_handle for e in runner.graph.outgoing(node.id)}
    timed_out = bool(outcome.get("timed_out"))
    if timed_out and TIMEOUT_HANDLE not in handles_out:
        raise NodeError("the human-input form expired before anyone submitted it", "HumanInputTimeoutError")
    values = {} if timed_out else dict(outcome.get("inputs") or {})
    action = TIMEOUT_HANDLE if timed_out else str(outcome.get("action") or "")
    outputs: dict[str, Any] = {}
    for item in form["inputs"]:
        name = str(item["output_variable_name"])
        outputs[name] = values.get(name, form["resolved_default_values"].get(name, ""))
    outputs["__action_id"] = action
    outputs["__rendered_content"] = render_content(form["form_content"], outputs)
    return NodeResult(
        outputs=outputs,
        inputs={},
        handle=action if action in handles_out else SOURCE,
    )
