"""Registry of running generation tasks, the handle that the stop endpoints act on.

A generation registers its `task_id` with the identity of the end user that started it.
`stop(task_id, owner)` raises the task's stop flag only when the owner matches, and does
nothing otherwise (Dify answers `{"result": "success"}` either way). The generator polls
`handle.stopped` (or awaits `handle.stop_event`) between tokens and ends the stream like a
normal completion carrying the partial answer.

This implementation lives in one process. The interface is kept to what a Redis-backed
registry can also provide (owner key + stopped flag with a TTL, as Dify does), so a
multi-process deployment can swap it without touching the services: every method that
would talk to Redis is `async`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

STOP_REASON_USER = "user"
STOP_REASON_SHUTDOWN = "shutdown"


@dataclass(eq=False)
class TaskHandle:
    """One running generation: its owner and its stop signal."""

    task_id: str
    owner: str
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    done_event: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str | None = None
    # The background asyncio task driving the generation; kept here so it is not garbage-collected.
    runner: asyncio.Task[None] | None = None

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def request_stop(self, reason: str) -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()


class TaskRegistry:
    """In-process registry of generation tasks keyed by task id."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskHandle] = {}
        self._closing = False

    @property
    def closing(self) -> bool:
        """True once `shutdown()` started: new generations are stopped immediately."""
        return self._closing

    def register(self, task_id: str, owner: str) -> TaskHandle:
        if task_id in self._tasks:
            raise ValueError(f"task {task_id} is already registered")
        handle = TaskHandle(task_id=task_id, owner=owner)
        if self._closing:
            handle.request_stop(STOP_REASON_SHUTDOWN)
        self._tasks[task_id] = handle
        return handle

    def get(self, task_id: str) -> TaskHandle | None:
        return self._tasks.get(task_id)

    async def stop(self, task_id: str, owner: str) -> None:
        """Ask a task to stop. Unknown tasks and foreign owners are ignored silently."""
        handle = self._tasks.get(task_id)
        if handle is None or handle.owner != owner:
            return
        handle.request_stop(STOP_REASON_USER)

    async def is_stopped(self, task_id: str) -> bool:
        handle = self._tasks.get(task_id)
        return handle is not None and handle.stopped

    def unregister(self, task_id: str) -> None:
        handle = self._tasks.pop(task_id, None)
        if handle is not None:
            handle.done_event.set()

    def active(self) -> list[str]:
        return list(self._tasks)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every running task and wait (bounded) until each has persisted and ended."""
        self._closing = True
        handles = list(self._tasks.values())
        for handle in handles:
            handle.request_stop(STOP_REASON_SHUTDOWN)
        if not handles:
            return
        waiters = [asyncio.ensure_future(h.done_event.wait()) for h in handles]
        _done, pending = await asyncio.wait(waiters, timeout=timeout)
        for waiter in pending:
            waiter.cancel()
        if pending:
            log.warning("%d generation task(s) still running %.1fs after shutdown", len(pending), timeout)
            for handle in handles:
                if handle.runner is not None and not handle.runner.done():
                    handle.runner.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await handle.runner
