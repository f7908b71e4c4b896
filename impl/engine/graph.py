"""The graph of a Dify workflow DSL: nodes, edges with branch handles, container scopes.

Import accepts every graph Dify accepts (`parse_graph` only refuses what cannot be read at all);
`graph_problems` lists what this server cannot run (node types it lacks, a missing start node,
nodes in the wrong app mode), which import prints as warnings and the run reports as a failed node
or a failed run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The node table: every node type this engine runs (each has a handler in `nodes/`).
SUPPORTED_TYPES = frozenset(
    {
        "start",
        "end",
        "answer",
        "llm",
        "template-transform",
        "if-else",
        "variable-aggregator",
        "variable-assigner",
        "assigner",
        "parameter-extractor",
        "question-classifier",
        "http-request",
        "iteration",
        "iteration-start",
        "loop",
        "loop-start",
        "loop-end",
        "human-input",
        "code",
        "document-extractor",
        "list-operator",
        "tool",
        "agent",
        "knowledge-retrieval",
    }
)
# Why a Dify node type this server does not run cannot run here (import warning, node failure).
UNSUPPORTED_REASONS = {
    "tool": "this server has no tool providers for workflow tool nodes",
    "agent": "this server has no agent strategies for workflow agent nodes",
    "knowledge-index": "this server only reads knowledge bases (it maps them to local files)",
    "datasource": "this server has no data sources",
}
CONTAINER_TYPES = frozenset({"iteration", "loop"})
# UI-only nodes of the canvas (notes), never executed.
IGNORED_TYPES = frozenset({"", "custom-note"})
SOURCE = "source"
FAIL_BRANCH = "fail-branch"


class GraphError(ValueError):
    """The graph cannot be run; the message says why."""


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    title: str
    data: Mapping[str, Any]
    parent_id: str | None = None

    @property
    def error_strategy(self) -> str | None:
        value = self.data.get("error_strategy")
        return value if value in ("fail-branch", "default-value") else None


@dataclass(frozen=True)
class Edge:
    id: str
    source: str
    target: str
    source_handle: str


@dataclass
class Graph:
    nodes: dict[str, Node]
    edges: list[Edge]
    out_edges: dict[str, list[Edge]] = field(default_factory=dict)
    in_edges: dict[str, list[Edge]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for edge in self.edges:
            self.out_edges.setdefault(edge.source, []).append(edge)
            self.in_edges.setdefault(edge.target, []).append(edge)

    def start_node(self, scope: str | None = None) -> Node:
        """The entry of the top level (the start node) or of a container (its start child)."""
        if scope is None:
            for node in self.nodes.values():
                if node.type == "start" and node.parent_id is None:
                    return node
            raise GraphError("the graph has no start node")
        container = self.nodes[scope]
        wanted = container.data.get("start_node_id")
        if isinstance(wanted, str) and wanted in self.nodes:
            return self.nodes[wanted]
        kind = f"{container.type}-start"
        for node in self.nodes.values():
            if node.parent_id == scope and node.type == kind:
                return node
        raise GraphError(f"{container.type} node {scope!r} has no start node inside it")

    def children(self, scope: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.parent_id == scope]

    def outgoing(self, node_id: str) -> list[Edge]:
        return self.out_edges.get(node_id, [])

    def incoming(self, node_id: str) -> list[Edge]:
        return self.in_edges.get(node_id, [])


def _node(raw: Mapping[str, Any]) -> Node | None:
    data = raw.get("data")
    if not isinstance(data, Mapping):
        raise GraphError(f"node {raw.get('id')!r} has no data")
    node_type = str(data.get("type") or "")
    if node_type in IGNORED_TYPES or raw.get("type") == "custom-note":
        return None
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id:
        raise GraphError("every node needs a string id")
    parent = raw.get("parentId")
    if not isinstance(parent, str) or not parent:
        parent = data.get("iteration_id") if data.get("isInIteration") else None
        if parent is None and data.get("isInLoop"):
            parent = data.get("loop_id")
    return Node(
        id=node_id,
        type=node_type,
        title=str(data.get("title") or node_id),
        data=data,
        parent_id=parent if isinstance(parent, str) and parent else None,
    )


def parse_graph(raw: Mapping[str, Any] | None) -> Graph:
    if not isinstance(raw, Mapping):
        raise GraphError("the workflow has no graph")
    nodes: dict[str, Node] = {}
    for item in raw.get("nodes") or []:
        if not isinstance(item, Mapping):
            raise GraphError("every node must be a mapping")
        node = _node(item)
        if node is not None:
            if node.id in nodes:
                raise GraphError(f"node id {node.id!r} is used twice")
            nodes[node.id] = node
    edges: list[Edge] = []
    for i, item in enumerate(raw.get("edges") or []):
        if not isinstance(item, Mapping):
            raise GraphError("every edge must be a mapping")
        source, target = item.get("source"), item.get("target")
        if source not in nodes or target not in nodes:
            continue  # edges to notes or removed nodes are dropped, as Dify's canvas does
        handle = item.get("sourceHandle") or SOURCE
        edges.append(Edge(str(item.get("id") or f"edge-{i}"), str(source), str(target), str(handle)))
    return Graph(nodes, edges)


def unsupported_types(graph: Graph) -> list[str]:
    return sorted({n.type for n in graph.nodes.values() if n.type not in SUPPORTED_TYPES})


@dataclass(frozen=True)
class Problem:
    """Something in a graph this server cannot run; `node_id` is None for the graph as a whole."""

    node_id: str | None
    message: str


def graph_problems(graph: Graph, mode: str) -> list[Problem]:
    """Everything in `graph` that will fail at run time here, node by node."""
    problems: list[Problem] = []
    try:
        graph.start_node()
    except GraphError as exc:
        problems.append(Problem(None, str(exc)))
    for node in graph.nodes.values():
        if node.type not in SUPPORTED_TYPES:
            reason = UNSUPPORTED_REASONS.get(node.type, "this server has no implementation of it")
            problems.append(Problem(node.id, f"node type '{node.type}' cannot run here: {reason}"))
        if node.type in CONTAINER_TYPES:
            try:
                graph.start_node(node.id)
            except GraphError as exc:
                problems.append(Problem(node.id, str(exc)))
        if mode == "workflow" and node.type == "answer":
            problems.append(Problem(node.id, "answer nodes only stream in advanced-chat apps"))
        if mode == "advanced-chat" and node.type == "end":
            problems.append(Problem(node.id, "end nodes only give outputs in workflow apps"))
    return problems
