"""Message feedback (like / dislike / withdraw) and the app-wide feedback list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from impl import runtime
from impl.db.models import MessageFeedback, to_iso, utcnow
from impl.errors import invalid_param
from impl.services.apps.scope import AppScope, end_user_for
from impl.services.history.messages import owned_message

RATINGS = ("like", "dislike")
MAX_OFFSET = 2**62


async def give_feedback(
    ctx: AppScope, user: str, message_id: str, *, rating: Any, content: Any
) -> dict[str, str]:
    """null + existing → delete; value + existing → update; value + none → create;
    null + none → 400 (Dify's semantics)."""
    if rating is not None and rating not in RATINGS:
        raise invalid_param("rating must be 'like', 'dislike' or null")
    if content is not None and not isinstance(content, str):
        raise invalid_param("content must be a string")
    end_user = await end_user_for(ctx, user)
    async with runtime.current().database.transaction() as session:
        message = await owned_message(session, ctx, end_user.id, message_id)
        existing = await session.scalar(
            select(MessageFeedback).where(
                MessageFeedback.message_id == message.id, MessageFeedback.from_source == "user"
            )
        )
        if rating is None:
            if existing is None:
                raise invalid_param("rating cannot be None when feedback not exists")
            await session.delete(existing)
        elif existing is not None:
            existing.rating = rating
            existing.content = content
            existing.updated_at = utcnow()
        else:
            session.add(
                MessageFeedback(
                    app_id=ctx.app_id,
                    conversation_id=message.conversation_id,
                    message_id=message.id,
                    rating=rating,
                    content=content,
                    from_source="user",
                    from_end_user_id=end_user.id,
                )
            )
    return {"result": "success"}


def feedback_json(row: MessageFeedback) -> dict[str, Any]:
    return {
        "id": row.id,
        "app_id": row.app_id,
        "conversation_id": row.conversation_id,
        "message_id": row.message_id,
        "rating": row.rating,
        "content": row.content,
        "from_source": row.from_source,
        "from_end_user_id": row.from_end_user_id,
        "from_account_id": None,
        "created_at": to_iso(row.created_at),
        "updated_at": to_iso(row.updated_at),
    }


async def app_feedbacks(ctx: AppScope, *, page: int, limit: int) -> dict[str, Any]:
    if page < 1:
        raise invalid_param("page must be at least 1")
    if not 1 <= limit <= 101:
        raise invalid_param("limit must be between 1 and 101")
    offset = (page - 1) * limit
    if offset > MAX_OFFSET:  # beyond any real data; databases reject offsets past 64 bits
        return {"data": []}
    async with runtime.current().database.session() as session:
        rows = (
            await session.scalars(
                select(MessageFeedback)
                .where(MessageFeedback.app_id == ctx.app_id)
                .order_by(MessageFeedback.created_at.desc(), MessageFeedback.id.desc())
                .offset(offset)
                .limit(limit)
            )
        ).all()
    return {"data": [feedback_json(r) for r in rows]}
