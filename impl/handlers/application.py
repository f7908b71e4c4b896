"""GET /info, /parameters, /meta, /site."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from impl import runtime
from impl.handlers._common import app_context, json_response
from impl.routing import operation
from impl.services import annotation_reply, app_info


@operation("getChatAppInfo")
async def get_info(token_info: dict[str, Any]) -> ConnexionResponse:
    return json_response(app_info.info(app_context(token_info)))


@operation("getChatAppParameters")
async def get_parameters(token_info: dict[str, Any]) -> ConnexionResponse:
    settings = runtime.current().settings
    ctx = app_context(token_info)
    reply = app_info.parameters(ctx, settings)
    reply["annotation_reply"] = await annotation_reply.feature_block(ctx, reply.get("annotation_reply"))
    return json_response(reply)


@operation("getChatAppMeta")
async def get_meta(token_info: dict[str, Any]) -> ConnexionResponse:
    return json_response(app_info.meta(app_context(token_info)))


@operation("getChatWebAppSettings")
async def get_site(token_info: dict[str, Any]) -> ConnexionResponse:
    return json_response(app_info.site(app_context(token_info)))
