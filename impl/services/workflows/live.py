"""A graph run in progress in this process: its identity, its event log and its followers.

`graph_run` drives the engine and writes the run's records; this module holds what the run is
while it lives here (`LiveRun`), the shapes of its `workflow_started` / result data, and the
table of the runs live in this process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from impl import runtime
from impl.db.models import to_unix
from impl.engine import RunOutcome, WorkflowRunner
from impl.providers import PromptMessage
from impl.services.media import signed_urls
from impl.services.runs.checkpoint import AnswerCheckpoint
from impl.services.runs.event_log import EventLog
from impl.tasks import Backend, LocalBackend, TaskHandle, TaskRegistry

WORKFLOW_TERMINAL = ("workflow_finished", "workflow_paused", "error")
TIMEOUT = "timeout"
CHAT_TERMINAL = ("message_end", "workflow_paused", "error")


def registry() -> TaskRegistry:
    tasks = runtime.current().tasks
    assert isinstance(tasks, TaskRegistry)
    return tasks


def max_execution_time() -> float:
    """Seconds a run may execute, paused time excluded (`WORKFLOW_MAX_EXECUTION_TIME`; 0 = no limit)."""
    return runtime.current().settings.workflow_max_execution_time


@dataclass
class RunContext:
    """The identity of a run and what it needs from the caller."""

    run_id: str
    task_id: str
    app_id: str
    mode: str
    workflow_id: str
    end_user_id: str
    end_user_session: str
    created_at: datetime
    inputs: dict[str, Any]
    conversation_id: str | None = None
    message_id: str | None = None
    history: list[PromptMessage] = field(default_factory=list)
    # Called after the run ends (chatflow: message row, message_end); returns the final events.
    finish_chat: Callable[[LiveRun, RunOutcome], Awaitable[list[dict[str, Any]]]] | None = None
    write_variable: Callable[[str, Any], Awaitable[None]] | None = None
    # chatflow: the query the conversation's name comes from (a new conversation's first turn)
    title_query: str | None = None

    def stored(self) -> dict[str, Any]:
        """What a worker resuming the run needs beyond its `workflow_runs` row."""
        return {
            "end_user_session": self.end_user_session,
            "history": [[m.role, m.content] for m in self.history],
            "title_query": self.title_query,
        }


@dataclass(frozen=True)
class Resumption:
    """A run resumed from its stored pause: the node it paused in and what its form gave."""

    node_id: str
    outcome: dict[str, Any] | None


@dataclass
class LiveRun:
    """A run in progress in this process."""

    ctx: RunContext
    handle: TaskHandle
    log: EventLog = field(default_factory=EventLog)
    paused: bool = False
    result: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    runner: WorkflowRunner | None = None
    # The execution-time budget: it runs while the graph runs, not while it waits for a human.
    budget: float = 0.0
    timer: asyncio.TimerHandle | None = None
    timer_started: float = 0.0
    # chatflow: the answer streamed so far, checkpointed onto the message row
    checkpoint: AnswerCheckpoint | None = None
    # where the shared copy of the log goes (Redis with several workers)
    backend: Backend = field(default_factory=LocalBackend)
    # set when the run left this process while paused (shutdown, or resumed elsewhere)
    detached: bool = False
    resumption: Resumption | None = None

    def arm(self) -> None:
        if self.budget > 0 and self.timer is None:
            self.timer_started = time.monotonic()
            self.timer = asyncio.get_running_loop().call_later(self.budget, self.handle.request_stop, TIMEOUT)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            self.budget = max(0.001, self.budget - (time.monotonic() - self.timer_started))

    @property
    def chat(self) -> bool:
        return self.ctx.mode == "advanced-chat"

    def wrap(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        if self.chat and name == "text_chunk":
            event: dict[str, Any] = {
                "event": "message",
                "task_id": ctx.task_id,
                "id": ctx.message_id,
                "message_id": ctx.message_id,
                "conversation_id": ctx.conversation_id,
                "answer": data.get("text", ""),
                "from_variable_selector": data.get("from_variable_selector"),
                "created_at": to_unix(ctx.created_at),
            }
            return event
        # A file's URL is signed as the event is made, as Dify signs it whenever it serializes the
        # file: the pool's URL was signed when the file entered the run, maybe long ago.
        if name != "text_chunk":
            data = signed_urls.fresh_urls(runtime.current().settings, data)
        event = {"event": name, "task_id": ctx.task_id, "workflow_run_id": ctx.run_id, "data": data}
        if self.chat:
            event.update(
                {
                    "conversation_id": ctx.conversation_id,
                    "message_id": ctx.message_id,
                    "created_at": to_unix(ctx.created_at),
                }
            )
        return event

    def publish(self, event: dict[str, Any]) -> None:
        """Append an event to the run's log: the in-process one its local followers read, and
        the shared one (Redis) of followers on other workers."""
        if self.detached:
            return
        self.log.append(event)
        self.backend.append(self.ctx.run_id, event)

    def emit(self, name: str, data: dict[str, Any]) -> None:
        self.publish(self.wrap(name, data))
        if name == "text_chunk" and self.checkpoint is not None:
            self.checkpoint.touch()

    async def follow(
        self, start: int = 0, *, stop_at_pause: bool = True, replay: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """Events from `start` on, live, until a terminal one.

        The stream of the request that started the run (`replay=False`) ends at its first
        `workflow_paused`, even when the form was already submitted by the time a slow reader
        gets there: for that stream the pause is terminal. A resume stream (`replay=True`)
        replays the log from the start, so a pause ends it only when the run is still paused
        at that point; with `stop_at_pause=False` no pause ends it."""
        index = start
        terminal = CHAT_TERMINAL if self.chat else WORKFLOW_TERMINAL
        while True:
            while index < len(self.log):
                event = self.log.events[index]
                index += 1
                yield event
                name = event.get("event")
                if name == "workflow_paused":
                    if not stop_at_pause:
                        continue
                    if not replay or (self.paused and index == len(self.log)):
                        return
                    continue
                if name in terminal:
                    return
            if self.log.ended and index >= len(self.log):
                return
            await self.log.wait_beyond(index)


LIVE_RUNS: dict[str, LiveRun] = {}


def live_run(run_id: str) -> LiveRun | None:
    return LIVE_RUNS.get(run_id)


def started_data(ctx: RunContext, reason: str) -> dict[str, Any]:
    return {
        "id": ctx.run_id,
        "workflow_id": ctx.workflow_id,
        "inputs": ctx.inputs,
        "created_at": to_unix(ctx.created_at),
        "reason": reason,
    }


def result_data(
    live: LiveRun, runner: WorkflowRunner, status: str, error: str | None, outputs: dict[str, Any] | None,
    finished_at: datetime | None = None, elapsed: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    ctx = live.ctx
    return {
        "id": ctx.run_id,
        "workflow_id": ctx.workflow_id,
        "status": status,
        "outputs": outputs,
        "error": error,
        "elapsed_time": round(elapsed if elapsed is not None else time.monotonic() - runner.started, 6),
        "total_tokens": runner.total_tokens,
        "total_steps": runner.index,
        "created_by": {"id": ctx.end_user_id, "user": ctx.end_user_session},
        "created_at": to_unix(ctx.created_at),
        "finished_at": to_unix(finished_at),
        "exceptions_count": runner.exceptions_count,
        "files": [],
    }
