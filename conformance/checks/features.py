"""Scenarios for the features an app offers (discovered from its /parameters): suggested questions, the
opening statement, annotations, text to speech, speech to text, and end users."""

from __future__ import annotations

import io
import wave
from typing import TYPE_CHECKING, Any

from conformance.capabilities import CHAT_MODES
from conformance.checks.pagination import turn_or_fail
from conformance.model import CheckSpec, Outcome, Target
from conformance.recipes import chat_turn
from conformance.registry import register

if TYPE_CHECKING:
    from conformance.context import Context


def _spec(
    check_id: str, description: str, operations: tuple[str, ...], requires: str, **kw: Any
) -> CheckSpec:
    return CheckSpec(check_id, "scenario", description, Target.FIXED, operations, requires=(requires,), **kw)


@register(
    _spec(
        "scenario.suggested-questions",
        "With suggested questions after answer on, GET /messages/{id}/suggested answers a list of strings.",
        ("getSuggestedQuestions",),
        "suggested_questions",
    ),
    "scenario",
)
def suggested(ctx: Context, mode: str) -> None:
    c, op = "scenario.suggested-questions", "getSuggestedQuestions"
    user = ctx.user("sugg")
    turn = turn_or_fail(ctx, c, mode, (op,), user, query="Suggest what to ask next")
    if not turn:
        return
    r = ctx.apis[mode].call("GET", f"/messages/{turn['message_id']}/suggested", params={"user": user})
    data = r.json.get("data") if isinstance(r.json, dict) else None
    if r.status == 200 and isinstance(data, list) and all(isinstance(q, str) for q in data):
        ctx.record(c, mode, op, Outcome.PASS, f"{len(data)} suggested question(s)")
    else:
        ctx.record(c, mode, op, Outcome.FAIL, f"answered {r.status} without a list of strings", r.exchange)


@register(
    _spec(
        "scenario.opening-statement",
        "A new conversation's `introduction` is the app's opening statement from /parameters.",
        ("getConversationsList",),
        "opening_statement",
        modes=CHAT_MODES,
    ),
    "scenario",
)
def opening_statement(ctx: Context, mode: str) -> None:
    c, op = "scenario.opening-statement", "getConversationsList"
    opening = str(ctx.app(mode).parameters.get("opening_statement", ""))
    if "{{" in opening:
        ctx.record(c, mode, op, Outcome.SKIP, "the opening statement holds input variables; not compared")
        return
    user = ctx.user("intro")
    turn = turn_or_fail(ctx, c, mode, (op,), user, query="hello")
    if not turn:
        return
    r = ctx.apis[mode].call("GET", "/conversations", params={"user": user, "limit": 100})
    data = r.json.get("data", []) if isinstance(r.json, dict) else []
    conv = next((x for x in data if isinstance(x, dict) and x.get("id") == turn["conversation_id"]), None)
    if conv is not None and conv.get("introduction") == opening:
        ctx.record(c, mode, op, Outcome.PASS, "the conversation's introduction is the opening statement")
    else:
        got = conv.get("introduction") if conv else "(conversation not listed)"
        ctx.record(
            c,
            mode,
            op,
            Outcome.FAIL,
            f"introduction is {got!r}, the opening statement is {opening!r}",
            r.exchange,
        )


ANNOTATION_OPS = ("createAnnotation", "getAnnotationList", "updateAnnotation", "deleteAnnotation")


@register(
    _spec(
        "scenario.annotations",
        "An annotation is created (201), listed, updated (the list shows the new answer) and deleted (204, "
        "then gone from the list).",
        ANNOTATION_OPS,
        "annotations",
    ),
    "scenario",
)
def annotation_crud(ctx: Context, mode: str) -> None:
    c = "scenario.annotations"
    api = ctx.apis[mode]
    question = f"Conformance question {ctx.user('ann')}?"

    def listed() -> tuple[dict[str, Any] | None, Any]:
        r = api.call("GET", "/apps/annotations", params={"page": 1, "limit": 100, "keyword": question})
        data = r.json.get("data", []) if isinstance(r.json, dict) else []
        return next((a for a in data if isinstance(a, dict) and a.get("question") == question), None), r

    made = api.call("POST", "/apps/annotations", json_body={"question": question, "answer": "first answer"})
    aid = made.json.get("id") if isinstance(made.json, dict) else None
    if made.status != 201 or not aid:
        ctx.record_many(
            c, mode, ANNOTATION_OPS, Outcome.FAIL, f"create answered {made.status}", made.exchange
        )
        return
    ctx.record(c, mode, "createAnnotation", Outcome.PASS, "created (201)")
    entry, r = listed()
    if entry is None or entry.get("id") != aid:
        ctx.record(c, mode, "getAnnotationList", Outcome.FAIL, "the new annotation is not listed", r.exchange)
    else:
        ctx.record(c, mode, "getAnnotationList", Outcome.PASS, "listed")
    u = api.call(
        "PUT", f"/apps/annotations/{aid}", json_body={"question": question, "answer": "second answer"}
    )
    entry, r = listed()
    if u.status != 200:
        ctx.record(c, mode, "updateAnnotation", Outcome.FAIL, f"update answered {u.status}", u.exchange)
    elif entry is None or entry.get("answer") != "second answer":
        got = entry.get("answer") if entry else None
        ctx.record(
            c, mode, "updateAnnotation", Outcome.FAIL, f"after the update the list shows {got!r}", r.exchange
        )
    else:
        ctx.record(c, mode, "updateAnnotation", Outcome.PASS, "updated, and the list shows the new answer")
    d = api.call("DELETE", f"/apps/annotations/{aid}")
    entry, r = listed()
    if d.status != 204:
        ctx.record(c, mode, "deleteAnnotation", Outcome.FAIL, f"delete answered {d.status}", d.exchange)
    elif entry is not None:
        ctx.record(
            c, mode, "deleteAnnotation", Outcome.FAIL, "the deleted annotation is still listed", r.exchange
        )
    else:
        ctx.record(c, mode, "deleteAnnotation", Outcome.PASS, "deleted (204) and gone from the list")


@register(
    _spec(
        "scenario.text-to-speech",
        "With text to speech on, POST /text-to-audio for an answer returns non-empty audio.",
        ("textToAudioChat",),
        "text_to_speech",
    ),
    "scenario",
)
def text_to_speech(ctx: Context, mode: str) -> None:
    c, op = "scenario.text-to-speech", "textToAudioChat"
    user = ctx.user("tts")
    body: dict[str, Any] = {"text": "Hello from the conformance suite.", "user": user}
    if mode in CHAT_MODES or mode == "completion":
        turn = chat_turn(ctx, mode, user, query="Say a short sentence")
        if turn and "error" not in turn and turn.get("message_id"):
            body = {"message_id": turn["message_id"], "user": user}
    r = ctx.apis[mode].call("POST", "/text-to-audio", json_body=body)
    if r.status == 200 and r.content_type.startswith("audio/") and r.content:
        ctx.record(c, mode, op, Outcome.PASS, f"{len(r.content)} bytes of {r.content_type}")
    else:
        ctx.record(
            c,
            mode,
            op,
            Outcome.FAIL,
            f"answered {r.status} {r.content_type!r}, {len(r.content)} bytes",
            r.exchange,
        )


def silent_wav(seconds: float = 0.5) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * int(16000 * seconds))
    return buffer.getvalue()


@register(
    _spec(
        "scenario.speech-to-text",
        "With speech to text on, POST /audio-to-text with a short WAV answers 200 with a `text` string.",
        ("audioToText",),
        "speech_to_text",
    ),
    "scenario",
)
def speech_to_text(ctx: Context, mode: str) -> None:
    c, op = "scenario.speech-to-text", "audioToText"
    files = {"file": ("silence.wav", silent_wav(), "audio/wav")}
    r = ctx.apis[mode].call("POST", "/audio-to-text", files=files, data={"user": ctx.user("stt")})
    if r.status == 200 and isinstance(r.json, dict) and isinstance(r.json.get("text"), str):
        ctx.record(c, mode, op, Outcome.PASS, "transcribed")
    else:
        ctx.record(c, mode, op, Outcome.FAIL, f"answered {r.status}", r.exchange)


@register(
    _spec(
        "scenario.end-user",
        "The end user behind an upload (`created_by`) is readable by GET /end-users/{id} with its "
        "`user` string.",
        ("getEndUserChat",),
        "end_users",
    ),
    "scenario",
)
def end_user(ctx: Context, mode: str) -> None:
    c, op = "scenario.end-user", "getEndUserChat"
    api, user = ctx.apis[mode], ctx.user("who")
    up = api.call(
        "POST", "/files/upload", files={"file": ("who.txt", b"who am i\n", "text/plain")}, data={"user": user}
    )
    eid = up.json.get("created_by") if isinstance(up.json, dict) else None
    if up.status != 201 or not eid:
        ctx.record(
            c, mode, op, Outcome.FAIL, f"an upload answered {up.status} without created_by", up.exchange
        )
        return
    r = api.call("GET", f"/end-users/{eid}")
    body = r.json if isinstance(r.json, dict) else {}
    if r.status == 200 and body.get("id") == eid and body.get("session_id") == user:
        ctx.record(c, mode, op, Outcome.PASS, "the uploader is readable with its session id")
    else:
        msg = f"answered {r.status} with id {body.get('id')!r}, session_id {body.get('session_id')!r}"
        ctx.record(c, mode, op, Outcome.FAIL, msg, r.exchange)
