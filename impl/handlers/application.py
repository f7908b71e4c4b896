"""GET /info, /parameters, /meta, /site."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from impl import runtime
from impl.handlers._common import app_context, json_response
from impl.routing import operation
from impl.services.annotations import reply
from impl.services.apps import info
from impl.services.apps.store import shared_context


@operation("getChatAppInfo")
async def get_info(token_info: dict[str, Any]) -> Response:
    return json_response(info.info(app_context(token_info)))


@operation("getChatAppParameters")
async def get_parameters(token_info: dict[str, Any]) -> Response:
    settings = runtime.current().settings
    ctx = app_context(token_info)
    parameters = info.parameters(shared_context(ctx), settings)  # reads only: no copy of the app
    parameters["annotation_reply"] = await reply.feature_block(ctx, parameters.get("annotation_reply"))
    return json_response(parameters)


@operation("getChatAppMeta")
async def get_meta(token_info: dict[str, Any]) -> Response:
    return json_response(info.meta(app_context(token_info)))


@operation("getChatWebAppSettings")
async def get_site(token_info: dict[str, Any]) -> Response:
    return json_response(info.site(app_context(token_info)))
