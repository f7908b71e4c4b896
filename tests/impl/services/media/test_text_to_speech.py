"""The embedded text-to-speech engine (real espeak-ng; lame when installed)."""

from __future__ import annotations

import io
import shutil
import wave

import pytest

from impl.errors import ApiError
from impl.services.media import text_to_speech
from impl.services.media.text_to_speech import (
    TtsConfig,
    clean_text,
    embedded_voice,
    espeak_voices,
    synthesize_embedded,
)


def test_espeak_is_installed_and_knows_english() -> None:
    assert shutil.which("espeak-ng"), "apt-get install espeak-ng"
    assert {"en", "en-us", "fr"} <= espeak_voices()


def test_voice_choice() -> None:
    app = TtsConfig(enabled=True, voice="", language="fr-FR")
    assert embedded_voice("de", app) == "de"
    assert embedded_voice("alloy", app) == "fr-fr"  # unknown → the app's language
    assert embedded_voice(None, TtsConfig(voice="en-us")) == "en-us"
    assert embedded_voice(None, TtsConfig()) == "en"


def test_text_checks() -> None:
    assert clean_text("  a\n\tb\x00 ") == "a b"
    for bad in ("", "  \n"):
        with pytest.raises(ApiError, match="Text is required"):
            clean_text(bad)
    with pytest.raises(ApiError, match="longer than"):
        clean_text("x" * (text_to_speech.MAX_TEXT + 1))


async def test_synthesis(monkeypatch: pytest.MonkeyPatch) -> None:
    audio, media = await synthesize_embedded("Hello world.", "en")
    if shutil.which("lame"):
        assert media == "audio/mpeg" and (audio[:3] == b"ID3" or audio[0] == 0xFF)
    monkeypatch.setattr(text_to_speech, "mp3_available", lambda: False)
    wav, media = await synthesize_embedded("Hello world.", "en")
    assert media == "audio/wav"
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getnchannels() == 1 and w.getnframes() / w.getframerate() > 0.3
