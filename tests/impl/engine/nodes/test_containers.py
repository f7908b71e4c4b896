"""iteration and loop (impl/engine/nodes/containers.py) against Dify's
`api/core/workflow/nodes/iteration/iteration_node.py` and `nodes/loop/loop_node.py`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from graphs import START, Hooks, edge, end, node, run, tpl

from impl.engine import Node, WorkflowRunner


class SlowHooks(Hooks):
    """Human-input forms that answer after a pause; counts how many wait at once."""

    def __init__(self, delays: dict[str, float] | None = None) -> None:
        super().__init__()
        self.delays = delays or {}
        self.waiting = 0
        self.most = 0

    async def pause(self, runner: WorkflowRunner, node: Node, form: dict[str, Any]) -> dict[str, Any]:
        self.waiting += 1
        self.most = max(self.most, self.waiting)
        item = runner.pool.value([node.parent_id or "", "item"])
        await asyncio.sleep(self.delays.get(str(item), 0.05))
        self.waiting -= 1
        return {"action": "submit", "inputs": {"note": f"seen {item}"}}


def child(raw: dict[str, Any], parent: str) -> dict[str, Any]:
    raw["parentId"] = parent
    return raw


def iteration_graph(**config: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes = [
        START,
        node(
            "it",
            "iteration",
            iterator_selector=["start", "xs"],
            output_selector=["ask", "note"],
            start_node_id="it-start",
            **config,
        ),
        child(node("it-start", "iteration-start"), "it"),
        child(
            node("ask", "human-input", inputs=[{"type": "text-input", "output_variable_name": "note"}]), "it"
        ),
        end(out=["it", "output"]),
    ]
    edges = [edge("start", "it"), edge("it-start", "ask"), edge("it", "end")]
    return nodes, edges


def test_parallel_iteration_runs_up_to_parallel_nums_rounds_and_keeps_input_order() -> None:
    nodes, edges = iteration_graph(is_parallel=True, parallel_nums=2)
    hooks = SlowHooks({"a": 0.15, "b": 0.02, "c": 0.02})
    outcome, events = run(nodes, edges, {"xs": ["a", "b", "c"]}, hooks=hooks)
    assert outcome.outputs == {"out": ["seen a", "seen b", "seen c"]}
    assert hooks.most == 2
    names = [n for n, _d in events]
    # every iteration_next first, then each round's events together, in the order rounds end
    assert names[:4] == ["node_started", "node_finished", "iteration_started", "iteration_next"]
    assert [d["index"] for n, d in events if n == "iteration_next"] == [0, 1, 2]
    assert names.index("node_started", 3) > max(i for i, n in enumerate(names) if n == "iteration_next")
    rounds = [d["execution_metadata"] for n, d in events if n == "node_finished" and d["node_id"] == "ask"]
    seen = [d["outputs"]["note"] for n, d in events if n == "node_finished" and d["node_id"] == "ask"]
    assert seen == ["seen b", "seen c", "seen a"] and len(rounds) == 3
    sequential, _events = run(*iteration_graph(), {"xs": ["a", "b", "c"]}, hooks=(slow := SlowHooks()))
    assert sequential.outputs == outcome.outputs and slow.most == 1


def test_containers_and_their_start_nodes_send_no_node_events() -> None:
    outcome, events = run(*iteration_graph(), {"xs": ["a"]}, hooks=SlowHooks())
    assert outcome.status == "succeeded"
    started = [d["node_id"] for n, d in events if n == "node_started"]
    assert started == ["start", "ask", "end"]
    inner = [d for n, d in events if n == "node_started" and d["node_id"] == "ask"][0]
    assert inner["iteration_id"] == "it"
    completed = [d for n, d in events if n == "iteration_completed"][0]
    assert completed["status"] == "succeeded" and completed["steps"] == 1 and completed["error"] is None


def test_empty_iteration_sends_nothing_and_missing_input_fails() -> None:
    outcome, events = run(*iteration_graph(), {"xs": []})
    assert outcome.outputs == {"out": []}
    assert not [n for n, _d in events if n.startswith("iteration")]
    outcome, _events = run(*iteration_graph(), {})
    assert outcome.status == "failed" and outcome.error == "iterator variable ['start', 'xs'] not found"
    outcome, _events = run(*iteration_graph(), {"xs": "abc"})
    assert outcome.error == "invalid iterator value: abc, please provide a list."


def test_iteration_flattens_lists_and_handles_errors_in_parallel() -> None:
    nodes = [
        START,
        node(
            "it",
            "iteration",
            iterator_selector=["start", "xs"],
            output_selector=["lo", "result"],
            start_node_id="it-start",
            is_parallel=True,
            error_handle_mode="continue-on-error",
        ),
        child(node("it-start", "iteration-start"), "it"),
        child(
            node(
                "lo",
                "list-operator",
                variable=["it", "item"],
                filter_by={"enabled": False, "conditions": []},
                order_by={"enabled": True, "value": "asc"},
                limit={"enabled": False},
            ),
            "it",
        ),
        end(out=["it", "output"]),
    ]
    edges = [edge("start", "it"), edge("it-start", "lo"), edge("it", "end")]
    assert run(nodes, edges, {"xs": [[3, 1], [2]]})[0].outputs == {"out": [1, 3, 2]}
    nodes[1]["data"]["flatten_output"] = False
    assert run(nodes, edges, {"xs": [[3, 1], [2]]})[0].outputs == {"out": [[1, 3], [2]]}
    # a round that fails: null in its place, or dropped, or the node fails
    outcome, _events = run(nodes, edges, {"xs": [[2, 1], [{"x": 1}]]})
    assert outcome.outputs == {"out": [[1, 2], None]}
    nodes[1]["data"]["error_handle_mode"] = "remove-abnormal-output"
    assert run(nodes, edges, {"xs": [[2, 1], [{"x": 1}]]})[0].outputs == {"out": [[1, 2]]}
    nodes[1]["data"]["error_handle_mode"] = "terminated"
    outcome, events = run(nodes, edges, {"xs": [[2, 1], [{"x": 1}]]})
    assert outcome.status == "failed" and "is not an ArrayFileSegment" in (outcome.error or "")
    assert [(d["status"], d["error"]) for n, d in events if n == "iteration_completed"] == [("failed", None)]
    sequential = dict(nodes[1]["data"], is_parallel=False)
    outcome, events = run(
        [nodes[0], {**nodes[1], "data": sequential}, *nodes[2:]], edges, {"xs": [[{"x": 1}], [2]]}
    )
    # the failed first round ends a sequential iteration: one step ran (D22)
    assert [d["steps"] for n, d in events if n == "iteration_completed"] == [1]


def loop_graph(variables: list[dict[str, Any]], children: list[dict[str, Any]], **config: Any) -> Any:
    loop = node("l", "loop", loop_count=3, start_node_id="l-start", loop_variables=variables, **config)
    kids = [child(node("l-start", "loop-start"), "l"), *[child(c, "l") for c in children]]
    chain = ["l-start", *[c["id"] for c in children]]
    edges = [
        edge("start", "l"),
        edge("l", "end"),
        *[edge(a, b) for a, b in zip(chain, chain[1:], strict=False)],
    ]
    return [START, loop, *kids, end(out=["l", "xs"], rounds=["l", "loop_round"])], edges


def append_item(value: Any) -> dict[str, Any]:
    item = {"variable_selector": ["l", "xs"], "input_type": "constant", "operation": "append", "value": value}
    return node("add", "assigner", version="2", items=[item])


def test_loop_variables_declared_as_json_text_are_typed() -> None:
    variables = [{"label": "xs", "var_type": "array[string]", "value_type": "constant", "value": '["a"]'}]
    outcome, events = run(*loop_graph(variables, [append_item("b")]))
    assert outcome.outputs == {"out": ["a", "b", "b", "b"], "rounds": 3}
    # loop_next after every round that does not end the loop; no node events for loop / loop-start
    assert [d["index"] for n, d in events if n == "loop_next"] == [1, 2, 3]
    assert [d["node_id"] for n, d in events if n == "node_started"] == ["start", "add", "add", "add", "end"]
    completed = [d for n, d in events if n == "loop_completed"][0]
    assert completed["steps"] == 3 and completed["inputs"] == {"loop_count": 3, "xs": ["a"]}
    assert completed["execution_metadata"]["completed_reason"] == "loop_completed"


def test_loop_break_conditions_before_and_after_rounds() -> None:
    variables = [{"label": "xs", "var_type": "array[number]", "value_type": "constant", "value": "[1]"}]
    length_two = [{"variable_selector": ["l", "xs"], "comparison_operator": "contains", "value": "2"}]
    outcome, events = run(*loop_graph(variables, [append_item(2)], break_conditions=length_two))
    assert outcome.outputs == {"out": [1, 2], "rounds": 1}
    assert [n for n, _d in events if n == "loop_next"] == []
    # steps counts the rounds that ran (Dify sends loop_count: spec/DEVIATIONS.md D22)
    assert [d["steps"] for n, d in events if n == "loop_completed"] == [1]
    already = [{"variable_selector": ["l", "xs"], "comparison_operator": "contains", "value": "1"}]
    outcome, events = run(*loop_graph(variables, [append_item(2)], break_conditions=already))
    completed = [d for n, d in events if n == "loop_completed"][0]
    assert completed["steps"] == 0 and completed["execution_metadata"]["completed_reason"] == "loop_break"
    assert outcome.outputs == {"out": None, "rounds": None}


def test_a_round_in_a_loop_can_end_it_with_loop_end() -> None:
    variables = [{"label": "xs", "var_type": "array[string]", "value_type": "constant", "value": ""}]
    outcome, events = run(*loop_graph(variables, [append_item("x"), node("stop", "loop-end")]))
    assert outcome.outputs == {"out": ["x"], "rounds": 1}
    # loop-end nodes keep their events (Dify drops only loop-start's)
    assert "stop" in [d["node_id"] for n, d in events if n == "node_finished"]


def test_template_output_inside_an_iteration_round() -> None:
    nodes = [
        START,
        node(
            "it",
            "iteration",
            iterator_selector=["start", "xs"],
            output_selector=["t", "output"],
            start_node_id="s",
        ),
        child(node("s", "iteration-start"), "it"),
        child(tpl("t", "{{ i }}-{{ n }}\n", i=["it", "item"], n=["it", "index"]), "it"),
        end(out=["it", "output"]),
    ]
    edges = [edge("start", "it"), edge("s", "t"), edge("it", "end")]
    assert run(nodes, edges, {"xs": ["a", "b"]})[0].outputs == {"out": ["a-0", "b-1"]}


def test_conversation_variables_written_in_a_round_carry_over() -> None:
    bump = {
        "variable_selector": ["conversation", "count"],
        "input_type": "constant",
        "operation": "+=",
        "value": 1,
    }
    nodes = [
        START,
        node(
            "it",
            "iteration",
            iterator_selector=["start", "xs"],
            output_selector=["conversation", "count"],
            start_node_id="s",
        ),
        child(node("s", "iteration-start"), "it"),
        child(node("as", "assigner", version="2", items=[bump]), "it"),
        end(out=["it", "output"], after=["conversation", "count"]),
    ]
    edges = [edge("start", "it"), edge("s", "as"), edge("it", "end")]
    hooks = Hooks()
    outcome, _events = run(nodes, edges, {"xs": ["a", "b"]}, hooks=hooks)
    assert outcome.outputs == {"out": [2, 3], "after": 3}
    assert hooks.writes == [("count", 2), ("count", 3)]
