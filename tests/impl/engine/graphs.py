"""Small in-memory graphs for the engine tests: node and edge builders, hooks, a runner call."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from impl.engine import Node, VariablePool, WorkflowRunner, parse_graph
from impl.engine.runner import RunOutcome
from impl.providers import BuiltinModel, ChatModel, PromptMessage


class Hooks:
    def __init__(self) -> None:
        self.history: list[PromptMessage] = []
        self.http_allowed_hosts: frozenset[str] = frozenset()
        self.writes: list[tuple[str, Any]] = []
        self.forms: list[dict[str, Any]] = []
        self.uploads: dict[str, bytes] = {}

    def build_model(self, model: Mapping[str, Any]) -> ChatModel:
        return BuiltinModel()

    async def write_conversation_variable(self, name: str, value: Any) -> None:
        self.writes.append((name, value))

    async def read_upload(self, upload_file_id: str) -> bytes:
        return self.uploads[upload_file_id]

    async def pause(self, runner: WorkflowRunner, node: Node, form: dict[str, Any]) -> dict[str, Any]:
        self.forms.append(form)
        return {"action": "yes", "inputs": {"note": "fine"}}


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "data": {"type": node_type, "title": node_id, **data}}


def edge(source: str, target: str, handle: str = "source") -> dict[str, Any]:
    return {"id": f"{source}-{target}-{handle}", "source": source, "target": target, "sourceHandle": handle}


def tpl(node_id: str, template: str, **variables: list[str]) -> dict[str, Any]:
    return node(
        node_id,
        "template-transform",
        template=template,
        variables=[{"variable": k, "value_selector": v} for k, v in variables.items()],
    )


def end(**outputs: list[str]) -> dict[str, Any]:
    return node("end", "end", outputs=[{"variable": k, "value_selector": v} for k, v in outputs.items()])


def run(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    inputs: dict[str, Any] | None = None,
    *,
    mode: str = "workflow",
    stop: bool = False,
    hooks: Hooks | None = None,
) -> tuple[RunOutcome, list[tuple[str, dict[str, Any]]]]:
    graph = parse_graph({"nodes": nodes, "edges": edges})
    pool = VariablePool()
    pool.values = {
        "sys": {"query": "q"},
        "conversation": {"count": 1, "items": []},
        "start": dict(inputs or {}),
    }
    events: list[tuple[str, dict[str, Any]]] = []

    async def go() -> RunOutcome:
        flag = asyncio.Event()
        if stop:
            flag.set()
        runner = WorkflowRunner(
            graph, pool, lambda n, d: events.append((n, d)), hooks or Hooks(), flag, mode=mode
        )
        return await runner.run()

    return asyncio.run(go()), events


START = node("start", "start", variables=[])
