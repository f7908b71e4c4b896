"""Tables of the chat extras: annotations and annotation reply, agent reasoning steps.

They live on the shared declarative `Base`; Alembic revision 0003 creates them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from impl.db.models import Base, new_id, utcnow


class Annotation(Base):
    """A curated question with the answer to give when a query matches it."""

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_app_created", "app_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    question: Mapped[str] = mapped_column(Text, default="", nullable=False)
    answer: Mapped[str] = mapped_column(Text, default="", nullable=False)
    hit_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class AnnotationSetting(Base):
    """Whether annotation reply is on for an app, and with which threshold and embedding model."""

    __tablename__ = "annotation_settings"

    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    score_threshold: Mapped[float] = mapped_column(Float, default=0.9, nullable=False)
    embedding_provider_name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    embedding_model_name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class AnnotationJob(Base):
    """A background job switching annotation reply on or off."""

    __tablename__ = "annotation_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="waiting", nullable=False)
    error_msg: Mapped[str] = mapped_column(Text, default="", nullable=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class AnnotationHit(Base):
    """One query answered by an annotation."""

    __tablename__ = "annotation_hits"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    annotation_id: Mapped[str] = mapped_column(
        ForeignKey("annotations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    question: Mapped[str] = mapped_column(Text, default="", nullable=False)
    score: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, nullable=False)


class AgentThoughtRow(Base):
    """One reasoning step of an agent answer: thought, tool calls, observation, files."""

    __tablename__ = "agent_thoughts"
    __table_args__ = (Index("ix_agent_thoughts_message_position", "message_id", "position"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    thought: Mapped[str] = mapped_column(Text, default="", nullable=False)
    tool: Mapped[str] = mapped_column(Text, default="", nullable=False)
    tool_labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    tool_input: Mapped[str] = mapped_column(Text, default="", nullable=False)
    observation: Mapped[str] = mapped_column(Text, default="", nullable=False)
    files: Mapped[list[Any]] = mapped_column(JSON, default=list, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, nullable=False)
