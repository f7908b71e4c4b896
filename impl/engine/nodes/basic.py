"""start, end, answer, template-transform, if-else, variable-aggregator, variable assigner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from impl.engine.conditions import check_conditions
from impl.engine.graph import Node
from impl.engine.runner import NodeError, NodeResult, Scope, WorkflowRunner, handles
from impl.engine.variables import MISSING, selector_of

MAX_TEMPLATE_OUTPUT = 400_000
# Dify renders templates with jinja2's defaults (its sandbox runs `jinja2.Template(...)`), which
# drop one trailing newline: `keep_trailing_newline=False`.
_JINJA = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


@handles("start")
async def start_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    inputs = dict(runner.pool.values.get(node.id, {}))
    outputs = dict(inputs)
    for name, value in runner.pool.values.get("sys", {}).items():
        outputs[f"sys.{name}"] = value
    return NodeResult(outputs=outputs, inputs=inputs)


@handles("iteration-start", "loop-start", "loop-end")
async def marker_node(_runner: WorkflowRunner, _node: Node, _scope: Scope) -> NodeResult:
    return NodeResult(outputs={})


@handles("end")
async def end_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    outputs: dict[str, Any] = {}
    for item in node.data.get("outputs") or []:
        if not isinstance(item, Mapping) or not item.get("variable"):
            continue
        outputs[str(item["variable"])] = runner.pool.value(selector_of(item.get("value_selector")))
    runner.outputs = dict(outputs)
    return NodeResult(outputs=outputs, inputs=dict(outputs))


@handles("answer")
async def answer_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    assert runner.router is not None
    text = runner.router.finish(node.id)
    return NodeResult(outputs={"answer": text, "files": []})


def _variables(runner: WorkflowRunner, node: Node) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in node.data.get("variables") or []:
        if isinstance(item, Mapping) and item.get("variable"):
            found[str(item["variable"])] = runner.pool.value(selector_of(item.get("value_selector")))
    return found


def render_jinja(template: str, variables: Mapping[str, Any]) -> str:
    try:
        text = _JINJA.from_string(template).render(**variables)
    except TemplateError as exc:
        raise NodeError(f"template error: {exc}", "TemplateTransformError") from exc
    except Exception as exc:  # errors raised by the template's own expressions
        raise NodeError(f"template error: {type(exc).__name__}: {exc}", "TemplateTransformError") from exc
    if len(text) > MAX_TEMPLATE_OUTPUT:
        # api/core/workflow/nodes/template_transform/template_transform_node.py
        raise NodeError(f"Output length exceeds {MAX_TEMPLATE_OUTPUT} characters", "TemplateTransformError")
    return text


@handles("template-transform")
async def template_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    variables = _variables(runner, node)
    text = render_jinja(str(node.data.get("template") or ""), variables)
    return NodeResult(outputs={"output": text}, inputs=variables)


@handles("if-else")
async def if_else_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    cases = node.data.get("cases")
    if not isinstance(cases, list):
        cases = [
            {
                "case_id": "true",
                "logical_operator": node.data.get("logical_operator") or "and",
                "conditions": node.data.get("conditions") or [],
            }
        ]
    traces: list[dict[str, Any]] = []
    for case in cases:
        if not isinstance(case, Mapping):
            continue
        ok, trace = check_conditions(
            case.get("conditions") or [], str(case.get("logical_operator") or "and"), runner.pool
        )
        traces.append({"case_id": case.get("case_id"), "conditions": trace, "result": ok})
        if ok:
            case_id = str(case.get("case_id") or "true")
            return NodeResult(
                outputs={"result": True, "selected_case_id": case_id},
                process_data={"condition_results": traces},
                handle=case_id,
            )
    return NodeResult(
        outputs={"result": False, "selected_case_id": "false"},
        process_data={"condition_results": traces},
        handle="false",
    )


def _aggregate(runner: WorkflowRunner, selectors: Any) -> Any:
    for raw in selectors or []:
        value = runner.pool.get(selector_of(raw))
        if value is not MISSING and value is not None:
            return value
    return None


async def aggregator(runner: WorkflowRunner, node: Node) -> NodeResult:
    settings = node.data.get("advanced_settings")
    if isinstance(settings, Mapping) and settings.get("group_enabled"):
        outputs: dict[str, Any] = {}
        for group in settings.get("groups") or []:
            if isinstance(group, Mapping) and group.get("group_name"):
                outputs[str(group["group_name"])] = {"output": _aggregate(runner, group.get("variables"))}
        return NodeResult(outputs=outputs)
    return NodeResult(outputs={"output": _aggregate(runner, node.data.get("variables"))})


def _empty_like(value: Any) -> Any:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return 0
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return ""


def _number(value: Any, what: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NodeError(f"{what} must be a number", "VariableOperatorNodeError")
    return value


def apply_operation(current: Any, operation: str, value: Any) -> Any:
    """One assigner operation on a variable's current value."""
    if operation in ("over-write", "set"):
        return value
    if operation == "clear":
        return _empty_like(current)
    if operation == "append":
        if not isinstance(current, list):
            raise NodeError("append needs an array variable", "VariableOperatorNodeError")
        return [*current, value]
    if operation == "extend":
        if not isinstance(current, list) or not isinstance(value, list):
            raise NodeError("extend needs an array variable and an array value", "VariableOperatorNodeError")
        return [*current, *value]
    if operation in ("remove-first", "remove-last"):
        if not isinstance(current, list):
            raise NodeError(f"{operation} needs an array variable", "VariableOperatorNodeError")
        return current[1:] if operation == "remove-first" else current[:-1]
    if operation in ("+=", "-=", "*=", "/="):
        left, right = _number(current, "the variable"), _number(value, "the value")
        if operation == "+=":
            return left + right
        if operation == "-=":
            return left - right
        if operation == "*=":
            return left * right
        if right == 0:
            raise NodeError("division by zero", "VariableOperatorNodeError")
        result = left / right
        return int(result) if isinstance(left, int) and result.is_integer() else result
    raise NodeError(f"unknown assigner operation {operation!r}", "VariableOperatorNodeError")


async def _write(runner: WorkflowRunner, selector: list[str], value: Any) -> None:
    runner.pool.set(selector[0], selector[1], value)
    if selector[0] == "conversation":
        await runner.hooks.write_conversation_variable(selector[1], value)


async def assigner(runner: WorkflowRunner, node: Node) -> NodeResult:
    data = node.data
    items: list[dict[str, Any]] = []
    if isinstance(data.get("items"), list):
        for item in data["items"]:
            if not isinstance(item, Mapping):
                continue
            raw_value = item.get("value")
            if item.get("input_type") == "variable" or (
                item.get("input_type") is None and selector_of(raw_value) is not None
            ):
                value = runner.pool.value(selector_of(raw_value))
            else:
                value = raw_value
            items.append(
                {
                    "selector": selector_of(item.get("variable_selector")),
                    "operation": str(item.get("operation") or "over-write"),
                    "value": value,
                }
            )
    else:
        items.append(
            {
                "selector": selector_of(data.get("assigned_variable_selector")),
                "operation": str(data.get("write_mode") or "over-write"),
                "value": runner.pool.value(selector_of(data.get("input_variable_selector"))),
            }
        )
    updated: list[dict[str, Any]] = []
    for item in items:
        selector = item["selector"]
        if not selector:
            raise NodeError("the assigner has no target variable", "VariableOperatorNodeError")
        current = runner.pool.get(selector[:2])
        if current is MISSING:
            raise NodeError(f"variable {'.'.join(selector)} does not exist", "VariableOperatorNodeError")
        new = apply_operation(current, item["operation"], item["value"])
        await _write(runner, selector[:2], new)
        updated.append({"selector": selector[:2], "operation": item["operation"], "new_value": new})
    return NodeResult(outputs={}, process_data={"updated_variables": updated})


@handles("variable-aggregator", "variable-assigner", "assigner")
async def variable_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    data = node.data
    is_assigner = node.type == "assigner" or "items" in data or "assigned_variable_selector" in data
    if is_assigner:
        return await assigner(runner, node)
    return await aggregator(runner, node)
