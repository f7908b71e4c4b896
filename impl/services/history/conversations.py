"""Conversations of one end user: list (cursor pages), rename, delete, variables."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from impl import runtime
from impl.db.models import Conversation, Message, to_unix, utcnow
from impl.errors import invalid_param, not_found
from impl.services.apps.chat_config import HasAppConfig, load_config
from impl.services.apps.scope import AppScope, end_user_for, model_for
from impl.services.turns.suggestions import generate_title

SORT_FIELDS = {"created_at": Conversation.created_at, "updated_at": Conversation.updated_at}
NOT_EXISTS = "Conversation Not Exists."


def conversation_json(row: Conversation) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "inputs": dict(row.inputs or {}),
        "status": row.status,
        "introduction": row.introduction or "",
        "created_at": to_unix(row.created_at),
        "updated_at": to_unix(row.updated_at),
    }


def _uuid(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


async def visible_conversation(
    session: AsyncSession, ctx: AppScope, end_user_id: str, conversation_id: str | None
) -> Conversation:
    """The conversation if this end user of this app can see it, else 404."""
    cid = _uuid(conversation_id)
    row = await session.get(Conversation, cid) if cid else None
    if row is None or row.app_id != ctx.app_id or row.end_user_id != end_user_id or row.is_deleted:
        raise not_found(NOT_EXISTS)
    return row


async def list_conversations(
    ctx: AppScope, user: str, *, last_id: str | None, limit: int, sort_by: str
) -> dict[str, Any]:
    descending = sort_by.startswith("-")
    field_name = sort_by.lstrip("-")
    column = SORT_FIELDS.get(field_name)
    if column is None:
        raise invalid_param("sort_by must be one of created_at, -created_at, updated_at, -updated_at")
    if not 1 <= limit <= 100:
        raise invalid_param("limit must be between 1 and 100")
    end_user = await end_user_for(ctx, user)
    async with runtime.current().database.session() as session:
        base = select(Conversation).where(
            Conversation.app_id == ctx.app_id,
            Conversation.end_user_id == end_user.id,
            Conversation.is_deleted.is_(False),
        )
        if last_id:
            cid = _uuid(last_id)
            ref = await session.scalar(base.where(Conversation.id == cid)) if cid else None
            if ref is None:
                raise not_found("Last Conversation Not Exists.")
            ref_value = getattr(ref, field_name)
            if descending:
                cond = or_(column < ref_value, and_(column == ref_value, Conversation.id < ref.id))
            else:
                cond = or_(column > ref_value, and_(column == ref_value, Conversation.id > ref.id))
            base = base.where(cond)
        order = (
            (column.desc(), Conversation.id.desc()) if descending else (column.asc(), Conversation.id.asc())
        )
        rows = list((await session.scalars(base.order_by(*order).limit(limit + 1))).all())
    has_more = len(rows) > limit
    return {"limit": limit, "has_more": has_more, "data": [conversation_json(r) for r in rows[:limit]]}


async def rename(
    ctx: AppScope,
    app_config: HasAppConfig,
    user: str,
    conversation_id: str,
    *,
    name: Any,
    auto_generate: bool,
) -> dict[str, Any]:
    end_user = await end_user_for(ctx, user)
    async with runtime.current().database.transaction() as session:
        row = await visible_conversation(session, ctx, end_user.id, conversation_id)
        if auto_generate:
            first = await session.scalar(
                select(Message.query)
                .where(Message.conversation_id == row.id)
                .order_by(Message.created_at.asc(), Message.id.asc())
                .limit(1)
            )
            if first is None:
                raise invalid_param("The conversation has no message to generate a name from.")
            title = await generate_title(model_for(load_config(app_config).model), first)
            if title:
                row.name = title
        else:
            if not isinstance(name, str) or not name.strip():
                raise invalid_param("name is required when auto_generate is false")
            row.name = name.strip()[:255]
        row.updated_at = utcnow()
        await session.flush()
        return conversation_json(row)


async def delete(ctx: AppScope, user: str, conversation_id: str) -> None:
    """Soft delete (the row stays, flagged); unknown or foreign conversations are 404."""
    end_user = await end_user_for(ctx, user)
    async with runtime.current().database.transaction() as session:
        row = await visible_conversation(session, ctx, end_user.id, conversation_id)
        row.is_deleted = True
