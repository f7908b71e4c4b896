"""The workflow engine: graph model, variable pool, node implementations and the runner.

It imports nothing above it (no services, no database): the service layer hands it the graph,
a variable pool, an event sink and `EngineHooks`.
"""

from impl.engine import nodes  # noqa: F401  (registers the node handlers)
from impl.engine.graph import Graph, GraphError, Node, Problem, graph_problems, parse_graph
from impl.engine.runner import EngineHooks, NodeError, RunOutcome, WorkflowRunner
from impl.engine.variables import VariablePool

__all__ = [
    "EngineHooks",
    "Graph",
    "GraphError",
    "Node",
    "NodeError",
    "RunOutcome",
    "VariablePool",
    "WorkflowRunner",
    "Problem",
    "graph_problems",
    "parse_graph",
]
