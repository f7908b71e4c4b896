"""impl/engine/snapshot.py: a run paused at a human-input node, taken as JSON in one runner and
restored in a fresh one, goes on as if it had never left (the finished nodes are not run again)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graphs import START, Hooks, edge, end, node, tpl

from impl.engine import Node, VariablePool, WorkflowRunner, parse_graph, snapshot
from impl.engine.runner import RunDetached, RunOutcome

FORM = node(
    "ask",
    "human-input",
    inputs=[{"type": "text-input", "output_variable_name": "who"}],
    user_actions=[{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}],
)


def graph_doc() -> dict[str, Any]:
    nodes = [
        START,
        tpl("left", "L:{{ x }}", x=["start", "x"]),
        tpl("right", "R:{{ x }}", x=["start", "x"]),
        FORM,
        tpl(
            "agree",
            "{{ who }} agrees with {{ l }} and {{ r }}",
            who=["ask", "who"],
            l=["left", "output"],
            r=["right", "output"],
        ),  # fmt: skip
        tpl("refuse", "{{ who }} refuses", who=["ask", "who"]),
        end(result=["agree", "output"], refused=["refuse", "output"], action=["ask", "__action_id"]),
    ]
    edges = [
        edge("start", "left"),
        edge("start", "right"),
        edge("left", "ask"),
        edge("right", "ask"),
        edge("ask", "agree", "yes"),
        edge("ask", "refuse", "no"),
        edge("agree", "end"),
        edge("refuse", "end"),
    ]
    return {"nodes": nodes, "edges": edges}


class Detaching(Hooks):
    """The first worker: takes the snapshot at the pause, then leaves (as at a shutdown)."""

    def __init__(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        super().__init__()
        self.events = events
        self.state: dict[str, Any] = {}

    async def pause(self, runner: WorkflowRunner, node: Node, form: dict[str, Any]) -> dict[str, Any]:
        started = [d for n, d in self.events if n == "node_started" and d["node_id"] == node.id][-1]
        self.state = json.loads(json.dumps(snapshot.take(runner, started)))  # through JSON, as stored
        raise RunDetached()


class Answering(Hooks):
    """The second worker: the form was answered."""

    async def pause(self, runner: WorkflowRunner, node: Node, form: dict[str, Any]) -> dict[str, Any]:
        self.forms.append(form)
        return {"action": "yes", "inputs": {"who": "Ada"}}


def test_a_restored_runner_replays_the_finished_nodes_and_goes_on_from_the_form() -> None:
    graph = parse_graph(graph_doc())
    first: list[tuple[str, dict[str, Any]]] = []
    hooks = Detaching(first)

    async def pause() -> None:
        pool = VariablePool({"sys": {}, "start": {"x": 7}})
        runner = WorkflowRunner(graph, pool, lambda n, d: first.append((n, d)), hooks, asyncio.Event())
        try:
            await runner.run()
        except RunDetached:
            return
        raise AssertionError("the run was expected to leave at its pause")

    asyncio.run(pause())
    state = hooks.state
    assert state["completed"] == {"start": "source", "left": "source", "right": "source"}
    assert state["index"] == 4 and state["execution"]["node_id"] == "ask"

    second: list[tuple[str, dict[str, Any]]] = []
    answering = Answering()

    async def resume() -> RunOutcome:
        pool = VariablePool({k: dict(v) for k, v in state["pool"].items()})
        runner = WorkflowRunner(graph, pool, lambda n, d: second.append((n, d)), answering, asyncio.Event())
        snapshot.restore(runner, state)
        return await runner.run()

    outcome = asyncio.run(resume())
    assert outcome.status == "succeeded"
    assert outcome.outputs == {"result": "Ada agrees with L:7 and R:7", "refused": None, "action": "yes"}
    # nothing before the form runs again; the form's node finishes under its first execution
    assert [d["node_id"] for n, d in second if n == "node_started"] == ["agree", "end"]
    asked = [d for n, d in second if n == "node_finished" and d["node_id"] == "ask"]
    assert len(asked) == 1 and asked[0]["id"] == state["execution"]["id"] and asked[0]["index"] == 4
    assert [d["index"] for n, d in second if n == "node_started"] == [5, 6]
    assert outcome.total_steps == 6
    assert answering.forms[0]["inputs"][0]["output_variable_name"] == "who"


def test_a_pause_inside_a_container_is_not_restorable() -> None:
    graph = parse_graph(
        {
            "nodes": [
                START,
                node("it", "iteration", start_node_id="it-start"),
                {**node("it-start", "iteration-start"), "parentId": "it"},
                {**FORM, "parentId": "it"},
            ],
            "edges": [edge("start", "it"), edge("it-start", "ask")],
        }  # fmt: skip
    )
    assert not snapshot.resumable(graph.nodes["ask"])
    assert snapshot.resumable(graph.nodes["it"])
