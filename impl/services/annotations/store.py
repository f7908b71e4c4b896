"""Annotations: curated question/answer pairs of an app (list, create, update, delete).

Annotations belong to the app of the key; they have no end user (`user` is not read).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select

from impl import runtime
from impl.db.chat_extras_models import Annotation
from impl.db.models import to_unix, utcnow
from impl.errors import invalid_param, not_found
from impl.services.apps.scope import AppScope

ANNOTATION_NOT_FOUND = "Annotation not found"


def annotation_json(row: Annotation) -> dict[str, Any]:
    return {
        "id": row.id,
        "question": row.question,
        "answer": row.answer,
        "hit_count": row.hit_count,
        "created_at": to_unix(row.created_at),
    }


def _text(body: Any, name: str) -> str:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str):
        raise invalid_param(f"{name} is required and must be a string")
    return value.replace("\x00", "")


def _like(keyword: str) -> str:
    escaped = keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_annotations(ctx: AppScope, *, page: int, limit: int, keyword: str) -> dict[str, Any]:
    """One page, newest first; `has_more` says whether a later page has items."""
    if page < 1:
        raise invalid_param("page must be at least 1")
    if limit < 1:
        raise invalid_param("limit must be at least 1")
    condition = Annotation.app_id == ctx.app_id
    stmt = select(Annotation).where(condition)
    count = select(func.count()).select_from(Annotation).where(condition)
    if keyword:
        pattern = _like(keyword)
        matches = or_(
            Annotation.question.ilike(pattern, escape="\\"), Annotation.answer.ilike(pattern, escape="\\")
        )
        stmt = stmt.where(matches)
        count = count.where(matches)
    async with runtime.current().database.session() as session:
        total = int(await session.scalar(count) or 0)
        offset = (page - 1) * limit
        rows: Sequence[Annotation] = []
        if offset < total:  # (huge page numbers and limits never reach the database's integer range)
            rows = (
                await session.scalars(
                    stmt.order_by(Annotation.created_at.desc(), Annotation.id.desc())
                    .offset(offset)
                    .limit(min(limit, total - offset))
                )
            ).all()
    return {
        "data": [annotation_json(r) for r in rows],
        "has_more": page * limit < total,
        "limit": limit,
        "total": total,
        "page": page,
    }


async def create(ctx: AppScope, body: Any) -> dict[str, Any]:
    question, answer = _text(body, "question"), _text(body, "answer")
    now = utcnow()
    async with runtime.current().database.transaction() as session:
        row = Annotation(
            app_id=ctx.app_id, question=question, answer=answer, hit_count=0, created_at=now, updated_at=now
        )
        session.add(row)
        await session.flush()
        return annotation_json(row)


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise not_found(ANNOTATION_NOT_FOUND) from None


async def update(ctx: AppScope, annotation_id: str, body: Any) -> dict[str, Any]:
    question, answer = _text(body, "question"), _text(body, "answer")
    async with runtime.current().database.transaction() as session:
        row = await session.get(Annotation, _uuid(annotation_id))
        if row is None or row.app_id != ctx.app_id:
            raise not_found(ANNOTATION_NOT_FOUND)
        row.question = question
        row.answer = answer
        row.updated_at = utcnow()
        await session.flush()
        return annotation_json(row)


async def delete(ctx: AppScope, annotation_id: str) -> None:
    async with runtime.current().database.transaction() as session:
        row = await session.get(Annotation, _uuid(annotation_id))
        if row is None or row.app_id != ctx.app_id:
            raise not_found(ANNOTATION_NOT_FOUND)
        await session.delete(row)
