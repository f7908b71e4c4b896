"""Run leases and paused runs: which worker runs (or waits on) what, until when.

A worker holds one lease row per running task (a chat-family message, a workflow run, both for
a chatflow turn, or an annotation-reply job) and renews `expires_at` while it is alive. The row
is deleted in the same transaction that writes the task's end; a row whose lease expired
belongs to a dead worker (Alembic revision 0004; `annotation_job_id` since 0006).

A run paused on a human-input form holds no lease: its `workflow_pauses` row (revision 0006)
keeps what the engine needs to continue, and names the worker waiting on the form while that
worker lives (`worker` … `expires_at`, renewed like a lease; NULL when nobody waits). Whoever
resumes the run deletes the row in the transaction that takes the run's lease again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from impl.db.models import Base, utcnow


class RunLease(Base):
    __tablename__ = "run_leases"
    __table_args__ = (Index("ix_run_leases_expires", "expires_at"), Index("ix_run_leases_worker", "worker"))

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(36), nullable=False)
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    workflow_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    annotation_job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    worker: Mapped[str] = mapped_column(String(255), nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class WorkflowPause(Base):
    """A run paused on a human-input form: the engine's state at the pause and its waiter."""

    __tablename__ = "workflow_pauses"
    __table_args__ = (Index("ix_workflow_pauses_worker", "worker"),)

    workflow_run_id: Mapped[str] = mapped_column(
        ForeignKey("workflow_runs.id", ondelete="CASCADE"), primary_key=True
    )
    form_id: Mapped[str] = mapped_column(String(36), nullable=False)
    node_id: Mapped[str] = mapped_column(String(255), nullable=False)
    # The engine state (`impl.engine.snapshot`) and the run's context; `resumable` is false when
    # the pause happened where a snapshot cannot restore (inside an iteration or a loop).
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, nullable=False)
