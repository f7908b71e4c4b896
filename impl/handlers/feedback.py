"""POST /messages/{message_id}/feedbacks and GET /app/feedbacks."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from impl.handlers._common import app_context, body_user, json_response
from impl.handlers.conversations import query_int
from impl.routing import operation
from impl.services.history import feedback


@operation("postChatMessageFeedback")
async def post_feedback(message_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Response:
    ctx = app_context(token_info)
    result = await feedback.give_feedback(
        ctx,
        body_user(body, required=True) or "",
        message_id,
        rating=body.get("rating"),
        content=body.get("content"),
    )
    return json_response(result)


@operation("getChatAppFeedbacks")
async def get_app_feedbacks(token_info: dict[str, Any]) -> Response:
    ctx = app_context(token_info)
    return json_response(
        await feedback.app_feedbacks(ctx, page=query_int("page", 1), limit=query_int("limit", 20))
    )
