"""Tables of the workflow engine: runs, node executions, conversation variables, human-input forms.

They live on the shared declarative `Base`; Alembic revision 0002 creates them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from impl.db.models import Base, new_id, utcnow


class WorkflowRun(Base):
    """One execution of a workflow graph (a workflow-app run or one chatflow turn)."""

    __tablename__ = "workflow_runs"
    __table_args__ = (Index("ix_workflow_runs_app_created", "app_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    workflow_id: Mapped[str] = mapped_column(String(36), nullable=False)
    version: Mapped[str] = mapped_column(String(32), default="", nullable=False)
    mode: Mapped[str] = mapped_column(String(32), nullable=False)
    task_id: Mapped[str] = mapped_column(String(36), nullable=False)
    end_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("end_users.id", ondelete="SET NULL"), nullable=True
    )
    conversation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    triggered_from: Mapped[str] = mapped_column(String(32), default="app-run", nullable=False)
    created_from: Mapped[str] = mapped_column(String(32), default="service-api", nullable=False)
    status: Mapped[str] = mapped_column(String(32), default="running", nullable=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    elapsed_time: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    total_steps: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    exceptions_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # Every SSE event of the run, written when the run pauses or ends (resume stream replay).
    event_log: Mapped[list[Any]] = mapped_column(JSON, default=list, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class WorkflowNodeExecution(Base):
    __tablename__ = "workflow_node_executions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workflow_run_id: Mapped[str] = mapped_column(
        ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    node_id: Mapped[str] = mapped_column(String(255), nullable=False)
    node_type: Mapped[str] = mapped_column(String(64), nullable=False)
    title: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    index: Mapped[int] = mapped_column(Integer, nullable=False)
    predecessor_node_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    iteration_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    loop_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    process_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    elapsed_time: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    execution_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class ConversationVariable(Base):
    """A chatflow conversation variable's current value in one conversation."""

    __tablename__ = "conversation_variables"
    __table_args__ = (UniqueConstraint("conversation_id", "name", name="uq_conversation_variables_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    value_type: Mapped[str] = mapped_column(String(32), nullable=False)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, nullable=False)


class HumanInputForm(Base):
    """A form a paused run waits on; its token is single use."""

    __tablename__ = "human_input_forms"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    token: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    workflow_run_id: Mapped[str] = mapped_column(
        ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    node_id: Mapped[str] = mapped_column(String(255), nullable=False)
    node_title: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    status: Mapped[str] = mapped_column(String(32), default="waiting", nullable=False)
    action: Mapped[str | None] = mapped_column(String(64), nullable=True)
    submitted_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
