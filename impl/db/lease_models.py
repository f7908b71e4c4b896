"""Run leases: which worker runs which task, until when (Alembic revision 0004).

A worker holds one row per running task (a chat-family message, a workflow run, or both for a
chatflow turn) and renews `expires_at` while it is alive. The row is deleted in the same
transaction that writes the task's end; a row whose lease expired belongs to a dead worker.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from impl.db.models import Base


class RunLease(Base):
    __tablename__ = "run_leases"
    __table_args__ = (Index("ix_run_leases_expires", "expires_at"), Index("ix_run_leases_worker", "worker"))

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(36), nullable=False)
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    workflow_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    worker: Mapped[str] = mapped_column(String(255), nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
