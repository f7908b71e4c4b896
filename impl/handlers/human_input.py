"""Human-input forms of paused runs: read and submit by token."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from impl.handlers._common import app_context, body_user, json_response
from impl.routing import operation
from impl.services.workflows import human_input, resume


@operation("getChatflowHumanInputForm")
async def get_human_input_form(form_token: str, token_info: dict[str, Any]) -> Response:
    return json_response(await human_input.get_form(app_context(token_info), form_token))


@operation("submitChatflowHumanInputForm")
async def submit_human_input_form(
    form_token: str, body: dict[str, Any], token_info: dict[str, Any]
) -> Response:
    ctx = app_context(token_info)
    body_user(body, required=True)
    return json_response(await resume.submit(ctx, form_token, body.get("inputs"), body.get("action")))
