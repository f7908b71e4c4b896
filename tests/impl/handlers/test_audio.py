"""Text to speech (real espeak-ng, lame when installed) and speech to text (fake OpenAI-style
transcription server on loopback), on the live server with response validation on."""

from __future__ import annotations

import io
import shutil
import uuid
import wave
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from extras_apps import client, dsl, install
from fake_openai_extras import API_KEY, SPEECH, running_fake_openai_extras
from support.server import LiveServer, start_server

TTS_ON = {"enabled": True, "voice": "", "language": "en-US"}


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with running_fake_openai_extras() as running:
        yield running


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose OPENAI_API_KEY is the fake's key (the DSL never carries keys)."""
    server = start_server(tmp_path_factory.mktemp("audio-keyed"), env={"OPENAI_API_KEY": API_KEY})
    try:
        yield server
    finally:
        server.stop()


def _wav(seconds: float = 0.2) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buf.getvalue()


def _expect_audio(resp: httpx.Response) -> bytes:
    assert resp.status_code == 200, resp.text
    if shutil.which("lame"):
        assert resp.headers["content-type"] == "audio/mpeg"
        assert resp.content[:3] == b"ID3" or resp.content[0] == 0xFF
    else:
        assert resp.headers["content-type"] == "audio/wav"
        assert resp.content[:4] == b"RIFF"
    assert len(resp.content) > 1000
    return resp.content


def test_text_to_audio_with_espeak(live_server: LiveServer) -> None:
    assert shutil.which("espeak-ng"), "espeak-ng (Debian package) is required"
    with client(live_server, install(live_server, dsl("chat.yml", text_to_speech=TTS_ON))) as http:
        short = _expect_audio(http.post("/text-to-audio", json={"text": "Hello.", "user": "u"}))
        longer = _expect_audio(
            http.post("/text-to-audio", json={"text": "Hello there, the tram leaves in four minutes."})
        )
        assert len(longer) > len(short)
        # A voice espeak knows is used; an unknown one falls back to the app's language.
        _expect_audio(http.post("/text-to-audio", json={"text": "Bonjour.", "voice": "fr"}))
        _expect_audio(http.post("/text-to-audio", json={"text": "Hello.", "voice": "alloy"}))

        answer = http.post(
            "/chat-messages",
            json={"inputs": {}, "query": "read me", "user": "tts-u", "response_mode": "blocking"},
        ).json()
        spoken = _expect_audio(http.post("/text-to-audio", json={"message_id": answer["id"], "text": "x"}))
        assert len(spoken) > len(short)

        unknown = http.post("/text-to-audio", json={"message_id": str(uuid.uuid4())})
        assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
        for body in ({}, {"text": ""}, {"text": "   "}):
            empty = http.post("/text-to-audio", json=body)
            assert empty.status_code == 400 and empty.json() == {
                "code": "invalid_param",
                "message": "Text is required",
                "status": 400,
            }
        not_json = http.post("/text-to-audio", content=b"text", headers={"Content-Type": "text/plain"})
        assert not_json.status_code == 415


def test_text_to_audio_disabled(live_server: LiveServer) -> None:
    with client(live_server, live_server.keys["chat"]) as http:
        resp = http.post("/text-to-audio", json={"text": "Hello."})
        assert resp.status_code == 400 and resp.json()["message"] == "TTS is not enabled"


def test_text_to_audio_through_openai_compatible(
    keyed: LiveServer, fake: tuple[str, list[dict[str, Any]]]
) -> None:
    live_server = keyed
    base, received = fake
    feature = {
        **TTS_ON,
        "provider": "openai-compatible",
        "model": "tts-1",
        "base_url": base,
    }
    with client(live_server, install(live_server, dsl("chat.yml", text_to_speech=feature))) as http:
        resp = http.post("/text-to-audio", json={"text": "Hello remote.", "voice": "nova"})
        assert resp.status_code == 200 and resp.headers["content-type"] == "audio/mpeg"
        assert resp.content == b"".join(SPEECH)
        assert received[-1] == {
            "model": "tts-1",
            "input": "Hello remote.",
            "voice": "nova",
            "response_format": "mp3",
        }
        broken = http.post("/text-to-audio", json={"text": "Hello.", "voice": "broken"})
        assert broken.status_code == 400 and broken.json()["code"] == "completion_request_error"


def test_audio_to_text(keyed: LiveServer, fake: tuple[str, list[dict[str, Any]]]) -> None:
    live_server = keyed
    base, received = fake
    feature = {
        "enabled": True,
        "provider": "openai-compatible",
        "model": "whisper-1",
        "base_url": base,
    }
    with client(live_server, install(live_server, dsl("chat.yml", speech_to_text=feature))) as http:
        data = _wav()
        resp = http.post(
            "/audio-to-text", files={"file": ("hello.wav", data, "audio/wav")}, data={"user": "u"}
        )
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"text": f"heard {len(data)} bytes of hello.wav (audio/wav)"}
        assert received[-1]["model"] == "whisper-1"
        mp3 = http.post("/audio-to-text", files={"file": ("a.mp3", b"ID3" + b"\x00" * 100, "audio/mpeg")})
        assert mp3.status_code == 200

        wrong_type = http.post("/audio-to-text", files={"file": ("a.txt", b"hello", "text/plain")})
        assert wrong_type.status_code == 415 and wrong_type.json()["code"] == "unsupported_audio_type"
        ogg = http.post("/audio-to-text", files={"file": ("a.ogg", b"OggS", "audio/ogg")})
        assert ogg.status_code == 415
        big = http.post(
            "/audio-to-text", files={"file": ("big.wav", b"\x00" * (30 * 1024 * 1024 + 1), "audio/wav")}
        )
        assert big.status_code == 413 and big.json() == {
            "code": "audio_too_large",
            "message": "Audio size larger than 30 mb",
            "status": 413,
        }
        missing = http.post("/audio-to-text", data={"user": "u"}, files={"other": ("x", b"1", "audio/wav")})
        assert missing.status_code == 400 and missing.json()["code"] == "no_audio_uploaded", missing.text


def test_audio_to_text_provider_errors(
    live_server: LiveServer, keyed: LiveServer, fake: tuple[str, list[dict[str, Any]]]
) -> None:
    base, _received = fake
    files = {"file": ("hello.wav", _wav(), "audio/wav")}
    remote = {"enabled": True, "provider": "openai-compatible", "base_url": base}
    cases = [
        (keyed, {"enabled": True}, "provider_not_support_speech_to_text"),
        (keyed, {"enabled": True, "provider": "builtin"}, "provider_not_support_speech_to_text"),
        (keyed, {**remote, "model": "broken"}, "completion_request_error"),
        (live_server, remote, "provider_not_initialize"),  # no OPENAI_API_KEY on this server
        (keyed, {"enabled": False}, "invalid_param"),
    ]
    for server, feature, code in cases:
        with client(server, install(server, dsl("chat.yml", speech_to_text=feature))) as http:
            resp = http.post("/audio-to-text", files=files)
            assert (resp.status_code, resp.json()["code"]) == (400, code), (feature, resp.text)
    tts_remote = {**TTS_ON, "provider": "openai-compatible", "base_url": base}
    with client(live_server, install(live_server, dsl("chat.yml", text_to_speech=tts_remote))) as http:
        resp = http.post("/text-to-audio", json={"text": "Hello."})
        assert (resp.status_code, resp.json()["code"]) == (400, "provider_not_initialize")


def test_parameters_reflect_audio_features(live_server: LiveServer) -> None:
    key = install(
        live_server,
        dsl("chat.yml", text_to_speech={**TTS_ON, "voice": "en-us"}, speech_to_text={"enabled": True}),
    )
    with client(live_server, key) as http:
        params = http.get("/parameters").json()
        assert params["speech_to_text"] == {"enabled": True}
        assert params["text_to_speech"]["enabled"] is True and params["text_to_speech"]["voice"] == "en-us"
