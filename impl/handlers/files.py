"""POST /files/upload, GET /files/{file_id}/preview, and the keyless signed downloads
GET /files/{file_id}/file-preview and GET /files/tools/{file_name}."""

from __future__ import annotations

from typing import Any

from connexion.context import request
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.responses import FileResponse, Response

from impl.handlers._common import app_context, form_user, json_response
from impl.routing import operation
from impl.services.media import files


@operation("uploadChatFile")
async def upload_file(
    token_info: dict[str, Any], body: dict[str, Any] | None = None, **fields: Any
) -> Response:
    ctx = app_context(token_info)
    # Connexion hands over the file parts by field name (the body stream is consumed by then).
    parts = [part for part in fields.values() if isinstance(part, StarletteUpload)]
    row = await files.upload(ctx, form_user(body, required=False) or "", parts)
    return json_response(row, status=201)


@operation("previewChatFile")
async def preview_file(file_id: str, token_info: dict[str, Any]) -> FileResponse:
    ctx = app_context(token_info)
    as_attachment = (request.query_params.get("as_attachment") or "").lower() in ("true", "1")
    found = await files.preview_for(ctx, file_id, as_attachment)
    return FileResponse(found.path, media_type=found.media_type, headers=found.headers)


@operation("getToolFile")
async def tool_file(
    file_name: str, timestamp: str, nonce: str, sign: str, as_attachment: bool = False
) -> FileResponse:
    found = await files.tool_file(file_name, timestamp, nonce, sign, as_attachment)
    return FileResponse(found.path, media_type=found.media_type, headers=found.headers)


@operation("getFilePreview")
async def file_preview(
    file_id: str, timestamp: str, nonce: str, sign: str, as_attachment: bool = False
) -> FileResponse:
    found = await files.file_preview(file_id, timestamp, nonce, sign, as_attachment)
    return FileResponse(found.path, media_type=found.media_type, headers=found.headers)
