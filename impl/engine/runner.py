"""The runner: walks a graph from its start node, runs nodes, emits the run's events.

Scheduling: an edge is *taken* when its source ran and chose that edge's handle, *skipped*
otherwise. A node runs once all its incoming edges are decided and at least one was taken; a
node whose incoming edges were all skipped is skipped too, and so are its outgoing edges (so a
join after an if-else waits for the branch that ran). Every ready node starts at once as its own
asyncio task, so parallel branches run concurrently (Dify's graph engine hands ready nodes to a
worker pool: `api/core/workflow/graph_engine/`); nodes become ready in a fixed order and results
that arrive together are handled in start order, so runs without real I/O stay deterministic.
When a node fails the run, its still-running siblings are cancelled and finish as `stopped`.

Containers (iteration, loop) and their start nodes run without `node_started` /
`node_finished` events: Dify's response converter drops them for `iteration` and `loop`
(`api/core/app/apps/common/workflow_response_converter.py`), and the containers drop the events
of their `iteration-start` / `loop-start` children (`nodes/iteration/iteration_node.py`,
`nodes/loop/loop_node.py`). A container runs each round with the variable pool that
`using_pool` installs for the current task (an iteration round gets its own copy, as in Dify).

Node failures follow the node's `error_strategy` (`fail-branch`, `default-value`) after its
`retry_config` retries; an unhandled failure fails the run. The stop flag is checked before
every node and between streamed model tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from impl.engine.graph import FAIL_BRANCH, SOURCE, UNSUPPORTED_REASONS, Graph, GraphError, Node
from impl.engine.streaming import StreamRouter
from impl.engine.variables import VariablePool, as_mapping
from impl.providers import ChatModel, PromptMessage

Emit = Callable[[str, dict[str, Any]], None]


class NodeError(Exception):
    """A node could not produce its outputs."""

    def __init__(self, message: str, error_type: str = "NodeError") -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


# Node types whose own node_started / node_finished (and node_retry) events are not sent.
SILENT_TYPES = frozenset({"iteration", "loop", "iteration-start", "loop-start"})
# Of those, the ones that are not recorded as node executions either (pure entry markers).
MARKER_TYPES = frozenset({"iteration-start", "loop-start"})
CANCELLED = "Cancelled: another branch of the run failed or the run was stopped."


class RunStopped(Exception):
    """The stop flag was raised."""


class RunDetached(Exception):
    """The run left this process while paused (its state stays in the database, and whichever
    worker resumes it goes on from there): unwind without ending it."""


class RunFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class NodeResult:
    outputs: dict[str, Any]
    inputs: dict[str, Any] | None = None
    process_data: dict[str, Any] | None = None
    handle: str = SOURCE
    tokens: int = 0
    prompt_tokens: int = 0


@dataclass(frozen=True)
class Scope:
    """Where a node runs: the top level, or inside an iteration / loop."""

    container: str | None = None
    iteration_id: str | None = None
    loop_id: str | None = None


class EngineHooks(Protocol):
    """What the service gives the engine: models, memory, persistence, pauses, HTTP policy."""

    history: list[PromptMessage]
    http_allowed_hosts: frozenset[str]

    def build_model(self, model: Mapping[str, Any]) -> ChatModel: ...

    async def write_conversation_variable(self, name: str, value: Any) -> None: ...

    async def read_upload(self, upload_file_id: str) -> bytes:
        """The bytes of a file uploaded to this app (document-extractor)."""
        ...

    async def pause(self, runner: WorkflowRunner, node: Node, form: dict[str, Any]) -> dict[str, Any]: ...

    # Optional (looked up with getattr by the tool and agent nodes):
    # `build_tool_model(section, strategy) -> FunctionCallingModel` and
    # `async store_tool_file(file: impl.tools.ToolFile) -> dict` (the file mapping of the outputs).


@dataclass
class RunOutcome:
    status: str
    outputs: dict[str, Any]
    error: str | None
    total_tokens: int
    total_steps: int
    exceptions_count: int
    answer: str
    elapsed_time: float


Handler = Callable[["WorkflowRunner", Node, Scope], Awaitable[NodeResult]]
HANDLERS: dict[str, Handler] = {}
# What a container gave the running task (see `using_pool`): its own variable pool and, for a
# parallel iteration round, a buffer that holds the round's events until it ends.
_SCOPED: ContextVar[tuple[WorkflowRunner, VariablePool, Emit | None] | None] = ContextVar(
    "engine_scope", default=None
)


def handles(*types: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for t in types:
            HANDLERS[t] = fn
        return fn

    return register


def now_unix() -> int:
    return int(time.time())


@dataclass
class WorkflowRunner:
    graph: Graph
    root_pool: VariablePool
    sink: Emit
    hooks: EngineHooks
    stop_event: asyncio.Event
    mode: str = "workflow"
    index: int = 0
    total_tokens: int = 0
    prompt_tokens: int = 0
    exceptions_count: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    answer_parts: list[str] = field(default_factory=list)
    # workflow mode: the text streamed so far into end-node outputs, per source selector
    streamed: dict[tuple[str, ...], list[str]] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    router: StreamRouter | None = None
    # The execution id of each node's latest run (agent nodes tag their `agent_log` records).
    execution_ids: dict[str, str] = field(default_factory=dict)
    # Top-level nodes that finished, with the handle each chose (what a resumed run replays).
    completed: dict[str, str] = field(default_factory=dict)
    # A resumed run (see `impl.engine.snapshot`): the nodes to replay without running them, and
    # the execution of the node it paused in (which goes on without a second `node_started`).
    replay: dict[str, str] = field(default_factory=dict)
    resumed_execution: dict[str, Any] | None = None
    # The passages the latest llm node with a context cited (a chatflow's `retriever_resources`).
    retriever_resources: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.router = StreamRouter(self.graph, lambda: self.pool, self.mode, self._emit_text)

    # ---- the variable pool of the current task -------------------------------------------

    def _scoped(self) -> tuple[WorkflowRunner, VariablePool, Emit | None] | None:
        scoped = _SCOPED.get()
        return scoped if scoped is not None and scoped[0] is self else None

    @property
    def pool(self) -> VariablePool:
        scoped = self._scoped()
        return scoped[1] if scoped is not None else self.root_pool

    def emit(self, event: str, data: dict[str, Any]) -> None:
        """Send an event of the run (into the current round's buffer, when it has one)."""
        scoped = self._scoped()
        if scoped is not None and scoped[2] is not None:
            scoped[2](event, data)
        else:
            self.sink(event, data)

    @contextlib.contextmanager
    def using_pool(self, pool: VariablePool, buffer: Emit | None = None) -> Iterator[None]:
        """Run the body (and the tasks it starts) against `pool`; with `buffer`, its events go there."""
        outer = self._scoped()
        if buffer is None and outer is not None:
            buffer = outer[2]
        token = _SCOPED.set((self, pool, buffer))
        try:
            yield
        finally:
            _SCOPED.reset(token)

    # ---- streaming text ------------------------------------------------------------------

    def _emit_text(self, text: str, selector: list[str] | None) -> None:
        if not text:
            return
        if self.mode == "advanced-chat":
            self.answer_parts.append(text)
        elif selector:
            self.streamed.setdefault(tuple(selector), []).append(text)
        self.emit("text_chunk", {"text": text, "from_variable_selector": selector})

    def partial_outputs(self) -> dict[str, Any]:
        """A stopped workflow's outputs: the end node's, when it ran; else each end-node output
        that text was already streamed into, with that text."""
        if self.outputs or not self.streamed:
            return dict(self.outputs)
        partial: dict[str, Any] = {}
        for node in self.graph.nodes.values():
            if node.type != "end":
                continue
            for item in node.data.get("outputs") or []:
                if not isinstance(item, Mapping) or not item.get("variable"):
                    continue
                selector = item.get("value_selector")
                parts = (
                    self.streamed.get(tuple(str(p) for p in selector)) if isinstance(selector, list) else None
                )
                if parts:
                    partial[str(item["variable"])] = "".join(parts)
        return partial

    def stream_delta(self, node: Node, delta: str) -> None:
        """A model token of `node`: forwarded to every answer/end it streams into."""
        assert self.router is not None
        self.router.delta(node.id, delta)

    # ---- stop ----------------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def check_stop(self) -> None:
        if self.stop_event.is_set():
            raise RunStopped()

    # ---- the run -------------------------------------------------------------------------

    async def run(self) -> RunOutcome:
        status, error = "succeeded", None
        try:
            await self.run_scope(Scope(), self.graph.start_node())
        except GraphError as exc:
            status, error = "failed", str(exc)
        except RunStopped:
            status, error = "stopped", "Stopped by user."
        except RunFailed as exc:
            status, error = "failed", exc.message
        if status == "succeeded" and self.exceptions_count:
            status = "partial-succeeded"
        if self.mode == "advanced-chat":
            outputs: dict[str, Any] = {"answer": "".join(self.answer_parts)}
        else:
            outputs = self.partial_outputs() if status == "stopped" else dict(self.outputs)
        return RunOutcome(
            status=status,
            outputs=outputs,
            error=error,
            total_tokens=self.total_tokens,
            total_steps=self.index,
            exceptions_count=self.exceptions_count,
            answer="".join(self.answer_parts),
            elapsed_time=time.monotonic() - self.started,
        )

    async def run_scope(self, scope: Scope, start: Node) -> str | None:
        """Run a (sub)graph from `start`. Returns "break" when a loop-end node ran."""
        decided: dict[str, bool] = {}
        ready: list[tuple[Node, str | None]] = [(start, None)]
        seen: set[str] = {start.id}
        running: dict[asyncio.Task[NodeResult], Node] = {}
        members = None if scope.container is None else {n.id for n in self.graph.children(scope.container)}
        signal: str | None = None

        def settle(target_id: str) -> None:
            if members is not None and target_id not in members:
                return
            if members is None and self.graph.nodes[target_id].parent_id is not None:
                return
            incoming = self.graph.incoming(target_id)
            if any(e.id not in decided for e in incoming):
                return
            taken = [e for e in incoming if decided[e.id]]
            if taken:
                if target_id not in seen:
                    seen.add(target_id)
                    ready.append((self.graph.nodes[target_id], taken[0].source))
                return
            for edge in self.graph.outgoing(target_id):  # skipped node: skip its edges too
                decided[edge.id] = False
                settle(edge.target)

        try:
            while ready or running:
                while ready:
                    node, predecessor = ready.pop(0)
                    self.check_stop()
                    running[asyncio.create_task(self.execute(node, predecessor, scope))] = node
                done, _pending = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in [t for t in running if t in done]:  # in start order
                    node = running.pop(task)
                    result = task.result()
                    if node.type == "loop-end":
                        signal = "break"
                        continue
                    edges = self.graph.outgoing(node.id)
                    for edge in edges:
                        decided[edge.id] = edge.source_handle == result.handle
                    for edge in edges:
                        settle(edge.target)
        finally:
            if running:
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
        return signal

    # ---- one node ------------------------------------------------------------------------

    def _base(
        self, node: Node, exec_id: str, index: int, predecessor: str | None, scope: Scope
    ) -> dict[str, Any]:
        return {
            "id": exec_id,
            "node_id": node.id,
            "node_type": node.type,
            "title": node.title,
            "index": index,
            "predecessor_node_id": predecessor,
            "inputs": None,
            "created_at": now_unix(),
            "extras": {},
            "iteration_id": scope.iteration_id,
            "loop_id": scope.loop_id,
            "parallel_id": None,
            "parallel_start_node_id": None,
            "parent_parallel_id": None,
            "parent_parallel_start_node_id": None,
        }

    def _finish(
        self, base: dict[str, Any], status: str, started: float, result: NodeResult | None, error: str | None
    ) -> dict[str, Any]:
        data = dict(base)
        tokens = result.tokens if result else 0
        data.update(
            {
                "inputs": result.inputs if result else base.get("inputs"),
                "process_data": result.process_data if result else None,
                "outputs": result.outputs if result else None,
                "status": status,
                "error": error,
                "elapsed_time": round(time.monotonic() - started, 6),
                "execution_metadata": {"total_tokens": tokens, "total_price": "0", "currency": "USD"},
                "finished_at": now_unix(),
                "files": [],
            }
        )
        return data

    async def execute(self, node: Node, predecessor: str | None, scope: Scope) -> NodeResult:
        top = scope.container is None
        if top and node.id in self.replay:  # ran before the pause: its outputs are in the pool
            handle = self.replay.pop(node.id)
            self.completed[node.id] = handle
            return NodeResult(outputs=dict(self.root_pool.values.get(node.id) or {}), handle=handle)
        resumed = self.resumed_execution
        if top and resumed is not None and resumed.get("node_id") == node.id:
            self.resumed_execution = None
            result = await self._execute(node, predecessor, scope, dict(resumed))
        else:
            result = await self._execute(node, predecessor, scope, None)
        if top:
            self.completed[node.id] = result.handle
        return result

    async def _execute(
        self, node: Node, predecessor: str | None, scope: Scope, resumed: dict[str, Any] | None
    ) -> NodeResult:
        handler = HANDLERS.get(node.type, unsupported_node)
        silent = node.type in SILENT_TYPES
        if resumed is not None:  # the execution the run paused in: same id, index and start
            base = resumed
            exec_id = str(base["id"])
        else:
            if not silent:  # total_steps counts the node executions a client sees
                self.index += 1
            exec_id = str(uuid.uuid4())
            base = self._base(node, exec_id, self.index, predecessor, scope)
        self.execution_ids[node.id] = exec_id

        def send(event: str, data: dict[str, Any], record: bool = True) -> None:
            if record and node.type not in MARKER_TYPES:
                self._record(data)
            if not silent:
                self.emit(event, data)

        if resumed is None:
            send("node_started", dict(base), record=False)
        started = time.monotonic()
        retry = as_mapping(node.data.get("retry_config"))
        max_retries = int(retry.get("max_retries") or 0) if retry.get("retry_enabled") else 0
        interval = max(0.0, float(retry.get("retry_interval") or 0) / 1000.0) if max_retries else 0.0
        attempt = 0
        while True:
            try:
                result = await handler(self, node, scope)
                break
            except RunStopped:
                send("node_finished", self._finish(base, "stopped", started, None, "Stopped by user."))
                raise
            except asyncio.CancelledError:
                send("node_finished", self._finish(base, "stopped", started, None, CANCELLED))
                raise
            except (RunFailed, RunDetached):
                raise
            except Exception as exc:  # any node failure goes through the error strategy
                message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                error_type = getattr(exc, "error_type", None) or type(exc).__name__
                if attempt < max_retries:
                    attempt += 1
                    data = self._finish(base, "retry", started, None, message)
                    data["retry_index"] = attempt
                    send("node_retry", data, record=False)
                    if interval:
                        await asyncio.sleep(min(interval, 10.0))
                    self.check_stop()
                    continue
                strategy = node.error_strategy
                if strategy is None:
                    send("node_finished", self._finish(base, "failed", started, None, message))
                    raise RunFailed(message) from exc
                self.exceptions_count += 1
                outputs: dict[str, Any] = {"error_message": message, "error_type": error_type}
                handle = FAIL_BRANCH
                if strategy == "default-value":
                    handle = SOURCE
                    for item in node.data.get("default_value") or []:
                        if isinstance(item, Mapping) and item.get("key"):
                            outputs[str(item["key"])] = item.get("value")
                result = NodeResult(outputs=outputs, handle=handle)
                self.pool.set_outputs(node.id, outputs)
                send("node_finished", self._finish(base, "exception", started, result, message))
                return result
        self.total_tokens += result.tokens
        self.prompt_tokens += result.prompt_tokens
        self.pool.set_outputs(node.id, result.outputs)
        send("node_finished", self._finish(base, "succeeded", started, result, None))
        return result

    def _record(self, data: dict[str, Any]) -> None:
        self.executions.append(data)


async def unsupported_node(_runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    """What runs in place of a node type this server does not execute: a clear node failure."""
    reason = UNSUPPORTED_REASONS.get(node.type, "this server has no implementation of it")
    raise NodeError(
        f"Node type '{node.type}' cannot run on this server: {reason}.", "NodeTypeNotSupportedError"
    )
