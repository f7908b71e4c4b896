"""Run leases: a run's worker holds one while the run is not over; a dead worker's runs end.

`take` writes the lease when a run starts; the transaction that writes the run's end deletes it
(`drop_in`). Each process runs one `Keeper`: every third of `RUN_LEASE_SECONDS` it renews the
leases of its own runs and reaps the others' that expired, or whose process on this host is
gone (so a restarted single server ends its previous runs at startup). Reaping ends the run as
its worker would have, with an error: the message keeps the answer checkpointed so far and gets
status `error`; the workflow run becomes `failed` with `finished_at`; followers of the run's
event log receive `workflow_finished` (and `error` for a chatflow turn) and their streams close;
an annotation-reply job ends with status `error`. Other concerns that need a round of the same
keeper (the waiters of paused runs) pass it callables (`Keeper(rounds=...)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from impl import runtime
from impl.db.chat_extras_models import AnnotationJob
from impl.db.lease_models import RunLease
from impl.db.models import EndUser, Message, to_unix, utcnow
from impl.db.workflow_models import WorkflowRun
from impl.db.writer import Statement
from impl.tasks import TaskRegistry

log = logging.getLogger("impl.leases")

LEASE_LOST = "The worker running this task stopped before the task ended (its lease expired)."
JOB_LOST = "The worker running this job stopped before the job ended (its lease expired)."
ERROR_CODE = ("internal_server_error", 500)
HOST = socket.gethostname()


def registry() -> TaskRegistry:
    tasks = runtime.current().tasks
    assert isinstance(tasks, TaskRegistry)
    return tasks


def lease_seconds() -> float:
    return runtime.current().settings.run_lease_seconds


def new_lease(
    task_id: str,
    app_id: str,
    *,
    message_id: str | None = None,
    workflow_run_id: str | None = None,
    annotation_job_id: str | None = None,
) -> RunLease:
    """The lease row of a run starting in this process (add it with the run's first rows)."""
    return RunLease(
        **lease_values(
            task_id,
            app_id,
            message_id=message_id,
            workflow_run_id=workflow_run_id,
            annotation_job_id=annotation_job_id,
        )
    )


def lease_values(
    task_id: str,
    app_id: str,
    *,
    message_id: str | None = None,
    workflow_run_id: str | None = None,
    annotation_job_id: str | None = None,
) -> dict[str, Any]:
    """The columns of a new lease (`new_lease`'s row, or `INSERT_LEASE`'s parameters)."""
    return {
        "task_id": task_id,
        "app_id": app_id,
        "message_id": message_id,
        "workflow_run_id": workflow_run_id,
        "annotation_job_id": annotation_job_id,
        "worker": registry().worker,
        "host": HOST,
        "pid": os.getpid(),
        "expires_at": utcnow() + timedelta(seconds=lease_seconds()),
    }


async def take(task_id: str, app_id: str, *, message_id: str | None = None,
               workflow_run_id: str | None = None) -> None:  # fmt: skip
    async with runtime.current().database.transaction() as session:
        session.add(new_lease(task_id, app_id, message_id=message_id, workflow_run_id=workflow_run_id))


_lease_table = RunLease.metadata.tables[RunLease.__tablename__]
INSERT_LEASE = insert(_lease_table)  # with `lease_values` (for a `Statements` write)
# A plain DELETE built once (not the ORM's bulk delete, which syncs the session per call).
_DROP = delete(_lease_table).where(_lease_table.c.task_id == bindparam("b_task_id"))


async def drop_in(session: AsyncSession, task_id: str) -> None:
    """Delete a run's lease in the transaction that writes its end."""
    await session.execute(*drop_statement(task_id))


def drop_statement(task_id: str) -> Statement:
    """The DELETE of a run's lease with its parameters (for a `Statements` write)."""
    return _DROP, {"b_task_id": task_id}


async def renew() -> None:
    """Extend the leases of this process's runs."""
    async with runtime.current().database.transaction() as session:
        await session.execute(
            update(RunLease)
            .where(RunLease.worker == registry().worker)
            .values(expires_at=utcnow() + timedelta(seconds=lease_seconds()))
        )


def _process_gone(lease: RunLease) -> bool:
    return process_gone(lease.worker, lease.host, lease.pid)


def process_gone(worker: str, host: str | None, pid: int | None) -> bool:
    """Whether `worker` is another process on this host that no longer exists."""
    if host != HOST or pid is None or worker == registry().worker:
        return False
    if pid == os.getpid():
        return True  # an earlier incarnation of this process (a restarted container keeps its pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


async def reap() -> int:
    """End the runs whose worker is gone; returns how many were ended."""
    now = utcnow()
    me = registry().worker
    async with runtime.current().database.session() as session:
        leases = (
            await session.scalars(
                select(RunLease).where(
                    RunLease.worker != me, or_(RunLease.expires_at < now, RunLease.host == HOST)
                )
            )
        ).all()
    ended = 0
    for lease in leases:
        if lease.expires_at >= now and not _process_gone(lease):
            continue
        try:
            if await _end_orphan(lease, now):
                ended += 1
        except Exception:
            log.exception("could not end the orphaned task %s", lease.task_id)
    return ended


async def _end_orphan(lease: RunLease, now: datetime) -> bool:
    events: list[dict[str, Any]] = []
    async with runtime.current().database.transaction() as session:
        taken = await session.execute(
            delete(RunLease).where(
                RunLease.task_id == lease.task_id,
                RunLease.worker == lease.worker,
                RunLease.expires_at == lease.expires_at,
            )
        )
        if getattr(taken, "rowcount", 0) != 1:
            return False  # renewed meanwhile, or another worker reaped it first
        if lease.message_id is not None:
            await session.execute(
                update(Message)
                .where(Message.id == lease.message_id, Message.status == "normal")
                .values(status="error", error=LEASE_LOST)
            )
        if lease.annotation_job_id is not None:
            await session.execute(
                update(AnnotationJob)
                .where(
                    AnnotationJob.id == lease.annotation_job_id,
                    AnnotationJob.status.in_(("waiting", "processing")),
                )
                .values(status="error", error_msg=JOB_LOST)
            )
        if lease.workflow_run_id is not None:
            row = await session.get(WorkflowRun, lease.workflow_run_id)
            if row is not None and row.status in ("running", "paused"):
                row.status = "failed"
                row.error = LEASE_LOST
                row.finished_at = now
                row.elapsed_time = max(0.0, (now - row.created_at).total_seconds())
                user = await session.get(EndUser, row.end_user_id) if row.end_user_id else None
                events = final_events(row, user)
                row.event_log = [*(row.event_log or []), *events]
    log.warning(
        "task %s of worker %s ended: its lease expired (message=%s run=%s)",
        lease.task_id, lease.worker, lease.message_id, lease.workflow_run_id,
    )  # fmt: skip
    backend = registry().backend
    if events and lease.workflow_run_id is not None:
        await backend.finish_log(lease.workflow_run_id, events)
    await backend.release(lease.task_id)
    return True


def final_events(row: WorkflowRun, user: EndUser | None, message: str = LEASE_LOST) -> list[dict[str, Any]]:
    """The terminal events of a run whose worker died (or that cannot go on): `workflow_finished`
    (failed), and for a chatflow turn the `error` that ends its stream."""
    data: dict[str, Any] = {
        "id": row.id,
        "workflow_id": row.workflow_id,
        "status": "failed",
        "outputs": dict(row.outputs or {}),
        "error": row.error,
        "elapsed_time": round(row.elapsed_time, 6),
        "total_tokens": row.total_tokens,
        "total_steps": row.total_steps,
        "created_by": None if user is None else {"id": user.id, "user": user.session_id},
        "created_at": to_unix(row.created_at),
        "finished_at": to_unix(row.finished_at),
        "exceptions_count": row.exceptions_count,
        "files": [],
    }
    finished: dict[str, Any] = {
        "event": "workflow_finished",
        "task_id": row.task_id,
        "workflow_run_id": row.id,
        "data": data,
    }
    if row.mode != "advanced-chat":
        return [finished]
    chat = {"conversation_id": row.conversation_id, "message_id": row.message_id}
    finished.update(chat)
    finished["created_at"] = to_unix(row.created_at)
    code, status = ERROR_CODE
    error = {"event": "error", "task_id": row.task_id, **chat, "code": code, "message": message,
             "status": status}  # fmt: skip
    return [finished, error]


Round = Callable[[], Awaitable[object]]


class Keeper:
    """Renews this process's leases and reaps the dead ones, every third of the lease; then runs
    each of `rounds` (also once at start)."""

    def __init__(self, rounds: Sequence[Round] = ()) -> None:
        self._task: asyncio.Task[None] | None = None
        self.rounds = list(rounds)

    async def start(self) -> None:
        try:
            ended = await reap()
            if ended:
                log.warning("ended %d task(s) left running by a stopped worker", ended)
        except Exception:
            log.exception("could not reap leases at startup")
        await self._run_rounds()
        self._task = asyncio.create_task(self._loop())

    async def _run_rounds(self) -> None:
        for round_ in self.rounds:
            try:
                await round_()
            except Exception:
                log.exception("lease upkeep round %s failed", getattr(round_, "__name__", round_))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(lease_seconds() / 3)
            try:
                await renew()
                await reap()
            except Exception:
                log.exception("lease upkeep failed")
            await self._run_rounds()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
