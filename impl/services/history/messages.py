"""Message history (cursor pages walking back in time) and suggested questions."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from impl import runtime
from impl.db.models import Message, MessageFeedback, MessageFile, UploadFile, to_unix
from impl.errors import bad_request, invalid_param, not_found
from impl.services.apps.chat_config import HasAppConfig, load_config
from impl.services.apps.scope import AppScope, end_user_for, model_for
from impl.services.history.conversations import visible_conversation
from impl.services.history.thoughts import thoughts_for
from impl.services.media.files import message_file_json
from impl.services.turns.suggestions import suggest_questions

MESSAGE_NOT_EXISTS = "Message Not Exists."


def _uuid(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None


async def _files(session: AsyncSession, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(MessageFile, UploadFile)
            .outerjoin(UploadFile, UploadFile.id == MessageFile.upload_file_id)
            .where(MessageFile.message_id.in_(ids))
            .order_by(MessageFile.created_at, MessageFile.id)
        )
    ).all()
    out: dict[str, list[dict[str, Any]]] = {}
    for mf, upload in rows:
        out.setdefault(mf.message_id, []).append(message_file_json(mf, upload))
    return out


async def _feedbacks(session: AsyncSession, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(MessageFeedback.message_id, MessageFeedback.rating).where(
                MessageFeedback.message_id.in_(ids), MessageFeedback.from_source == "user"
            )
        )
    ).all()
    return {mid: rating for mid, rating in rows}


def _citations(row: Message) -> list[dict[str, Any]]:
    """The passages the answer cited (stored in its metadata), each with its message id."""
    stored = (row.message_metadata or {}).get("retriever_resources")
    items = stored if isinstance(stored, list) else []
    return [{**item, "message_id": row.id} for item in items if isinstance(item, dict)]


def message_json(row: Message, files: list[dict[str, Any]], rating: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "parent_message_id": row.parent_message_id,
        "inputs": dict(row.inputs or {}),
        "query": row.query,
        "answer": row.answer,
        "message_files": files,
        "feedback": {"rating": rating} if rating else None,
        "retriever_resources": _citations(row),
        "agent_thoughts": [],
        "status": row.status,
        "error": row.error,
        "created_at": to_unix(row.created_at),
        "extra_contents": [],
        "message_tokens": row.message_tokens,
        "answer_tokens": row.answer_tokens,
        "total_tokens": row.message_tokens + row.answer_tokens,
        "provider_response_latency": row.provider_response_latency,
        "total_price": row.total_price,
        "currency": row.currency,
    }


async def list_messages(
    ctx: AppScope, user: str, *, conversation_id: str, first_id: str | None, limit: int
) -> dict[str, Any]:
    if not 1 <= limit <= 100:
        raise invalid_param("limit must be between 1 and 100")
    if conversation_id == "":
        return {"limit": limit, "has_more": False, "data": []}
    end_user = await end_user_for(ctx, user)
    async with runtime.current().database.session() as session:
        conversation = await visible_conversation(session, ctx, end_user.id, conversation_id)
        stmt = select(Message).where(Message.conversation_id == conversation.id)
        if first_id:
            fid = _uuid(first_id)
            first = await session.get(Message, fid) if fid else None
            if first is None or first.conversation_id != conversation.id:
                raise not_found("First Message Not Exists.")
            stmt = stmt.where(
                or_(
                    Message.created_at < first.created_at,
                    and_(Message.created_at == first.created_at, Message.id < first.id),
                )
            )
        rows = list(
            (
                await session.scalars(
                    stmt.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1)
                )
            ).all()
        )
        has_more = len(rows) > limit
        page = list(reversed(rows[:limit]))
        ids = [r.id for r in page]
        files = await _files(session, ids)
        ratings = await _feedbacks(session, ids)
        thoughts = await thoughts_for(session, ids)
    data = [message_json(r, files.get(r.id, []), ratings.get(r.id)) for r in page]
    for item in data:
        item["agent_thoughts"] = thoughts.get(item["id"], [])
    return {"limit": limit, "has_more": has_more, "data": data}


async def owned_message(session: AsyncSession, ctx: AppScope, end_user_id: str, message_id: str) -> Message:
    mid = _uuid(message_id)
    row = await session.get(Message, mid) if mid else None
    if row is None or row.app_id != ctx.app_id or row.end_user_id != end_user_id:
        raise not_found(MESSAGE_NOT_EXISTS)
    return row


async def suggested(ctx: AppScope, app_config: HasAppConfig, user: str, message_id: str) -> dict[str, Any]:
    end_user = await end_user_for(ctx, user)
    async with runtime.current().database.session() as session:
        message = await owned_message(session, ctx, end_user.id, message_id)
        config = load_config(app_config)
        if not config.suggested_questions_after_answer:
            raise bad_request("Suggested Questions Is Disabled.")
        rows = (
            await session.scalars(
                select(Message)
                .where(
                    Message.conversation_id == message.conversation_id,
                    or_(
                        Message.created_at < message.created_at,
                        and_(Message.created_at == message.created_at, Message.id <= message.id),
                    ),
                )
                .order_by(Message.created_at.desc(), Message.id.desc())
                .limit(3)
            )
        ).all()
    history = [(r.query, r.answer) for r in reversed(rows)]
    questions = await suggest_questions(model_for(config.model), history)
    return {"result": "success", "data": questions}
