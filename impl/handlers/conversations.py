"""Conversation list, rename, delete and variables."""

from __future__ import annotations

from typing import Any

from connexion.context import request
from starlette.responses import Response

from impl.errors import invalid_param
from impl.handlers._common import app_context, body_user, json_response, query_user
from impl.routing import operation
from impl.services.history import conversations, variables


def query_int(name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid_param(f"{name} must be an integer") from None


def query_str(name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value else None


@operation("getConversationsList")
async def list_conversations(token_info: dict[str, Any]) -> Response:
    ctx = app_context(token_info)
    page = await conversations.list_conversations(
        ctx,
        query_user(required=False) or "",
        last_id=query_str("last_id"),
        limit=query_int("limit", 20),
        sort_by=request.query_params.get("sort_by") or "-updated_at",
    )
    return json_response(page)


@operation("renameConversation")
async def rename_conversation(
    conversation_id: str, token_info: dict[str, Any], body: dict[str, Any] | None = None
) -> Response:
    ctx = app_context(token_info)
    body = body or {}
    row = await conversations.rename(
        ctx,
        ctx,
        body_user(body, required=False) or "",
        conversation_id,
        name=body.get("name"),
        auto_generate=body.get("auto_generate") is True,
    )
    return json_response(row)


@operation("deleteConversation")
async def delete_conversation(
    conversation_id: str, token_info: dict[str, Any], body: dict[str, Any] | None = None
) -> Response:
    ctx = app_context(token_info)
    await conversations.delete(ctx, body_user(body, required=False) or "", conversation_id)
    return Response(status_code=204, content=b"")


@operation("getConversationVariables")
async def get_conversation_variables(conversation_id: str, token_info: dict[str, Any]) -> Response:
    ctx = app_context(token_info)
    limit = query_int("limit", 20)
    if not 1 <= limit <= 100:
        raise invalid_param("limit must be between 1 and 100")
    page = await variables.list_variables(
        ctx,
        query_user(required=False) or "",
        conversation_id,
        last_id=query_str("last_id"),
        limit=limit,
        name=query_str("variable_name"),
    )
    return json_response(page)


@operation("updateChatConversationVariable")
async def update_conversation_variable(
    conversation_id: str, variable_id: str, token_info: dict[str, Any], body: dict[str, Any] | None = None
) -> Response:
    ctx = app_context(token_info)
    body = body or {}
    updated = await variables.update_variable(
        ctx, body_user(body, required=False) or "", conversation_id, variable_id, body.get("value")
    )
    return json_response(updated)
