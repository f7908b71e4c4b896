"""Speech to text through an OpenAI-compatible `/audio/transcriptions` endpoint.

There is no embedded recogniser: an app without a speech-to-text provider answers
`provider_not_support_speech_to_text`, as Dify does for a workspace without an STT model.
The provider comes from the DSL feature `speech_to_text: {enabled, provider?, model?,
base_url?}`; when the feature names no provider, the server's `OPENAI_API_BASE` is used if set.
The key is always the server's `OPENAI_API_KEY` (never read from the DSL: `/parameters` shows the
feature blocks to every client).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from impl import runtime
from impl.errors import ApiError
from impl.providers.openai_compatible import error_for_status
from impl.services.apps.dsl import provider_family

TIMEOUT = 120.0
NO_PROVIDER = "No speech-to-text model is available for this app: configure an OpenAI-compatible provider."


@dataclass(frozen=True)
class SttConfig:
    enabled: bool = False
    provider: str | None = None
    model: str = "whisper-1"
    base_url: str | None = None
    api_key: str | None = None


def stt_config(features: Mapping[str, Any] | None) -> SttConfig:
    raw = (features or {}).get("speech_to_text")
    if not isinstance(raw, Mapping):
        return SttConfig()
    settings = runtime.current().settings
    named = str(raw.get("provider") or "")
    base_url = str(raw.get("base_url") or "") or settings.openai_api_base
    implicit = "openai-compatible" if base_url else None
    provider = provider_family(named) if named else implicit
    return SttConfig(
        enabled=bool(raw.get("enabled")),
        provider=provider if provider == "openai-compatible" else None,
        model=str(raw.get("model") or "whisper-1"),
        base_url=base_url,
        api_key=settings.openai_api_key,
    )


def _text_of(response: httpx.Response) -> str:
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text.strip()
    if isinstance(data, Mapping) and isinstance(data.get("text"), str):
        return str(data["text"])
    raise ApiError("completion_request_error", "The speech-to-text provider returned no text.", 400)


async def transcribe(config: SttConfig, filename: str, content_type: str, data: bytes) -> str:
    if config.provider is None or not config.base_url:
        raise ApiError("provider_not_support_speech_to_text", NO_PROVIDER, 400)
    if not config.api_key:
        raise ApiError(
            "provider_not_initialize", "No API key is configured for the speech-to-text provider.", 400
        )
    url = config.base_url.rstrip("/") + "/audio/transcriptions"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.post(
                url,
                headers={"Authorization": f"Bearer {config.api_key}"},
                data={"model": config.model, "response_format": "json"},
                files={"file": (filename, data, content_type)},
            )
    except httpx.HTTPError as exc:
        raise ApiError("completion_request_error", f"The speech-to-text provider failed: {exc}", 400) from exc
    if response.status_code >= 400:
        err = error_for_status(response.status_code, response.text[:300] or f"HTTP {response.status_code}")
        raise ApiError(err.code if err.status == 400 else "completion_request_error", err.message, 400)
    return _text_of(response)
