"""Helpers every handler uses: the app context, Dify's `user` rules, JSON replies.

Never name a handler argument `user`: Connexion fills such an argument with the auth subject.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from impl.errors import internal_error, invalid_param
from impl.services.apps.store import AppContext

DEFAULT_USER = "DEFAULT-USER"
USER_REQUIRED_MESSAGE = "Arg user must be provided."
JSON_HEADERS = {"Content-Type": "application/json"}


def app_context(token_info: Mapping[str, Any] | None) -> AppContext:
    """The AppContext the bearer key resolved to."""
    app = (token_info or {}).get("app")
    if not isinstance(app, AppContext):
        raise internal_error("The request carries no app context.")
    return app


def _user_value(value: Any, required: bool) -> str | None:
    if isinstance(value, bool):
        value = str(value).lower()
    if value is None or (isinstance(value, str) and value == ""):
        if required:
            raise invalid_param(USER_REQUIRED_MESSAGE)
        return DEFAULT_USER
    if isinstance(value, str | int | float):
        return str(value)
    raise invalid_param(USER_REQUIRED_MESSAGE if required else "Arg user must be a string.")


def query_user(required: bool) -> str | None:
    """`user` from the query string (GET endpoints)."""
    from connexion.context import request

    return _user_value(request.query_params.get("user"), required)


def body_user(body: Any, required: bool) -> str | None:
    """`user` from a JSON body (POST/PUT/DELETE endpoints)."""
    value = body.get("user") if isinstance(body, Mapping) else None
    return _user_value(value, required)


def form_user(body: Any, required: bool) -> str | None:
    """`user` from a multipart form (uploads); Connexion passes the form fields as `body`."""
    value = body.get("user") if isinstance(body, Mapping) else None
    if isinstance(value, list):
        value = value[0] if value else None
    return _user_value(value, required)


def json_body(obj: Any) -> bytes:
    """The bytes of a JSON reply."""
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def json_response(obj: Any, status: int = 200) -> Response:
    """A JSON reply with an explicit Content-Type (operations with JSON + SSE responses need it),
    built as the Starlette response Connexion would have made of it."""
    return Response(content=json_body(obj), status_code=status, media_type="application/json")
