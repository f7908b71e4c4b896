"""The state of a paused run as JSON, and a runner rebuilt from it.

A run that pauses on a human-input node may be resumed by another process (its worker died or
restarted). What the engine needs to go on is small: the variable pool, the top-level nodes that
finished and the handle each chose, the counters and texts a run accumulates, the stream
router's progress, and the execution the run paused in. A resumed runner walks the graph from
its start again: finished nodes are replayed (no events, no second execution) so the same edges
are taken, and the paused node runs once more without a second `node_started`, its handler
getting the submission at once (`EngineHooks.pause`). Dify persists the graph runtime state at
a pause the same way and resumes it in a new worker (`api/core/workflow/graph_engine`,
`models/workflow.py` `WorkflowPause`).

The snapshot is taken when the form's node pauses: a node of a parallel branch still running at
that moment is not in it and runs again after a resume elsewhere.

A pause inside an iteration or a loop is not restorable this way (the container's round state
lives in its task): `resumable()` says so and the service ends such a run with an error when
its worker is gone.
"""

from __future__ import annotations

import json
import time
from typing import Any

from impl.engine.graph import Node
from impl.engine.runner import WorkflowRunner

VERSION = 1


def _json(value: Any) -> Any:
    """`value` as plain JSON (anything else as its text), so the database column accepts it."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def resumable(node: Node) -> bool:
    """Whether a pause at `node` can be restored in another process."""
    return node.parent_id is None


def take(runner: WorkflowRunner, execution: dict[str, Any] | None) -> dict[str, Any]:
    """The runner's state at a pause; `execution` is the paused node's `node_started` data."""
    router = runner.router
    targets = {} if router is None else router.targets
    state: dict[str, Any] = _json(
        {
            "version": VERSION,
            "pool": runner.root_pool.values,
            "completed": runner.completed,
            "index": runner.index,
            "total_tokens": runner.total_tokens,
            "prompt_tokens": runner.prompt_tokens,
            "exceptions_count": runner.exceptions_count,
            "outputs": runner.outputs,
            "answer_parts": runner.answer_parts,
            "streamed": [[list(k), v] for k, v in runner.streamed.items()],
            "executions": runner.executions,
            "execution_ids": runner.execution_ids,
            "retriever_resources": runner.retriever_resources,
            "elapsed": time.monotonic() - runner.started,
            "router": {nid: [t.pos, sorted(t.streamed)] for nid, t in targets.items()},
            "execution": execution,
        }
    )
    return state


def restore(runner: WorkflowRunner, state: dict[str, Any]) -> None:
    """Put a fresh runner (built on a pool of `state["pool"]`) where the snapshot left it."""
    runner.replay = {str(k): str(v) for k, v in dict(state.get("completed") or {}).items()}
    runner.index = int(state.get("index") or 0)
    runner.total_tokens = int(state.get("total_tokens") or 0)
    runner.prompt_tokens = int(state.get("prompt_tokens") or 0)
    runner.exceptions_count = int(state.get("exceptions_count") or 0)
    runner.outputs = dict(state.get("outputs") or {})
    runner.answer_parts[:] = [str(p) for p in state.get("answer_parts") or []]
    runner.streamed = {tuple(k): list(v) for k, v in state.get("streamed") or []}
    runner.executions = list(state.get("executions") or [])
    runner.execution_ids = dict(state.get("execution_ids") or {})
    runner.retriever_resources = list(state.get("retriever_resources") or [])
    runner.started = time.monotonic() - float(state.get("elapsed") or 0.0)
    if runner.router is not None:
        for node_id, (pos, streamed) in dict(state.get("router") or {}).items():
            target = runner.router.targets.get(node_id)
            if target is not None:
                target.pos, target.streamed = int(pos), {int(i) for i in streamed}
    execution = state.get("execution")
    runner.resumed_execution = dict(execution) if isinstance(execution, dict) else None
