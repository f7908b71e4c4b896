"""Message history and suggested questions."""

from __future__ import annotations

from typing import Any

from connexion.context import request
from starlette.responses import Response

from impl.handlers._common import app_context, json_response, query_user
from impl.handlers.conversations import query_int, query_str
from impl.routing import operation
from impl.services.history import messages


@operation("getConversationHistory")
async def get_conversation_history(token_info: dict[str, Any]) -> Response:
    ctx = app_context(token_info)
    page = await messages.list_messages(
        ctx,
        query_user(required=False) or "",
        conversation_id=request.query_params.get("conversation_id") or "",
        first_id=query_str("first_id"),
        limit=query_int("limit", 20),
    )
    return json_response(page)


@operation("getSuggestedQuestions")
async def get_suggested_questions(message_id: str, token_info: dict[str, Any]) -> Response:
    ctx = app_context(token_info)
    return json_response(await messages.suggested(ctx, ctx, query_user(required=True) or "", message_id))
