"""Chat apps with keyword moderation and TTS autoplay (chat grammar, blocking bodies, storage)."""

from __future__ import annotations

import base64
import shutil
from typing import Any

from extras_apps import EXAMPLES, check_stream, client, dsl, install, stream_events
from support.server import LiveServer

SENSITIVE = {
    "enabled": True,
    "type": "keywords",
    "config": {  # Dify's own export spelling
        "keywords": "forbidden\nbuiltin model",
        "inputs_config": {"enabled": True, "preset_response": "Let's talk about something else."},
        "outputs_config": {"enabled": True, "preset_response": "[answer withheld]"},
    },
}


def _body(query: str, **extra: Any) -> dict[str, Any]:
    return {"inputs": {}, "query": query, "user": "feature-user", **extra}


def test_output_moderation_replaces_the_answer(live_server: LiveServer) -> None:
    with client(
        live_server, install(live_server, dsl("chat.yml", sensitive_word_avoidance=SENSITIVE))
    ) as http:
        events = stream_events(http, _body("hello"))  # every builtin answer names the builtin model
        check_stream("chat", events)
        names = [e["event"] for e in events]
        assert names[-2:] == ["message_replace", "message_end"] and "message" in names
        assert events[-2]["answer"] == "[answer withheld]" and events[-2]["reason"] == "output_moderation"
        blocking = http.post("/chat-messages", json=_body("hello", response_mode="blocking")).json()
        assert blocking["answer"] == "[answer withheld]"
        stored = http.get(
            "/messages", params={"conversation_id": blocking["conversation_id"], "user": "feature-user"}
        ).json()["data"][0]
        assert stored["answer"] == "[answer withheld]"


def test_input_moderation_answers_with_the_preset(live_server: LiveServer) -> None:
    with client(
        live_server, install(live_server, dsl("chat.yml", sensitive_word_avoidance=SENSITIVE))
    ) as http:
        blocking = http.post(
            "/chat-messages", json=_body("Tell me FORBIDDEN things", response_mode="blocking")
        )
        assert blocking.status_code == 200
        assert blocking.json()["answer"] == "Let's talk about something else."
        assert "annotation_reply" not in blocking.json()["metadata"]
        flagged_input = http.post(
            "/chat-messages", json=_body("hi", inputs={"name": "forbidden name"}, response_mode="blocking")
        )
        assert flagged_input.json()["answer"] == "Let's talk about something else."
        events = stream_events(http, _body("forbidden"))
        check_stream("chat", events)
        assert [e["event"] for e in events] == ["message", "message_end"]


def test_moderation_off_leaves_answers_alone(live_server: LiveServer) -> None:
    off = {**SENSITIVE, "enabled": False}
    with client(live_server, install(live_server, dsl("chat.yml", sensitive_word_avoidance=off))) as http:
        answer = http.post("/chat-messages", json=_body("forbidden", response_mode="blocking")).json()[
            "answer"
        ]
        assert "builtin model" in answer


def test_tts_autoplay_in_chat_streams(live_server: LiveServer) -> None:
    tts = {"enabled": True, "autoPlay": "enabled", "voice": "en-us", "language": "en-US"}
    with client(live_server, install(live_server, dsl("chat.yml", text_to_speech=tts))) as http:
        events = stream_events(http, _body("read this aloud, slowly [[delay:0.04]]"))
        check_stream("chat", events)
        names = [e["event"] for e in events]
        assert names[-2:] == ["tts_message_end", "message_end"]
        first_tts, last_message = names.index("tts_message"), len(names) - 1 - names[::-1].index("message")
        audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["event"] == "tts_message")
        if shutil.which("lame"):
            # MP3: each finished sentence is spoken while the answer still streams.
            assert audio[:3] == b"ID3" or audio[:1] == b"\xff"
            assert first_tts < last_message, names
        else:
            # WAV does not concatenate: the whole answer is spoken at the end.
            assert audio[:4] == b"RIFF" and first_tts > last_message
        assert len(audio) > 1000
        # Without autoplay the stream has no speech.
    with client(
        live_server, install(live_server, dsl("chat.yml", text_to_speech={**tts, "autoPlay": "disabled"}))
    ) as http:
        plain = stream_events(http, _body("read this aloud"))
        assert not any(e["event"].startswith("tts_") for e in plain)


def test_completion_apps_get_moderation_and_tts(live_server: LiveServer) -> None:
    tts = {"enabled": True, "autoPlay": "enabled", "language": "en-US"}
    key = install(live_server, dsl("completion.yml", sensitive_word_avoidance=SENSITIVE, text_to_speech=tts))
    with client(live_server, key) as http:
        body = {"inputs": {"query": "otters", "tone": "cheerful"}, "user": "feature-user"}
        events = stream_events(http, body, path="/completion-messages")
        check_stream("completion", events)
        kinds = [e["event"] for e in events]
        assert kinds[-3:] == ["tts_message", "tts_message_end", "message_end"]
        assert "message_replace" in kinds  # builtin answers name the builtin model
        flagged = {**body, "inputs": {"query": "forbidden otters"}, "response_mode": "blocking"}
        resp = http.post("/completion-messages", json=flagged)
        assert resp.status_code == 200 and resp.json()["answer"] == "Let's talk about something else."


def test_voice_desk_example(live_server: LiveServer) -> None:
    text = (EXAMPLES / "chat-voice-desk.yml").read_text(encoding="utf-8")
    with client(live_server, install(live_server, text)) as http:
        http.post("/apps/annotations", json={"question": "When does the museum open?", "answer": "At 10 am."})
        events = stream_events(http, _body("when does the museum open"))
        check_stream("chat", events)
        assert [e["event"] for e in events][0] == "message" and events[0]["answer"] == "At 10 am."
        assert [e["event"] for e in events][-2:] == ["tts_message_end", "message_end"]
        assert events[-1]["metadata"]["annotation_reply"]["account"]["name"] == "Service API"
        refused = http.post("/chat-messages", json=_body("my password is hunter2", response_mode="blocking"))
        assert refused.json()["answer"] == "Please do not share credentials here."
        params = http.get("/parameters").json()
        assert (
            params["text_to_speech"]["autoPlay"] == "enabled"
            and params["annotation_reply"]["enabled"] is True
        )
