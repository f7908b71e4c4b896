"""Registry of running tasks (generations and graph runs), the handle that stop acts on.

A task registers its `task_id` with the end user and the app that started it. `stop(task_id,
owner, app_id)` raises the task's stop flag only when both match, and does nothing otherwise
(Dify answers `{"result": "success"}` either way). The runner polls `handle.stopped` (or awaits
`handle.stop_event`) between tokens and nodes and ends the run with what it produced so far.

The registry keeps this process's tasks in memory; its `Backend` shares the claims and stop
flags with the other processes of a deployment (`impl.tasks.redis`). With a shared backend, a
stop that lands on another process raises the flag there, and this process's poller sees it
within `POLL_INTERVAL` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from impl.tasks.backend import Backend, Claim, LocalBackend

log = logging.getLogger(__name__)

STOP_REASON_USER = "user"
STOP_REASON_SHUTDOWN = "shutdown"
POLL_INTERVAL = 0.2  # seconds between two reads of the shared stop flags
REFRESH_EVERY = 50  # polls between two refreshes of the shared claims


@dataclass(eq=False)
class TaskHandle:
    """One running task: its owner, its app and its stop signal."""

    task_id: str
    owner: str
    app_id: str = ""
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    done_event: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str | None = None
    # The background asyncio task driving the run; kept here so it is not garbage-collected.
    runner: asyncio.Task[None] | None = None

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def request_stop(self, reason: str) -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()


def worker_identity() -> str:
    """This process among the workers of a deployment: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TaskRegistry:
    """This process's tasks keyed by task id, and the shared state behind them."""

    def __init__(self, backend: Backend | None = None) -> None:
        self.backend: Backend = backend or LocalBackend()
        self.worker = worker_identity()
        self._tasks: dict[str, TaskHandle] = {}
        self._closing = False
        self._poller: asyncio.Task[None] | None = None
        self._releasing: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def closing(self) -> bool:
        """True once `shutdown()` started: new tasks are stopped immediately."""
        return self._closing

    async def start(self) -> None:
        """Open the backend; with a shared one, start polling the stop flags of local tasks."""
        await self.backend.open()
        if self.backend.shared:
            self._poller = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            ids = list(self._tasks)
            if not ids:
                continue
            try:
                for task_id in await self.backend.stop_flags(ids):
                    handle = self._tasks.get(task_id)
                    if handle is not None:
                        handle.request_stop(STOP_REASON_USER)
                rounds += 1
                if rounds % REFRESH_EVERY == 0:
                    await self.backend.refresh(ids)
            except Exception:
                log.exception("could not read the shared stop flags")

    async def register(self, task_id: str, owner: str, app_id: str = "") -> TaskHandle:
        if task_id in self._tasks:
            raise ValueError(f"task {task_id} is already registered")
        handle = TaskHandle(task_id=task_id, owner=owner, app_id=app_id)
        if self._closing:
            handle.request_stop(STOP_REASON_SHUTDOWN)
        self._tasks[task_id] = handle
        try:
            await self.backend.claim(task_id, Claim(owner, app_id, self.worker))
        except Exception:  # the run goes on; only stops sent through other workers miss it
            log.exception("could not share the claim of task %s", task_id)
        return handle

    def get(self, task_id: str) -> TaskHandle | None:
        return self._tasks.get(task_id)

    async def stop(self, task_id: str, owner: str, app_id: str = "") -> bool:
        """Ask a task to stop. Unknown tasks, foreign owners and other apps' tasks are ignored;
        True when the stop was accepted."""
        handle = self._tasks.get(task_id)
        if handle is not None:
            if handle.owner != owner or handle.app_id != app_id:
                return False
            handle.request_stop(STOP_REASON_USER)
            return True
        try:
            return await self.backend.request_stop(task_id, owner, app_id)
        except Exception:
            log.exception("could not pass on the stop of task %s", task_id)
            return False

    async def is_stopped(self, task_id: str) -> bool:
        handle = self._tasks.get(task_id)
        return handle is not None and handle.stopped

    def unregister(self, task_id: str) -> None:
        handle = self._tasks.pop(task_id, None)
        if handle is not None:
            handle.done_event.set()
            if self.backend.shared:
                task = asyncio.get_running_loop().create_task(self._release(task_id))
                self._releasing.add(task)
                task.add_done_callback(self._releasing.discard)

    async def _release(self, task_id: str) -> None:
        try:
            await self.backend.release(task_id)
        except Exception:
            log.exception("could not release task %s", task_id)

    def active(self) -> list[str]:
        return list(self._tasks)

    @property
    def redis(self) -> Any:
        """The process's shared `redis.asyncio.Redis` client when the backend is Redis, else
        None: other cross-worker state (e.g. the concurrency counters) can use it."""
        return getattr(self.backend, "client", None)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every running task and wait (bounded) until each has persisted and ended;
        then close the backend. A second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self._closing = True
        try:
            await self._stop_all(timeout)
        finally:
            if self._poller is not None:
                self._poller.cancel()
                with contextlib.suppress(BaseException):
                    await self._poller
                self._poller = None
            if self._releasing:
                await asyncio.gather(*list(self._releasing), return_exceptions=True)
            await self.backend.close()

    async def _stop_all(self, timeout: float) -> None:
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
            log.warning("%d task(s) still running %.1fs after shutdown", len(pending), timeout)
            for handle in handles:
                if handle.runner is not None and not handle.runner.done():
                    handle.runner.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await handle.runner
