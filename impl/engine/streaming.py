"""Routing of streamed model tokens into answer nodes (chatflow) and end nodes (workflow).

An LLM node X streams straight into the first answer/end node A after it when nothing can
change whether A runs: the path X → … → A has one edge per step (handle `source`, no fail
branch) and each node on it has a single incoming edge. Text of A that comes before X's
reference is sent first if it is already known; otherwise X's tokens are not pre-streamed and
A sends its text when it runs. When A runs it sends whatever was not streamed yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from impl.engine.graph import SOURCE, Graph
from impl.engine.variables import VariablePool, segments, selector_of, to_text

Sink = Callable[[str, list[str] | None], None]


@dataclass
class _Target:
    node_id: str
    parts: list[tuple[str, Any]]
    pos: int = 0
    streamed: set[int] = field(default_factory=set)


class StreamRouter:
    def __init__(self, graph: Graph, pool: Callable[[], VariablePool], mode: str, sink: Sink) -> None:
        self.graph = graph
        self._pool = pool
        self.mode = mode
        self.sink = sink
        self.targets: dict[str, _Target] = {}
        self.routes: dict[str, str] = {}
        kind = "answer" if mode == "advanced-chat" else "end"
        for node in graph.nodes.values():
            if node.type == "answer":
                self.targets[node.id] = _Target(node.id, list(segments(str(node.data.get("answer") or ""))))
            elif node.type == "end":
                parts: list[tuple[str, Any]] = []
                for item in node.data.get("outputs") or []:
                    sel = selector_of(item.get("value_selector")) if isinstance(item, dict) else None
                    if sel:
                        parts.append(("var", sel))
                self.targets[node.id] = _Target(node.id, parts)
        for node in graph.nodes.values():
            if node.type != "llm":
                continue
            target = self._first_target(node.id, kind)
            if target is not None and any(
                k == "var" and v[:2] == [node.id, "text"] for k, v in self.targets[target].parts
            ):
                self.routes[node.id] = target

    def _first_target(self, start: str, kind: str) -> str | None:
        current = start
        seen = {start}
        while True:
            node = self.graph.nodes[current]
            outs = self.graph.outgoing(current)
            if len(outs) != 1 or outs[0].source_handle != SOURCE or node.error_strategy == "fail-branch":
                return None
            nxt = outs[0].target
            if nxt in seen or len(self.graph.incoming(nxt)) != 1:
                return None
            seen.add(nxt)
            target = self.graph.nodes[nxt]
            if target.type == kind:
                return nxt
            if target.type in ("answer", "end"):
                return None
            current = nxt

    @property
    def pool(self) -> VariablePool:
        """The variable pool of the running task (an iteration round has its own)."""
        return self._pool()

    def delta(self, llm_id: str, text: str) -> None:
        target_id = self.routes.get(llm_id)
        if target_id is None:
            return
        target = self.targets[target_id]
        if self.mode != "advanced-chat":
            self.sink(text, [llm_id, "text"])
            return
        while target.pos < len(target.parts):
            kind, value = target.parts[target.pos]
            if kind == "text":
                self.sink(value, None)
                target.pos += 1
                continue
            if value[:2] == [llm_id, "text"] and len(value) == 2:
                target.streamed.add(target.pos)
                self.sink(text, value)
                return
            if target.pos in target.streamed:
                target.pos += 1
                continue
            if self.pool.has(value):
                self.sink(to_text(self.pool.get(value)), value)
                target.pos += 1
                continue
            return

    def finish(self, node_id: str) -> str:
        """The answer node runs: send what was not streamed; return its whole text."""
        target = self.targets.get(node_id)
        if target is None:
            return ""
        full: list[str] = []
        for i, (kind, value) in enumerate(target.parts):
            text = value if kind == "text" else to_text(self.pool.get(value))
            full.append(text)
            if i < target.pos or i in target.streamed:
                continue
            self.sink(text, None if kind == "text" else value)
        target.pos = len(target.parts)
        # an answer node inside a loop or iteration runs again: start over next time
        target.pos, target.streamed = 0, set()
        return "".join(full)
