"""Text to speech: the embedded espeak-ng voice, or an OpenAI-compatible `/audio/speech` endpoint.

The embedded engine is Debian's `espeak-ng` (WAV on stdout); when Debian's `lame` encoder is
installed the WAV is encoded to MP3, which is what Dify clients expect, otherwise WAV is served
with `audio/wav`.  Both run as subprocesses with a timeout.

Which engine an app uses comes from its DSL feature `text_to_speech`:
`{enabled, voice, language, autoPlay, provider?, model?, base_url?}`; `provider`
`openai-compatible` selects the remote endpoint (`base_url` falls back to the server's
`OPENAI_API_BASE`; the key is always the server's `OPENAI_API_KEY`, never read from the DSL,
because `/parameters` shows the feature blocks to every client), anything else the embedded voice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from impl import runtime
from impl.errors import ApiError, invalid_param
from impl.providers.openai_compatible import error_for_status
from impl.services.apps.dsl import provider_family

ESPEAK = "espeak-ng"
LAME = "lame"
MAX_TEXT = 20_000
SUBPROCESS_TIMEOUT = 60.0
REMOTE_TIMEOUT = 60.0
CHUNK = 16 * 1024
MP3 = "audio/mpeg"
WAV = "audio/wav"
NO_ENGINE = "No text-to-speech engine is installed on this server (espeak-ng is missing)."


@dataclass(frozen=True)
class TtsConfig:
    enabled: bool = False
    autoplay: bool = False
    voice: str = ""
    language: str = ""
    provider: str = "builtin"
    model: str = "tts-1"
    base_url: str | None = None
    api_key: str | None = None


def tts_config(features: Mapping[str, Any] | None) -> TtsConfig:
    raw = (features or {}).get("text_to_speech")
    if not isinstance(raw, Mapping):
        return TtsConfig()
    settings = runtime.current().settings
    remote = provider_family(str(raw.get("provider") or "")) == "openai-compatible"
    return TtsConfig(
        enabled=bool(raw.get("enabled")),
        autoplay=str(raw.get("autoPlay") or raw.get("auto_play") or "").lower() in ("enabled", "true"),
        voice=str(raw.get("voice") or ""),
        language=str(raw.get("language") or ""),
        provider="openai-compatible" if remote else "builtin",
        model=str(raw.get("model") or "tts-1"),
        base_url=str(raw.get("base_url") or "") or settings.openai_api_base,
        api_key=settings.openai_api_key,
    )


@functools.cache
def espeak_voices() -> frozenset[str]:
    """Voice and language names espeak-ng knows (lower case); empty when it is not installed."""
    if shutil.which(ESPEAK) is None:
        return frozenset()
    out = subprocess.run([ESPEAK, "--voices"], capture_output=True, text=True, timeout=10, check=False).stdout
    names: set[str] = set()
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4:
            names.update({parts[1].lower(), parts[3].lower(), parts[1].lower().split("-")[0]})
    return frozenset(names)


def mp3_available() -> bool:
    return shutil.which(LAME) is not None


def embedded_voice(requested: str | None, config: TtsConfig) -> str:
    """The espeak-ng voice for a request: the requested one if espeak knows it, else the app's
    voice, else its language (`en-US` → `en-us`), else English."""
    known = espeak_voices()
    for candidate in (requested, config.voice, config.language, config.language.split("-")[0]):
        if candidate and candidate.lower() in known:
            return candidate.lower()
    return "en"


def clean_text(text: str) -> str:
    text = re.sub(r"\s+", " ", text.replace("\x00", "")).strip()
    if not text:
        raise invalid_param("Text is required")
    if len(text) > MAX_TEXT:
        raise invalid_param(f"Text is longer than {MAX_TEXT} characters")
    return text


async def _pipe(args: list[str], data: bytes) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(data), SUBPROCESS_TIMEOUT)
    except TimeoutError:
        raise ApiError("internal_server_error", f"{args[0]} timed out.", 500) from None
    finally:
        if process.returncode is None:  # timed out or cancelled: do not leave it running
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.shield(process.wait())
    if process.returncode != 0:
        raise ApiError(
            "internal_server_error", f"{args[0]} failed: {err.decode(errors='replace').strip()[:200]}", 500
        )
    return out


async def synthesize_embedded(text: str, voice: str) -> tuple[bytes, str]:
    """espeak-ng → WAV, then MP3 when lame is installed.  Returns (audio, media type)."""
    if shutil.which(ESPEAK) is None:
        raise ApiError("internal_server_error", NO_ENGINE, 500)
    wav = await _pipe([ESPEAK, "--stdin", "--stdout", "-v", voice], text.encode("utf-8"))
    if not mp3_available():
        return wav, WAV
    return await _pipe([LAME, "--quiet", "-", "-"], wav), MP3


async def synthesize(text: str, voice: str | None, config: TtsConfig) -> tuple[bytes, str]:
    """The whole audio of `text` (used for stream autoplay, where chunks are base64 events)."""
    text = clean_text(text)
    if config.provider == "openai-compatible":
        parts = [chunk async for chunk in remote_speech(text, voice, config)]
        return b"".join(parts), MP3
    return await synthesize_embedded(text, embedded_voice(voice, config))


async def remote_speech(text: str, voice: str | None, config: TtsConfig) -> AsyncIterator[bytes]:
    """Stream `/audio/speech` of an OpenAI-compatible provider (MP3)."""
    if not config.base_url or not config.api_key:
        raise ApiError(
            "provider_not_initialize", "No endpoint or API key is configured for the speech provider.", 400
        )
    url = config.base_url.rstrip("/") + "/audio/speech"
    payload = {
        "model": config.model,
        "input": text,
        "voice": voice or config.voice or "alloy",
        "response_format": "mp3",
    }
    headers = {"Authorization": f"Bearer {config.api_key}"}
    try:
        async with (
            httpx.AsyncClient(timeout=REMOTE_TIMEOUT) as client,
            client.stream("POST", url, json=payload, headers=headers) as response,
        ):
            if response.status_code >= 400:
                body = (await response.aread()).decode("utf-8", "replace")[:300]
                err = error_for_status(response.status_code, body or f"HTTP {response.status_code}")
                raise ApiError(
                    err.code if err.status == 400 else "completion_request_error", err.message, 400
                )
            async for chunk in response.aiter_bytes():
                if chunk:
                    yield chunk
    except httpx.HTTPError as exc:
        raise ApiError("completion_request_error", f"The speech provider failed: {exc}", 400) from exc


async def open_speech(text: str, voice: str | None, config: TtsConfig) -> tuple[AsyncIterator[bytes], str]:
    """An audio stream for the HTTP response.  The first chunk is fetched here so provider
    errors become ordinary HTTP errors instead of a broken body."""
    text = clean_text(text)
    if config.provider != "openai-compatible":
        audio, media_type = await synthesize_embedded(text, embedded_voice(voice, config))
        return _chunks(audio), media_type
    stream = remote_speech(text, voice, config)
    first = await anext(stream, b"")

    async def rest() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in stream:
            yield chunk

    return rest(), MP3


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]
