"""GET /end-users/{end_user_id}."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from impl import runtime
from impl.handlers._common import app_context, json_response
from impl.routing import operation
from impl.services.apps import end_users


@operation("getEndUserChat")
async def get_end_user(end_user_id: str, token_info: dict[str, Any]) -> Response:
    app = app_context(token_info)
    row = await end_users.get_end_user(runtime.current().database, app.app_id, end_user_id)
    return json_response(end_users.end_user_json(row))
