"""POST /completion-messages and POST /completion-messages/{task_id}/stop."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from impl.handlers.chat import generate, stop
from impl.routing import operation


@operation("createCompletionMessage")
async def create_completion_message(body: dict[str, Any], token_info: dict[str, Any]) -> Any:
    return await generate("completion", body, token_info)


@operation("stopGenerate")
async def stop_completion(task_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Response:
    return await stop(task_id, body, token_info)
