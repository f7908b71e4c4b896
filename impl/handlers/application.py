"""GET /info, /parameters, /meta, /site."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from impl import runtime
from impl.config import Settings
from impl.handlers._common import app_context, json_body, json_response
from impl.routing import operation
from impl.services.annotations import reply
from impl.services.apps import info
from impl.services.apps.store import AppContext, derived, shared_context


@operation("getChatAppInfo")
async def get_info(token_info: dict[str, Any]) -> Response:
    return json_response(info.info(app_context(token_info)))


@operation("getChatAppParameters")
async def get_parameters(token_info: dict[str, Any]) -> Response:
    settings = runtime.current().settings
    ctx = app_context(token_info)
    parameters = info.parameters(shared_context(ctx), settings)  # reads only: no copy of the app
    block = await reply.feature_block(ctx, parameters.get("annotation_reply"))
    # The reply's bytes, kept with the cached app context for these settings and this annotation
    # block (encoding it was a tenth of the request's CPU).
    replies = derived(ctx, _parameter_replies)
    key = (id(settings), json.dumps(block, ensure_ascii=False, sort_keys=True))
    found = replies.get(key)
    if found is None or found[0] is not settings:
        parameters["annotation_reply"] = block
        found = replies[key] = (settings, json_body(parameters))
    return Response(content=found[1], media_type="application/json")


def _parameter_replies(_app: AppContext) -> dict[tuple[int, str], tuple[Settings, bytes]]:
    return {}


@operation("getChatAppMeta")
async def get_meta(token_info: dict[str, Any]) -> Response:
    return json_response(info.meta(app_context(token_info)))


@operation("getChatWebAppSettings")
async def get_site(token_info: dict[str, Any]) -> Response:
    return json_response(info.site(app_context(token_info)))
