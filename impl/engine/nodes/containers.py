"""iteration and loop: containers that run their child subgraph repeatedly.

Child nodes see the container's state under its id: `item` / `index` inside an iteration,
the loop variables inside a loop. Their events carry `iteration_id` / `loop_id`. The containers
themselves send only their own `*_started` / `*_next` / `*_completed` events (see the runner).

Iteration, after Dify's `api/core/workflow/nodes/iteration/iteration_node.py`:
* an empty (or null) input runs nothing and sends no events; output `[]`;
* a missing input variable or a non-array fails the node;
* every round runs on its own copy of the variable pool; conversation variables written in a
  round are copied back when it ends;
* sequential: `iteration_next` (index) before each round; parallel (`is_parallel`): every
  `iteration_next` first, then up to `parallel_nums` rounds at once, each round's events sent
  together when it ends (in the order rounds end); outputs keep the input order either way;
* `error_handle_mode`: `terminated` fails the node, `continue-on-error` puts null in the failed
  round's place, `remove-abnormal-output` drops null outputs;
* with `flatten_output` (default true) a list of lists is flattened;
* `iteration_completed` has status succeeded or failed and `error` null; `steps` counts the
  rounds that ran (Dify sends the input length: spec/DEVIATIONS.md D22).

Loop, after `api/core/workflow/nodes/loop/loop_node.py`:
* loop variables: constants are typed by `var_type` (array and object constants are JSON text,
  numbers may be text); `variable` values are read from the pool;
* the break conditions are checked before the first round (met: no round runs) and after each;
* `loop_next` (index = rounds done) follows every round that does not end the loop, with an
  empty `pre_loop_output`; a `loop-end` node ends the loop after its round;
* outputs: the loop variables and `loop_round`; `steps` counts the rounds that ran (Dify sends
  the configured count: spec/DEVIATIONS.md D22).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from impl.engine.conditions import check_conditions
from impl.engine.graph import GraphError, Node
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
from impl.engine.variables import MISSING, VariablePool, selector_of

MAX_LOOP_COUNT = 1000
DEFAULT_PARALLEL_NUMS = 10
Event = tuple[str, dict[str, Any]]


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
    inputs: dict[str, Any], outputs: dict[str, Any] | None, metadata: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    data = dict(head)
    data.update(
        {
            "inputs": inputs,
            "outputs": outputs,
            "status": status,
            "error": None,
            "elapsed_time": round(time.monotonic() - started, 6),
            "total_tokens": tokens,
            "execution_metadata": {"total_tokens": tokens, "total_price": "0", "currency": "USD", **metadata},
            "finished_at": now_unix(),
            "steps": steps,
        }
    )
    return data


def _start(runner: WorkflowRunner, node: Node) -> Node:
    try:
        return runner.graph.start_node(node.id)
    except GraphError as exc:
        raise NodeError(str(exc), f"{node.type.capitalize()}NodeError") from exc


def flatten(outputs: list[Any]) -> list[Any]:
    present = [o for o in outputs if o is not None]
    if not present or not all(isinstance(o, list) for o in present):
        return outputs
    return [item for o in outputs if isinstance(o, list) for item in o]


class _Round:
    """One iteration round: its pool, its outcome and (in parallel mode) its buffered events."""

    def __init__(self) -> None:
        self.pool = VariablePool()
        self.events: list[Event] = []
        self.failed: str | None = None
        self.seconds = 0.0
        self.ran = False

    def buffer(self, event: str, data: dict[str, Any]) -> None:
        self.events.append((event, data))


@handles("iteration")
async def iteration_node(runner: WorkflowRunner, node: Node, scope: Scope) -> NodeResult:
    data = node.data
    selector = selector_of(data.get("iterator_selector")) or []
    found = runner.pool.get(selector)
    if found is MISSING:
        raise NodeError(f"iterator variable {selector} not found", "IteratorVariableNotFoundError")
    if found is not None and not isinstance(found, list):
        message = f"invalid iterator value: {found}, please provide a list."
        raise NodeError(message, "InvalidIteratorValueError")
    if not found:
        return NodeResult(outputs={"output": []})
    items: list[Any] = list(found)
    start = _start(runner, node)
    mode = str(data.get("error_handle_mode") or "terminated")
    output_selector = selector_of(data.get("output_selector"))
    parallel = bool(data.get("is_parallel"))
    width = data.get("parallel_nums")
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        width = DEFAULT_PARALLEL_NUMS
    head = _head(node, str(uuid.uuid4()), scope)
    inputs = {"iterator_selector": items}
    started, tokens_before = time.monotonic(), runner.total_tokens
    runner.emit("iteration_started", {**head, "inputs": inputs, "metadata": {"iteration_length": len(items)}})
    inner = Scope(container=node.id, iteration_id=node.id, loop_id=None)
    outer_pool = runner.pool
    rounds = [_Round() for _ in items]

    def close(status: str, outputs: dict[str, Any] | None) -> None:
        durations = {str(i): round(r.seconds, 6) for i, r in enumerate(rounds) if r.ran}
        runner.emit(
            "iteration_completed",
            _closing(
                head, status, started, runner.total_tokens - tokens_before, sum(r.ran for r in rounds),
                inputs, outputs, {"iteration_duration_map": durations},
            ),
        )  # fmt: skip

    async def run_round(index: int) -> None:
        one = rounds[index]
        one.pool = outer_pool.child()  # taken when the round starts: earlier rounds' writes show
        one.ran = True
        one.pool.set(node.id, "item", items[index])
        one.pool.set(node.id, "index", index)
        began = time.monotonic()
        try:
            with runner.using_pool(one.pool, one.buffer if parallel else None):
                await runner.run_scope(inner, start)
        except RunFailed as exc:
            one.failed = exc.message
        finally:
            one.seconds = time.monotonic() - began
        outer_pool.values["conversation"] = dict(one.pool.values.get("conversation", {}))

    try:
        if parallel:
            for index in range(len(items)):
                runner.emit("iteration_next", {**head, "index": index, "created_at": now_unix()})
            gate = asyncio.Semaphore(width)

            async def gated(index: int) -> int:
                async with gate:
                    runner.check_stop()
                    await run_round(index)
                return index

            tasks = [asyncio.create_task(gated(i)) for i in range(len(items))]
            try:
                for next_done in asyncio.as_completed(tasks):
                    index = await next_done
                    for event, payload in rounds[index].events:
                        runner.emit(event, payload)
                    if rounds[index].failed is not None and mode == "terminated":
                        break
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        else:
            for index in range(len(items)):
                runner.check_stop()
                runner.emit("iteration_next", {**head, "index": index, "created_at": now_unix()})
                await run_round(index)
                if rounds[index].failed is not None and mode == "terminated":
                    break
    except RunStopped:
        close("stopped", None)
        raise
    collected: list[Any] = []
    for one in rounds:
        if one.failed is not None:
            if mode == "terminated":
                close("failed", {"output": flatten(collected)})
                raise NodeError(one.failed, "IterationNodeError")
            collected.append(None)
            continue
        collected.append(one.pool.value(output_selector) if output_selector else None)
    if mode == "remove-abnormal-output":
        collected = [c for c in collected if c is not None]
    if data.get("flatten_output", True) is not False:
        collected = flatten(collected)
    outputs = {"output": collected}
    close("succeeded", outputs)
    return NodeResult(outputs=outputs, inputs=inputs)


def _invalid(item: Mapping[str, Any], why: object = "") -> NodeError:
    suffix = f": {why}" if why else ""
    return NodeError(f"Invalid value for loop variable {item.get('label')}{suffix}", "LoopNodeError")


def _constant(item: Mapping[str, Any]) -> Any:
    value = item.get("value")
    kind = str(item.get("var_type") or "string")
    if kind.startswith("array") and kind != "array[boolean]":
        if isinstance(value, str) and value.strip():
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise _invalid(item, exc) from exc
        if value in (None, ""):
            return []
        if not isinstance(value, list):
            raise _invalid(item)
        return value
    if isinstance(value, str) and kind in ("number", "object", "boolean", "array[boolean]"):
        try:
            return json.loads(value) if value.strip() else ({} if kind == "object" else None)
        except ValueError as exc:
            raise _invalid(item, exc) from exc
    return value


def _loop_value(runner: WorkflowRunner, item: Mapping[str, Any]) -> Any:
    if item.get("value_type") == "variable":
        found = runner.pool.get(selector_of(item.get("value")))
        if found is MISSING:
            raise _invalid(item)
        return found
    return _constant(item)


def _broken(runner: WorkflowRunner, conditions: list[Mapping[str, Any]], operator: str) -> bool:
    if not conditions:
        return False
    try:
        return check_conditions(conditions, operator, runner.pool)[0]
    except ValueError:
        return False


@handles("loop")
async def loop_node(runner: WorkflowRunner, node: Node, scope: Scope) -> NodeResult:
    data = node.data
    count = int(data.get("loop_count") or 10)
    if not 0 < count <= MAX_LOOP_COUNT:
        raise NodeError(f"loop_count must be between 1 and {MAX_LOOP_COUNT}", "LoopNodeError")
    start = _start(runner, node)
    inputs: dict[str, Any] = {"loop_count": count}
    names: list[str] = []
    for item in data.get("loop_variables") or []:
        if isinstance(item, Mapping) and item.get("label"):
            label = str(item["label"])
            value = _loop_value(runner, item)
            names.append(label)
            runner.pool.set(node.id, label, value)
            inputs[label] = value
    conditions = [c for c in data.get("break_conditions") or [] if isinstance(c, Mapping)]
    operator = str(data.get("logical_operator") or "and")
    head = _head(node, str(uuid.uuid4()), scope)
    started, tokens_before = time.monotonic(), runner.total_tokens
    runner.emit("loop_started", {**head, "inputs": inputs, "metadata": {"loop_length": count}})
    inner = Scope(container=node.id, iteration_id=None, loop_id=node.id)
    outputs: dict[str, Any] = {}
    durations: dict[str, float] = {}
    variables: dict[str, dict[str, Any]] = {}
    rounds = 0 if _broken(runner, conditions, operator) else count
    reason = "loop_break" if rounds == 0 else "loop_completed"
    steps = 0

    def close(status: str, result: dict[str, Any] | None, why: str) -> None:
        metadata = {"completed_reason": why, "loop_duration_map": durations, "loop_variable_map": variables}
        tokens = runner.total_tokens - tokens_before
        closing = _closing(head, status, started, tokens, steps, inputs, result, metadata)
        runner.emit("loop_completed", closing)

    for index in range(rounds):
        began = time.monotonic()
        steps += 1
        try:
            runner.check_stop()
            signal = await runner.run_scope(inner, start)
        except RunStopped:
            close("stopped", None, "stopped")
            raise
        except RunFailed as exc:
            close("failed", None, "error")
            raise NodeError(exc.message, "LoopNodeError") from exc
        finally:
            durations[str(index)] = round(time.monotonic() - began, 6)
        state = {name: runner.pool.value([node.id, name]) for name in names}
        variables[str(index)] = dict(state)
        outputs = {**state, "loop_round": index + 1}
        if signal == "break":
            reason = "loop_break"
            break
        if _broken(runner, conditions, operator):
            reason = "loop_break"
            break
        step = {"index": index + 1, "created_at": now_unix(), "pre_loop_output": {}}
        runner.emit("loop_next", {**head, **step})
    close("succeeded", outputs, reason)
    return NodeResult(outputs=outputs, inputs=inputs)
