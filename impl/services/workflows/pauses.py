"""Paused runs in the database: written at the pause, claimed by whoever resumes the run.

While a run waits on a human-input form it holds no run lease (it is not running, and crash
recovery must not end it). Its `workflow_pauses` row keeps the engine's snapshot and the run's
context, and names the worker waiting on the form while that worker lives (renewed with the
keeper's rounds like a lease, NULL after a clean shutdown). The worker that resumes the run,
the waiter itself or any other one when the waiter is gone, deletes the row in the transaction
that takes the run's lease again and marks the run `running`: exactly one worker wins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from impl import runtime
from impl.db.lease_models import WorkflowPause
from impl.db.models import utcnow
from impl.db.workflow_models import HumanInputForm, WorkflowRun
from impl.services.runs import leases


@dataclass(frozen=True)
class Pause:
    """A paused run as read from its row."""

    run_id: str
    form_id: str
    node_id: str
    state: dict[str, Any]
    worker: str | None
    host: str | None
    pid: int | None
    expires_at: datetime | None

    def waiter_alive(self, now: datetime) -> bool:
        """Whether a live worker still waits on the form (and will resume the run itself)."""
        if self.worker is None or self.expires_at is None or self.expires_at < now:
            return False
        return not leases.process_gone(self.worker, self.host, self.pid)


def _pause(row: WorkflowPause) -> Pause:
    return Pause(
        run_id=row.workflow_run_id,
        form_id=row.form_id,
        node_id=row.node_id,
        state=dict(row.state or {}),
        worker=row.worker,
        host=row.host,
        pid=row.pid,
        expires_at=row.expires_at,
    )


def new_row(run_id: str, form_id: str, node_id: str, state: dict[str, Any]) -> WorkflowPause:
    """The pause row of a run pausing in this process (written with the run's `paused` status)."""
    return WorkflowPause(
        workflow_run_id=run_id,
        form_id=form_id,
        node_id=node_id,
        state=state,
        worker=leases.registry().worker,
        host=leases.HOST,
        pid=os.getpid(),
        expires_at=utcnow() + timedelta(seconds=leases.lease_seconds()),
    )


async def get(run_id: str) -> Pause | None:
    async with runtime.current().database.session() as session:
        row = await session.get(WorkflowPause, run_id)
        return None if row is None else _pause(row)


async def renew() -> None:
    """Extend the waits of this process (a keeper round)."""
    async with runtime.current().database.transaction() as session:
        await session.execute(
            update(WorkflowPause)
            .where(WorkflowPause.worker == leases.registry().worker)
            .values(expires_at=utcnow() + timedelta(seconds=leases.lease_seconds()))
        )


async def release(run_id: str) -> None:
    """This process stops waiting (shutdown): the run stays paused for any worker to resume."""
    async with runtime.current().database.transaction() as session:
        await session.execute(
            update(WorkflowPause)
            .where(WorkflowPause.workflow_run_id == run_id, WorkflowPause.worker == leases.registry().worker)
            .values(worker=None, host=None, pid=None, expires_at=None)
        )


async def claim(pause: Pause, *, task_id: str, app_id: str, message_id: str | None, as_waiter: bool) -> bool:
    """Take the run out of its pause: delete the row (the waiter only while it is still named in
    it; another worker only while the row is as it read it), take the run's lease, mark the run
    `running`. False when someone else resumed it first."""
    async with runtime.current().database.transaction() as session:
        query = delete(WorkflowPause).where(WorkflowPause.workflow_run_id == pause.run_id)
        if as_waiter:
            query = query.where(WorkflowPause.worker == leases.registry().worker)
        else:
            worker = WorkflowPause.worker
            expires = WorkflowPause.expires_at
            query = query.where(
                worker.is_(None) if pause.worker is None else worker == pause.worker,
                expires.is_(None) if pause.expires_at is None else expires == pause.expires_at,
            )
        taken = await session.execute(query)
        if getattr(taken, "rowcount", 0) != 1:
            return False
        session.add(leases.new_lease(task_id, app_id, message_id=message_id, workflow_run_id=pause.run_id))
        run = await session.get(WorkflowRun, pause.run_id)
        if run is not None:
            run.status = "running"
    return True


async def orphans_to_resume() -> list[Pause]:
    """Paused runs that nobody alive waits on and whose form was submitted or has expired (a
    keeper round resumes them; `state` is left out, `get` reads it)."""
    now = utcnow()
    query = (
        select(
            WorkflowPause.workflow_run_id,
            WorkflowPause.form_id,
            WorkflowPause.node_id,
            WorkflowPause.worker,
            WorkflowPause.host,
            WorkflowPause.pid,
            WorkflowPause.expires_at,
        )
        .join(HumanInputForm, HumanInputForm.id == WorkflowPause.form_id)
        .where(
            or_(
                HumanInputForm.status == "submitted",
                and_(HumanInputForm.status == "waiting", HumanInputForm.expires_at <= now),
            ),
            or_(WorkflowPause.worker.is_(None), WorkflowPause.worker != leases.registry().worker),
        )
    )
    async with runtime.current().database.session() as session:
        rows = (await session.execute(query)).all()
    found = [Pause(r[0], r[1], r[2], {}, r[3], r[4], r[5], r[6]) for r in rows]
    return [p for p in found if not p.waiter_alive(now)]


async def forget(run_id: str) -> None:
    async with runtime.current().database.transaction() as session:
        await session.execute(delete(WorkflowPause).where(WorkflowPause.workflow_run_id == run_id))
