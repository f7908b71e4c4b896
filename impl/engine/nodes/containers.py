"""iteration and loop: containers that run their child subgraph repeatedly.

Child nodes see the container's state under its id: `item` / `index` inside an iteration,
the loop variables inside a loop. Their events carry `iteration_id` / `loop_id`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from impl.engine.conditions import check_conditions
from impl.engine.graph import Node
from impl.engine.runner import (
    NodeError,
    NodeResult,
    RunFailed,
    RunStopped,
    Scope,
    WorkflowRunner,
    handles,
    now_unix,
)
from impl.engine.variables import selector_of

MAX_LOOP_COUNT = 1000


def _head(node: Node, exec_id: str, scope: Scope) -> dict[str, Any]:
    return {
        "id": exec_id,
        "node_id": node.id,
        "node_type": node.type,
        "title": node.title,
        "created_at": now_unix(),
        "extras": {},
        "iteration_id": scope.iteration_id,
        "loop_id": scope.loop_id,
    }


def _closing(
    head: dict[str, Any], status: str, started: float, tokens: int, steps: int,
    inputs: dict[str, Any], outputs: dict[str, Any] | None, error: str | None,
) -> dict[str, Any]:  # fmt: skip
    data = dict(head)
    data.update(
        {
            "inputs": inputs,
            "outputs": outputs,
            "status": status,
            "error": error,
            "elapsed_time": round(time.monotonic() - started, 6),
            "total_tokens": tokens,
            "execution_metadata": {"total_tokens": tokens},
            "finished_at": now_unix(),
            "steps": steps,
        }
    )
    return data


@handles("iteration")
async def iteration_node(runner: WorkflowRunner, node: Node, scope: Scope) -> NodeResult:
    items = runner.pool.value(selector_of(node.data.get("iterator_selector")))
    if items is None:
        items = []
    if not isinstance(items, list):
        raise NodeError("the iteration's input must be an array", "IteratorVariableNotFoundError")
    mode = str(node.data.get("error_handle_mode") or "terminated")
    output_selector = selector_of(node.data.get("output_selector"))
    head = _head(node, str(uuid.uuid4()), scope)
    inputs = {"iterator_selector": items}
    started, tokens_before = time.monotonic(), runner.total_tokens
    runner.emit("iteration_started", {**head, "inputs": inputs, "metadata": {"iterator_length": len(items)}})
    inner = Scope(container=node.id, iteration_id=node.id, loop_id=None)
    start = runner.graph.start_node(node.id)
    collected: list[Any] = []
    steps = 0

    def emit_stopped() -> None:
        closing = _closing(
            head,
            "stopped",
            started,
            runner.total_tokens - tokens_before,
            steps,
            inputs,
            None,
            "Stopped by user.",
        )
        runner.emit("iteration_completed", closing)

    for index, item in enumerate(items):
        if runner.stopped:
            emit_stopped()
            raise RunStopped()
        runner.emit("iteration_next", {**head, "index": index, "created_at": now_unix()})
        runner.pool.set(node.id, "item", item)
        runner.pool.set(node.id, "index", index)
        steps += 1
        try:
            await runner.run_scope(inner, start)
        except RunStopped:
            emit_stopped()
            raise
        except RunFailed as exc:
            if mode == "continue-on-error":
                collected.append(None)
                continue
            if mode == "remove-abnormal-output":
                continue
            runner.emit(
                "iteration_completed",
                _closing(
                    head,
                    "failed",
                    started,
                    runner.total_tokens - tokens_before,
                    steps,
                    inputs,
                    None,
                    exc.message,
                ),
            )
            raise NodeError(exc.message, "IterationNodeError") from exc
        collected.append(runner.pool.value(output_selector) if output_selector else None)
    outputs = {"output": collected}
    runner.emit(
        "iteration_completed",
        _closing(
            head, "succeeded", started, runner.total_tokens - tokens_before, steps, inputs, outputs, None
        ),
    )
    return NodeResult(outputs=outputs, inputs=inputs)


def _loop_value(runner: WorkflowRunner, item: Mapping[str, Any]) -> Any:
    if item.get("value_type") == "variable":
        return runner.pool.value(selector_of(item.get("value")))
    value = item.get("value")
    kind = str(item.get("var_type") or "string")
    if kind == "number" and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return 0
        return int(number) if number.is_integer() else number
    if kind.startswith("array") and value in (None, ""):
        return []
    if kind == "object" and value in (None, ""):
        return {}
    return value


@handles("loop")
async def loop_node(runner: WorkflowRunner, node: Node, scope: Scope) -> NodeResult:
    data = node.data
    count = int(data.get("loop_count") or 10)
    if not 0 < count <= MAX_LOOP_COUNT:
        raise NodeError(f"loop_count must be between 1 and {MAX_LOOP_COUNT}", "LoopNodeError")
    names: list[str] = []
    for item in data.get("loop_variables") or []:
        if isinstance(item, Mapping) and item.get("label"):
            names.append(str(item["label"]))
            runner.pool.set(node.id, str(item["label"]), _loop_value(runner, item))
    conditions = [c for c in data.get("break_conditions") or [] if isinstance(c, Mapping)]
    operator = str(data.get("logical_operator") or "and")
    head = _head(node, str(uuid.uuid4()), scope)
    inputs = {"loop_count": count}
    started, tokens_before = time.monotonic(), runner.total_tokens
    runner.emit("loop_started", {**head, "inputs": inputs, "metadata": {"loop_length": count}})
    inner = Scope(container=node.id, iteration_id=None, loop_id=node.id)
    start = runner.graph.start_node(node.id)

    def state() -> dict[str, Any]:
        return {name: runner.pool.value([node.id, name]) for name in names}

    rounds = 0
    for index in range(count):
        if conditions and check_conditions(conditions, operator, runner.pool)[0]:
            break
        if runner.stopped:
            runner.emit(
                "loop_completed",
                _closing(
                    head,
                    "stopped",
                    started,
                    runner.total_tokens - tokens_before,
                    rounds,
                    inputs,
                    None,
                    "Stopped by user.",
                ),
            )
            raise RunStopped()
        runner.emit(
            "loop_next", {**head, "index": index, "created_at": now_unix(), "pre_loop_output": state()}
        )
        rounds += 1
        try:
            signal = await runner.run_scope(inner, start)
        except RunStopped:
            runner.emit(
                "loop_completed",
                _closing(
                    head,
                    "stopped",
                    started,
                    runner.total_tokens - tokens_before,
                    rounds,
                    inputs,
                    None,
                    "Stopped by user.",
                ),
            )
            raise
        except RunFailed as exc:
            runner.emit(
                "loop_completed",
                _closing(
                    head,
                    "failed",
                    started,
                    runner.total_tokens - tokens_before,
                    rounds,
                    inputs,
                    None,
                    exc.message,
                ),
            )
            raise NodeError(exc.message, "LoopNodeError") from exc
        if signal == "break":
            break
    outputs = state()
    runner.emit(
        "loop_completed",
        _closing(
            head, "succeeded", started, runner.total_tokens - tokens_before, rounds, inputs, outputs, None
        ),
    )
    return NodeResult(outputs=outputs, inputs=inputs)
