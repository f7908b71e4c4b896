"""POST /completion-messages and POST /completion-messages/{task_id}/stop."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from impl.handlers._common import app_context, body_user, json_response
from impl.handlers.chat import generate_params, respond
from impl.routing import operation
from impl.services import generation


@operation("createCompletionMessage")
async def create_completion_message(body: dict[str, Any], token_info: dict[str, Any]) -> Any:
    ctx = app_context(token_info)
    user = body_user(body, required=True) or ""
    params = generate_params("completion", body)
    run = await generation.start_for_mode(ctx, user, params)
    return await respond(run, params.streaming)


@operation("stopGenerate")
async def stop_completion(
    task_id: str, body: dict[str, Any], token_info: dict[str, Any]
) -> ConnexionResponse:
    ctx = app_context(token_info)
    await generation.stop(ctx, body_user(body, required=True) or "", task_id)
    return json_response({"result": "success"})
