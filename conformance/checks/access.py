"""(d) Authentication and isolation, and (e) trace ids."""

from __future__ import annotations

import uuid
from typing import Any

from conformance.client import NO_KEY, Api, Reply
from conformance.context import Context
from conformance.model import Outcome
from conformance.recipes import Streams, generation_body, generation_op, generation_path
from conformance.spec import Operation

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


def run_auth(ctx: Context) -> None:
    for mode in ctx.config.keys:
        api = ctx.apis[mode]
        for op in ctx.spec.served_by(mode):
            if not ctx.wanted("auth.required", mode, op.operation_id):
                continue
            with ctx.timed(["auth.required"], mode, op.operation_id):
                failed = False
                for label, key, headers in BAD_KEYS:
                    body = None if op.method in ("get", "delete") else {"user": "conformance"}
                    try:
                        reply = api.call(
                            op.method.upper(), _fill_path(op), key=key, headers=headers, json_body=body
                        )
                    except Exception as exc:
                        ctx.record(
                            "auth.required",
                            mode,
                            op.operation_id,
                            Outcome.FAIL,
                            f"{label}: no response ({exc})",
                        )
                        failed = True
                        continue
                    problem = _envelope_401(reply)
                    if problem:
                        failed = True
                        ctx.record(
                            "auth.required",
                            mode,
                            op.operation_id,
                            Outcome.FAIL,
                            f"{label}: {problem}",
                            reply.exchange,
                        )
                if not failed:
                    ctx.record(
                        "auth.required",
                        mode,
                        op.operation_id,
                        Outcome.PASS,
                        "missing, malformed and unknown keys all get the 401 envelope",
                    )


def chat_turn(
    ctx: Context,
    mode: str,
    user: str,
    *,
    query: str = "Hello",
    conversation_id: str | None = None,
    streams: Streams | None = None,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """One generation call; returns {conversation_id, message_id, answer, exchange} or None on failure."""
    api = ctx.apis[mode]
    op_id = generation_op(mode)
    if mode == "agent-chat":
        streams = streams or Streams(ctx)
        body = generation_body(ctx, mode, user, streaming=True, query=query, conversation_id=conversation_id)
        if files is not None:
            body["files"] = files
        cap = streams.open(mode, op_id, api.build("POST", generation_path(ctx, op_id), json_body=body))
        end = next((p for p in cap.payloads() if p.get("event") == "message_end"), None)
        if cap.status != 200 or end is None:
            return None
        return {
            "conversation_id": end.get("conversation_id"),
            "message_id": end.get("id"),
            "answer": cap.answer(),
            "exchange": cap.exchange,
        }
    body = generation_body(ctx, mode, user, streaming=False, query=query, conversation_id=conversation_id)
    if files is not None:
        body["files"] = files
    reply = api.call("POST", generation_path(ctx, op_id), json_body=body)
    data = reply.json if isinstance(reply.json, dict) else {}
    if reply.status != 200:
        return {"error": reply, "exchange": reply.exchange}
    return {
        "conversation_id": data.get("conversation_id"),
        "message_id": data.get("message_id") or data.get("id"),
        "answer": data.get("answer"),
        "workflow_run_id": data.get("workflow_run_id"),
        "task_id": data.get("task_id"),
        "exchange": reply.exchange,
    }


def run_isolation(ctx: Context) -> None:
    for mode in ctx.config.keys:
        if ctx.wanted_any(["isolation.user"], mode, "getConversationHistory") or ctx.wanted_any(
            ["isolation.user"], mode, "getConversationsList"
        ):
            _user_isolation(ctx, mode)
        ops = [
            o
            for o in ("getConversationHistory", "postChatMessageFeedback")
            if ctx.wanted("isolation.app", mode, o)
        ]
        if ops:
            _app_isolation(ctx, mode, ops)


def _user_isolation(ctx: Context, mode: str) -> None:
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


def _app_isolation(ctx: Context, mode: str, ops: list[str]) -> None:
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


def run_trace(ctx: Context) -> None:
    for mode in ctx.config.keys:
        op_id = generation_op(mode)
        api = ctx.apis[mode]
        streaming = mode == "agent-chat"
        variants: list[tuple[str, dict[str, Any]]] = [
            ("trace.header", {"headers": {"X-Trace-Id": TRACE_ID}}),
            ("trace.query", {"params": {"trace_id": TRACE_ID}}),
            ("trace.body", {"body_extra": {"trace_id": TRACE_ID}}),
        ]
        for check_id, how in variants:
            if not ctx.wanted(check_id, mode, op_id):
                continue
            with ctx.timed([check_id], mode, op_id):
                body = generation_body(ctx, mode, ctx.user("trace"), streaming=streaming, query="trace me")
                body.update(how.get("body_extra", {}))
                request = api.build(
                    "POST",
                    generation_path(ctx, op_id),
                    json_body=body,
                    headers=how.get("headers"),
                    params=how.get("params"),
                )
                if streaming:
                    cap = Streams(ctx).open(mode, op_id, request)
                    status, ex = cap.status, cap.exchange
                else:
                    ex = api.exchange_for(request)
                    api.requests_sent += 1
                    response = api.http.send(request)
                    status = response.status_code
                    ex.status, ex.response_headers, ex.response_body = (
                        status,
                        dict(response.headers),
                        response.content,
                    )
                if status == 200:
                    ctx.record(check_id, mode, op_id, Outcome.PASS, "accepted (200)")
                else:
                    ctx.record(
                        check_id, mode, op_id, Outcome.FAIL, f"request with a trace id got {status}", ex
                    )
