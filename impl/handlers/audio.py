"""POST /audio-to-text (multipart) and POST /text-to-audio (JSON in, audio out)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile as StarletteUpload
from starlette.responses import Response, StreamingResponse

from impl.handlers._common import app_context, body_user, form_user, json_response
from impl.routing import operation
from impl.services.media import audio


@operation("audioToText")
async def audio_to_text(
    token_info: dict[str, Any], body: dict[str, Any] | None = None, **files: Any
) -> Response:
    ctx = app_context(token_info)
    form_user(body, required=False)  # optional; checked for type only
    part = files.get("file")
    if isinstance(part, list):
        part = part[0] if part else None
    recording: audio.Recording | None = None
    if isinstance(part, StarletteUpload):
        recording = audio.Recording(
            filename=part.filename or "audio",
            content_type=part.content_type or "",
            data=await part.read(),
        )
    return json_response(await audio.audio_to_text(ctx, recording))


@operation("textToAudioChat")
async def text_to_audio(token_info: dict[str, Any], body: dict[str, Any] | None = None) -> StreamingResponse:
    ctx = app_context(token_info)
    body_user(body or {}, required=False)
    chunks, media_type = await audio.text_to_audio(ctx, body or {})
    return StreamingResponse(chunks, media_type=media_type)
