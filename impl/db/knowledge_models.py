"""Local knowledge bases: the indexed documents and their segments (Alembic revision 0005).

A dataset is named by the Dify dataset id an app's DSL carries and mapped to local files by the
knowledge configuration (`impl.knowledge.config`); the rows here are the index of those files.
A document is one file (its path, size and content hash decide when it is indexed again); a
segment is one chunk of its text with the term counts the keyword search reads and, for
datasets searched semantically, the chunk's embedding and the model that made it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from impl.db.models import Base, new_id, utcnow


class KnowledgeDocument(Base):
    __tablename__ = "knowledge_documents"
    __table_args__ = (UniqueConstraint("dataset_id", "path", name="uq_knowledge_documents_path"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(String(255), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(String(1024), nullable=False)
    size: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # The chunking and embedding settings the segments were made with (re-index when they change).
    settings_key: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    segment_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    indexed_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow, nullable=False)


class KnowledgeSegment(Base):
    __tablename__ = "knowledge_segments"
    __table_args__ = (Index("ix_knowledge_segments_dataset", "dataset_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(String(255), nullable=False)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_documents.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    word_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    embedding: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    hit_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
