"""Annotations and the annotation-reply switch (no `user`, no mode check, as in Dify)."""

from __future__ import annotations

from typing import Any

from connexion.context import request
from starlette.responses import Response

from impl.handlers._common import app_context, json_response
from impl.handlers.conversations import query_int
from impl.routing import operation
from impl.services.annotations import reply
from impl.services.annotations import store as annotation_store


@operation("getAnnotationList")
async def get_annotation_list(token_info: dict[str, Any], **_params: Any) -> Response:
    page = await annotation_store.list_annotations(
        app_context(token_info),
        page=query_int("page", 1),
        limit=query_int("limit", 20),
        keyword=request.query_params.get("keyword") or "",
    )
    return json_response(page)


@operation("createAnnotation")
async def create_annotation(body: dict[str, Any], token_info: dict[str, Any]) -> Response:
    return json_response(await annotation_store.create(app_context(token_info), body), status=201)


@operation("updateAnnotation")
async def update_annotation(annotation_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Response:
    return json_response(await annotation_store.update(app_context(token_info), annotation_id, body))


@operation("deleteAnnotation")
async def delete_annotation(annotation_id: str, token_info: dict[str, Any]) -> Response:
    await annotation_store.delete(app_context(token_info), annotation_id)
    return Response(status_code=204, content=b"")


@operation("initialAnnotationReplySettings")
async def start_annotation_reply_job(
    action: str, body: dict[str, Any], token_info: dict[str, Any]
) -> Response:
    return json_response(await reply.start_job(app_context(token_info), action, body))


@operation("getInitialAnnotationReplySettingsStatus")
async def get_annotation_reply_job(action: str, job_id: str, token_info: dict[str, Any]) -> Response:
    return json_response(await reply.job_status(app_context(token_info), action, job_id))
