"""ORM models.  Ids are UUID strings; timestamps are naive UTC with microseconds.

Every table is created by the Alembic revision 0001 (`impl/db/migrations/versions`); a column
added here needs the same column there.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# One workspace per server: Dify's tenant_id, a stable value for this implementation.
TENANT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:dify-service-contract:tenant"))


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """Naive UTC with microseconds (the same on SQLite and PostgreSQL)."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_unix(value: datetime | None) -> int | None:
    if value is None:
        return None
    return int(value.replace(tzinfo=UTC).timestamp())


def to_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _id_column() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True, default=new_id)


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(), default=utcnow, nullable=False)


def _updated() -> Mapped[datetime]:
    return mapped_column(DateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class App(Base):
    __tablename__ = "apps"

    id: Mapped[str] = _id_column()
    tenant_id: Mapped[str] = mapped_column(String(36), default=TENANT_ID, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    mode: Mapped[str] = mapped_column(String(32), nullable=False)
    icon_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    icon: Mapped[str | None] = mapped_column(String(255), nullable=True)
    icon_background: Mapped[str | None] = mapped_column(String(32), nullable=True)
    use_icon_as_answer_icon: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    author_name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list, nullable=False)
    site: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    enable_api: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    status: Mapped[str] = mapped_column(String(32), default="normal", nullable=False)
    current_version_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class AppVersion(Base):
    """One imported DSL of an app.  Its id doubles as the `workflow_id` of workflow apps."""

    __tablename__ = "app_versions"
    __table_args__ = (UniqueConstraint("app_id", "version", name="uq_app_versions_app_version"),)

    id: Mapped[str] = _id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    dsl_version: Mapped[str] = mapped_column(String(32), default="", nullable=False)
    mode: Mapped[str] = mapped_column(String(32), nullable=False)
    dsl: Mapped[str] = mapped_column(Text, nullable=False)
    model_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    features: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    user_input_form: Mapped[list[Any]] = mapped_column(JSON, default=list, nullable=False)
    workflow_graph: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = _created()


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = _id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class EndUser(Base):
    __tablename__ = "end_users"
    __table_args__ = (UniqueConstraint("app_id", "session_id", name="uq_end_users_app_session"),)

    id: Mapped[str] = _id_column()
    tenant_id: Mapped[str] = mapped_column(String(36), default=TENANT_ID, nullable=False)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    type: Mapped[str] = mapped_column(String(32), default="service-api", nullable=False)
    session_id: Mapped[str] = mapped_column(String(255), nullable=False)
    external_user_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_anonymous: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_app_user_updated", "app_id", "end_user_id", "updated_at"),)

    id: Mapped[str] = _id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    app_version_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    end_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("end_users.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    introduction: Mapped[str] = mapped_column(Text, default="", nullable=False)
    status: Mapped[str] = mapped_column(String(32), default="normal", nullable=False)
    mode: Mapped[str] = mapped_column(String(32), nullable=False)
    from_source: Mapped[str] = mapped_column(String(32), default="api", nullable=False)
    dialogue_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_created", "conversation_id", "created_at"),)

    id: Mapped[str] = _id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    app_version_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), nullable=True
    )
    end_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("end_users.id", ondelete="CASCADE"), nullable=True
    )
    parent_message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    query: Mapped[str] = mapped_column(Text, default="", nullable=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    answer: Mapped[str] = mapped_column(Text, default="", nullable=False)
    status: Mapped[str] = mapped_column(String(32), default="normal", nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_tokens: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    answer_tokens: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    provider_response_latency: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    currency: Mapped[str] = mapped_column(String(16), default="USD", nullable=False)
    total_price: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    trace_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    from_source: Mapped[str] = mapped_column(String(32), default="api", nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class UploadFile(Base):
    __tablename__ = "upload_files"

    id: Mapped[str] = _id_column()
    tenant_id: Mapped[str] = mapped_column(String(36), default=TENANT_ID, nullable=False)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    end_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("end_users.id", ondelete="SET NULL"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    extension: Mapped[str] = mapped_column(String(32), default="", nullable=False)
    mime_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    storage_key: Mapped[str] = mapped_column(String(512), nullable=False)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = _created()


class MessageFile(Base):
    __tablename__ = "message_files"

    id: Mapped[str] = _id_column()
    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, index=True
    )
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    transfer_method: Mapped[str] = mapped_column(String(32), nullable=False)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    upload_file_id: Mapped[str | None] = mapped_column(
        ForeignKey("upload_files.id", ondelete="SET NULL"), nullable=True
    )
    belongs_to: Mapped[str] = mapped_column(String(32), default="user", nullable=False)
    created_at: Mapped[datetime] = _created()


class MessageFeedback(Base):
    __tablename__ = "message_feedbacks"
    __table_args__ = (
        UniqueConstraint("message_id", "from_source", name="uq_message_feedbacks_message_source"),
    )

    id: Mapped[str] = _id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), nullable=True
    )
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), nullable=False)
    rating: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str | None] = mapped_column(Text, nullable=True)
    from_source: Mapped[str] = mapped_column(String(32), default="user", nullable=False)
    from_end_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("end_users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
