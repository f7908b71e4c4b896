"""(d) Authentication and isolation, and (e) trace ids."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from conformance.capabilities import GENERATION_OPS
from conformance.client import NO_KEY, Api, Reply
from conformance.model import CheckSpec, Outcome, Target
from conformance.recipes import Streams, chat_turn, generation_body, generation_op, generation_path
from conformance.registry import register
from conformance.spec import Operation

if TYPE_CHECKING:
    from conformance.context import Context

BAD_KEYS: tuple[tuple[str, Any, dict[str, str]], ...] = (
    ("missing key", NO_KEY, {}),
    ("malformed header", NO_KEY, {"Authorization": "Token not-a-bearer"}),
    ("unknown key", "app-unknownconformancekey00", {}),
)


def _envelope_401(reply: Reply) -> str | None:
    if reply.status != 401:
        return f"status {reply.status}, expected 401"
    body = reply.json
    if not isinstance(body, dict) or not {"code", "message", "status"} <= set(body):
        return "401 without the {code, message, status} envelope"
    if body.get("status") != 401 or not isinstance(body.get("code"), str):
        return f"401 envelope has code={body.get('code')!r} status={body.get('status')!r}"
    return None


def _fill_path(op: Operation) -> str:
    path = op.path
    for name in op.path_params:
        value = "enable" if name == "action" else str(uuid.uuid4())
        path = path.replace("{" + name + "}", value)
    return path


@register(
    CheckSpec(
        "auth.required",
        "auth",
        "A missing, malformed or unknown key gets 401 with the error envelope.",
        Target.OPERATIONS,
    ),
    "auth",
)
def auth_required(ctx: Context, mode: str, operation: str) -> None:
    api = ctx.apis[mode]
    op = ctx.spec.operations[operation]
    failed = False
    for label, key, headers in BAD_KEYS:
        body = None if op.method in ("get", "delete") else {"user": "conformance"}
        try:
            reply = api.call(op.method.upper(), _fill_path(op), key=key, headers=headers, json_body=body)
        except Exception as exc:
            ctx.record("auth.required", mode, operation, Outcome.FAIL, f"{label}: no response ({exc})")
            failed = True
            continue
        problem = _envelope_401(reply)
        if problem:
            failed = True
            ctx.record("auth.required", mode, operation, Outcome.FAIL, f"{label}: {problem}", reply.exchange)
    if not failed:
        msg = "missing, malformed and unknown keys all get the 401 envelope"
        ctx.record("auth.required", mode, operation, Outcome.PASS, msg)


@register(
    CheckSpec(
        "isolation.user",
        "isolation",
        "Another user's conversation and messages are 404 and never listed.",
        Target.FIXED,
        ("getConversationHistory", "renameConversation", "getConversationsList"),
    ),
    "scenario",
)
def user_isolation(ctx: Context, mode: str) -> None:
    api = ctx.apis[mode]
    owner, other = ctx.user("owner"), ctx.user("other")
    turn = chat_turn(ctx, mode, owner, query="A private question")
    ops = ("getConversationHistory", "renameConversation", "getConversationsList")
    if not turn or "error" in turn or not turn.get("conversation_id"):
        ex = turn["exchange"] if turn else None
        ctx.record_many(
            "isolation.user", mode, ops, Outcome.FAIL, "could not create a conversation to test with", ex
        )
        return
    cid = str(turn["conversation_id"])
    own = api.call("GET", "/messages", params={"conversation_id": cid, "user": owner})
    if own.status != 200:
        ctx.record_many(
            "isolation.user",
            mode,
            ops,
            Outcome.FAIL,
            f"the owner cannot read their own conversation ({own.status})",
            own.exchange,
        )
        return
    r = api.call("GET", "/messages", params={"conversation_id": cid, "user": other})
    if r.status == 404:
        ctx.record("isolation.user", mode, "getConversationHistory", Outcome.PASS, "another user gets 404")
    else:
        ctx.record(
            "isolation.user",
            mode,
            "getConversationHistory",
            Outcome.FAIL,
            f"another user reading the conversation got {r.status}, expected 404",
            r.exchange,
        )
    r = api.call("POST", f"/conversations/{cid}/name", json_body={"name": "hijacked", "user": other})
    if r.status == 404:
        ctx.record("isolation.user", mode, "renameConversation", Outcome.PASS, "another user gets 404")
    else:
        ctx.record(
            "isolation.user",
            mode,
            "renameConversation",
            Outcome.FAIL,
            f"another user renaming the conversation got {r.status}, expected 404",
            r.exchange,
        )
    r = api.call("GET", "/conversations", params={"user": other, "limit": 100})
    ids = [c.get("id") for c in (r.json or {}).get("data", [])] if isinstance(r.json, dict) else []
    if r.status == 200 and cid not in ids:
        ctx.record(
            "isolation.user",
            mode,
            "getConversationsList",
            Outcome.PASS,
            "another user's list does not show it",
        )
    else:
        ctx.record(
            "isolation.user",
            mode,
            "getConversationsList",
            Outcome.FAIL,
            f"another user's list ({r.status}) shows the conversation"
            if cid in ids
            else f"listing failed with {r.status}",
            r.exchange,
        )


@register(
    CheckSpec(
        "isolation.app",
        "isolation",
        "Another app's key reaches none of this app's conversations or messages.",
        Target.FIXED,
        ("getConversationHistory", "postChatMessageFeedback"),
    ),
    "scenario",
)
def app_isolation(ctx: Context, mode: str) -> None:
    ops = [
        o
        for o in ("getConversationHistory", "postChatMessageFeedback")
        if ctx.wanted("isolation.app", mode, o)
    ]
    others = [m for m in ctx.config.keys if ctx.config.keys[m] != ctx.config.keys[mode]]
    if not others:
        ctx.record_many("isolation.app", mode, ops, Outcome.SKIP, "needs a second app key (--key)")
        return
    stranger: Api = ctx.apis[others[0]]
    user = ctx.user("appiso")
    turn = chat_turn(ctx, mode, user, query="Only for this app")
    if not turn or "error" in turn:
        ex = turn["exchange"] if turn else None
        ctx.record_many(
            "isolation.app", mode, ops, Outcome.FAIL, "could not create a message to test with", ex
        )
        return
    if "getConversationHistory" in ops:
        r = stranger.call(
            "GET", "/messages", params={"conversation_id": turn["conversation_id"], "user": user}
        )
        if r.status in (400, 404):
            ctx.record(
                "isolation.app",
                mode,
                "getConversationHistory",
                Outcome.PASS,
                f"the {others[0]} key gets {r.status}",
            )
        else:
            ctx.record(
                "isolation.app",
                mode,
                "getConversationHistory",
                Outcome.FAIL,
                f"the {others[0]} app's key read this app's conversation ({r.status})",
                r.exchange,
            )
    if "postChatMessageFeedback" in ops and turn.get("message_id"):
        r = stranger.call(
            "POST", f"/messages/{turn['message_id']}/feedbacks", json_body={"rating": "like", "user": user}
        )
        if r.status in (400, 404):
            ctx.record(
                "isolation.app",
                mode,
                "postChatMessageFeedback",
                Outcome.PASS,
                f"the {others[0]} key gets {r.status}",
            )
        else:
            ctx.record(
                "isolation.app",
                mode,
                "postChatMessageFeedback",
                Outcome.FAIL,
                f"the {others[0]} app's key left feedback on this app's message ({r.status})",
                r.exchange,
            )


TRACE_ID = "conformance-trace-0001"


def _trace(ctx: Context, mode: str, check_id: str, how: dict[str, Any]) -> None:
    op_id = generation_op(mode)
    api = ctx.apis[mode]
    streaming = mode == "agent-chat"
    body = generation_body(ctx, mode, ctx.user("trace"), streaming=streaming, query="trace me")
    body.update(how.get("body_extra", {}))
    kwargs: dict[str, Any] = {"json_body": body, "headers": how.get("headers"), "params": how.get("params")}
    if streaming:
        cap = Streams(ctx).open(mode, op_id, api.build("POST", generation_path(ctx, op_id), **kwargs))
        status, ex = cap.status, cap.exchange
    else:
        reply = api.call("POST", generation_path(ctx, op_id), **kwargs)
        status, ex = reply.status, reply.exchange
    if status == 200:
        ctx.record(check_id, mode, op_id, Outcome.PASS, "accepted (200)")
    else:
        ctx.record(check_id, mode, op_id, Outcome.FAIL, f"request with a trace id got {status}", ex)


def _trace_spec(check_id: str, where: str) -> CheckSpec:
    return CheckSpec(check_id, "trace", f"A trace id in {where} is accepted.", Target.FIXED, GENERATION_OPS)


@register(_trace_spec("trace.header", "the X-Trace-Id header"), "scenario")
def trace_header(ctx: Context, mode: str) -> None:
    _trace(ctx, mode, "trace.header", {"headers": {"X-Trace-Id": TRACE_ID}})


@register(_trace_spec("trace.query", "the trace_id query parameter"), "scenario")
def trace_query(ctx: Context, mode: str) -> None:
    _trace(ctx, mode, "trace.query", {"params": {"trace_id": TRACE_ID}})


@register(_trace_spec("trace.body", "the JSON body's trace_id field"), "scenario")
def trace_body(ctx: Context, mode: str) -> None:
    _trace(ctx, mode, "trace.body", {"body_extra": {"trace_id": TRACE_ID}})
