"""What the processes of one deployment share about running tasks: the `Backend` interface and
its in-process implementation.

A backend holds, per task, who may stop it (end user and app) and its stop flag, and per run an
append-only event log that followers on any process read. The in-process backend (the default,
one process) needs none of that to be shared: the registry keeps the owners and flags in memory
and live runs keep their logs in memory, so every method here is a no-op. `impl.tasks.redis`
implements the same interface on Redis for several workers and hosts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Claim:
    """Who started a task: the end user, the app, and the process running it."""

    owner: str
    app_id: str
    worker: str


@dataclass(frozen=True)
class LogItem:
    """One event read from a run's log; `more` says whether further events were already
    waiting when it was read (a follower uses it to tell a pause that is the run's current
    state from one that was already left)."""

    event: dict[str, Any]
    more: bool


class Backend(Protocol):
    """The shared state of running tasks. `shared` is False for the in-process backend."""

    shared: bool

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def claim(self, task_id: str, claim: Claim) -> None:
        """Record who may stop `task_id` (kept while the task runs; `refresh` extends it)."""

    async def refresh(self, task_ids: list[str]) -> None:
        """Extend the claims of these running tasks."""

    async def release(self, task_id: str) -> None:
        """The task ended: forget its claim and its stop flag."""

    async def request_stop(self, task_id: str, owner: str, app_id: str) -> bool:
        """Raise the stop flag when the claim matches `owner` and `app_id`; True when raised."""

    async def stop_flags(self, task_ids: list[str]) -> set[str]:
        """The tasks among `task_ids` whose stop flag is raised."""

    def append(self, run_id: str, event: dict[str, Any]) -> None:
        """Add an event to a run's log (written in order, in the background)."""

    def end_log(self, run_id: str) -> None:
        """The run's log is complete: followers stop after its last event; it expires later."""

    async def finish_log(self, run_id: str, events: list[dict[str, Any]]) -> None:
        """Append final events and end the log now (used for runs whose worker died)."""

    async def flush(self) -> None:
        """Wait until every appended event was written."""

    async def has_log(self, run_id: str) -> bool:
        """Whether a log of `run_id` exists (live or kept after its end)."""

    def follow(self, run_id: str) -> AsyncIterator[LogItem]:
        """The run's events from its first one, live, until the log ends or disappears."""


class LocalBackend:
    """One process: the registry and the live runs keep everything in memory."""

    shared = False

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def claim(self, task_id: str, claim: Claim) -> None:
        return None

    async def refresh(self, task_ids: list[str]) -> None:
        return None

    async def release(self, task_id: str) -> None:
        return None

    async def request_stop(self, task_id: str, owner: str, app_id: str) -> bool:
        return False

    async def stop_flags(self, task_ids: list[str]) -> set[str]:
        return set()

    def append(self, run_id: str, event: dict[str, Any]) -> None:
        return None

    def end_log(self, run_id: str) -> None:
        return None

    async def finish_log(self, run_id: str, events: list[dict[str, Any]]) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def has_log(self, run_id: str) -> bool:
        return False

    async def follow(self, run_id: str) -> AsyncIterator[LogItem]:
        return
        yield  # an empty async generator
