"""POST /chat-messages and POST /chat-messages/{task_id}/stop."""

from __future__ import annotations

from typing import Any

from connexion.context import request
from starlette.responses import Response, StreamingResponse

from impl import sse
from impl.handlers._common import app_context, body_user, json_response
from impl.routing import operation
from impl.services import starters
from impl.services.turns import generation, rows
from impl.services.turns.tracing import resolve_trace_id
from impl.services.workflows import resume


def generate_params(kind: generation.Kind, body: dict[str, Any]) -> generation.GenerateParams:
    """Read the generation fields of a chat or completion body (the schema has checked types)."""
    query = body.get("query")
    inputs = body.get("inputs")
    return generation.GenerateParams(
        kind=kind,
        query=query if isinstance(query, str) else "",
        inputs=inputs if isinstance(inputs, dict) else {},
        streaming=body.get("response_mode") == "streaming",
        conversation_id=rows.parse_conversation_id(body.get("conversation_id")) if kind == "chat" else None,
        files=body.get("files"),
        auto_generate_name=kind == "chat" and body.get("auto_generate_name", True) is not False,
        trace_id=resolve_trace_id(request.headers, request.query_params, body),
        workflow_id=body.get("workflow_id") if isinstance(body.get("workflow_id"), str) else None,
    )


async def respond(run: generation.RunningGeneration, streaming: bool) -> Response | StreamingResponse:
    if streaming:
        return sse.streaming_response(run.events(), generation.ping_interval())
    return json_response(await run.blocking_body())


async def generate(kind: generation.Kind, body: dict[str, Any], token_info: dict[str, Any]) -> Any:
    """Start a chat or completion message for the key's app; stream it or wait for the reply."""
    ctx = app_context(token_info)
    user = body_user(body, required=True) or ""
    params = generate_params(kind, body)
    run = await starters.start_for_mode(ctx, user, params)
    return await respond(run, params.streaming)


async def stop(task_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Response:
    """Stop the caller's running generation `task_id` (always success)."""
    ctx = app_context(token_info)
    user = body_user(body, required=True) or ""
    if ctx.mode == "advanced-chat":  # also reaches a turn paused at a form that nobody waits on
        await resume.stop_task(ctx, user, task_id)
    else:
        await generation.stop(ctx, user, task_id)
    return json_response({"result": "success"})


@operation("sendChatMessage")
async def send_chat_message(body: dict[str, Any], token_info: dict[str, Any]) -> Any:
    return await generate("chat", body, token_info)


@operation("stopChatMessageGeneration")
async def stop_chat_message(task_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Response:
    return await stop(task_id, body, token_info)
