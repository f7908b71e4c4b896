"""POST /audio-to-text and POST /text-to-audio: feature checks, limits, the message lookup."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from impl import runtime
from impl.db.models import Message
from impl.errors import ApiError, invalid_param, not_found
from impl.services.apps.scope import AppScope
from impl.services.media import speech_to_text, text_to_speech

MAX_AUDIO_BYTES = 30 * 1024 * 1024
# `audio/<subtype>` values accepted for a recording (mp3, m4a, wav, amr, mpga and their aliases).
AUDIO_SUBTYPES = frozenset({"mp3", "mpeg", "m4a", "x-m4a", "mp4", "wav", "x-wav", "wave", "amr", "mpga"})
MESSAGE_NOT_EXISTS = "Message Not Exists."


@dataclass(frozen=True)
class Recording:
    filename: str
    content_type: str
    data: bytes


def check_recording(recording: Recording | None) -> Recording:
    """Dify's order: file present, `audio/...` type accepted, size within 30 MB."""
    if recording is None:
        raise ApiError("no_audio_uploaded", "Please upload your audio.", 400)
    major, _, subtype = recording.content_type.split(";")[0].strip().lower().partition("/")
    if major != "audio" or subtype not in AUDIO_SUBTYPES:
        raise ApiError("unsupported_audio_type", "Audio type not allowed.", 415)
    if len(recording.data) > MAX_AUDIO_BYTES:
        raise ApiError("audio_too_large", "Audio size larger than 30 mb", 413)
    if not recording.data:
        raise ApiError("no_audio_uploaded", "Please upload your audio.", 400)
    return recording


async def audio_to_text(ctx: AppScope, recording: Recording | None) -> dict[str, Any]:
    config = speech_to_text.stt_config(ctx.features)
    if not config.enabled:
        raise invalid_param("Speech to text is not enabled")
    found = check_recording(recording)
    text = await speech_to_text.transcribe(config, found.filename or "audio", found.content_type, found.data)
    return {"text": text}


async def _message_text(ctx: AppScope, message_id: str) -> str:
    try:
        key = str(uuid.UUID(message_id))
    except (ValueError, TypeError, AttributeError):
        raise not_found(MESSAGE_NOT_EXISTS) from None
    async with runtime.current().database.session() as session:
        row = await session.get(Message, key)
    if row is None or row.app_id != ctx.app_id:
        raise not_found(MESSAGE_NOT_EXISTS)
    return row.answer


async def text_to_audio(ctx: AppScope, body: Any) -> tuple[AsyncIterator[bytes], str]:
    """The audio stream and its media type; `message_id` wins over `text`."""
    config = text_to_speech.tts_config(ctx.features)
    if not config.enabled:
        raise invalid_param("TTS is not enabled")
    fields = body if isinstance(body, dict) else {}
    message_id, text, voice = fields.get("message_id"), fields.get("text"), fields.get("voice")
    if message_id:
        text = await _message_text(ctx, str(message_id))
    if not isinstance(text, str) or not text.strip():
        raise invalid_param("Text is required")
    return await text_to_speech.open_speech(text, voice if isinstance(voice, str) and voice else None, config)
