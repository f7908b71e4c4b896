"""What Dify's SDKs really send is accepted: `files: null`, `inputs: {}`, `conversation_id: ""`, no
`response_mode` (blocking), and `user` where each operation expects it (query for GET, JSON body for POST
and DELETE). See client-wire-facts: both official SDKs send these on every call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.capabilities import CHAT_MODES, GENERATION_OPS
from conformance.checks.pagination import turn_or_fail
from conformance.client import Reply
from conformance.model import CheckSpec, Outcome, Target
from conformance.recipes import Streams, generation_body, generation_op, generation_path
from conformance.registry import register

if TYPE_CHECKING:
    from conformance.context import Context


def _spec(
    check_id: str, description: str, operations: tuple[str, ...] = GENERATION_OPS, **kw: Any
) -> CheckSpec:
    return CheckSpec(check_id, "sdk", description, Target.FIXED, operations, **kw)


def _send(ctx: Context, mode: str, body: dict[str, Any]) -> tuple[int | None, Any, Any]:
    """Send a generation body as the SDKs would; returns (status, parsed answer, exchange)."""
    op_id = generation_op(mode)
    api = ctx.apis[mode]
    if body.get("response_mode") == "streaming":
        cap = Streams(ctx).open(mode, op_id, api.build("POST", generation_path(ctx, op_id), json_body=body))
        end = next(
            (p for p in cap.payloads() if p.get("event") in ("message_end", "workflow_finished")), None
        )
        return cap.status, end, cap.exchange
    reply: Reply = api.call("POST", generation_path(ctx, op_id), json_body=body)
    return reply.status, reply.json, reply.exchange


def _streaming(mode: str) -> bool:
    return mode == "agent-chat"  # agent apps have no blocking mode


def _judge(ctx: Context, check: str, mode: str, sent: str, result: tuple[int | None, Any, Any]) -> None:
    status, answer, ex = result
    op = generation_op(mode)
    if status == 200 and isinstance(answer, dict):
        ctx.record(check, mode, op, Outcome.PASS, f"a request with {sent} is answered 200")
    else:
        ctx.record(check, mode, op, Outcome.FAIL, f"a request with {sent} got {status}; the SDKs send it", ex)


@register(
    _spec(
        "sdk.files-null",
        'A generation request with `"files": null` (as both official SDKs send) is accepted.',
    ),
    "scenario",
)
def files_null(ctx: Context, mode: str) -> None:
    body = generation_body(ctx, mode, ctx.user("sdk"), streaming=_streaming(mode), query="files are null")
    body["files"] = None
    _judge(ctx, "sdk.files-null", mode, '"files": null', _send(ctx, mode, body))


@register(
    _spec(
        "sdk.empty-inputs",
        "A generation request with `inputs: {}` is accepted when the app needs no input (for chat apps that "
        "do, on a continued conversation, whose stored inputs apply).",
    ),
    "scenario",
)
def empty_inputs(ctx: Context, mode: str) -> None:
    c, op = "sdk.empty-inputs", generation_op(mode)
    user = ctx.user("sdk")
    body = generation_body(ctx, mode, user, streaming=_streaming(mode), query="inputs are empty")
    if ctx.inputs(mode):
        if mode not in CHAT_MODES:
            needed = ", ".join(sorted(ctx.inputs(mode)))
            ctx.record(
                c, mode, op, Outcome.SKIP, f"the app requires inputs ({needed}), so {{}} must be refused"
            )
            return
        first = turn_or_fail(ctx, c, mode, (op,), user, query="first turn")
        if not first:
            return
        body["conversation_id"] = first["conversation_id"]
    body["inputs"] = {}
    _judge(ctx, c, mode, "inputs: {}", _send(ctx, mode, body))


@register(
    _spec(
        "sdk.empty-conversation-id",
        'A chat request with `"conversation_id": ""` starts a new conversation.',
        ("sendChatMessage",),
    ),
    "scenario",
)
def empty_conversation_id(ctx: Context, mode: str) -> None:
    c = "sdk.empty-conversation-id"
    body = generation_body(
        ctx, mode, ctx.user("sdk"), streaming=_streaming(mode), query="new conversation", conversation_id=""
    )
    status, answer, ex = _send(ctx, mode, body)
    cid = answer.get("conversation_id") if isinstance(answer, dict) else None
    if status == 200 and isinstance(cid, str) and cid:
        ctx.record(c, mode, "sendChatMessage", Outcome.PASS, f"answered in new conversation {cid}")
    else:
        msg = f'conversation_id "" got {status} with conversation_id {cid!r}; expected a new conversation'
        ctx.record(c, mode, "sendChatMessage", Outcome.FAIL, msg, ex)


@register(
    _spec(
        "sdk.default-blocking",
        "A generation request without `response_mode` is answered in blocking mode (one JSON body); an "
        "agent app, which cannot block, refuses it with 400 invalid_param.",
    ),
    "scenario",
)
def default_blocking(ctx: Context, mode: str) -> None:
    c, op = "sdk.default-blocking", generation_op(mode)
    body = generation_body(ctx, mode, ctx.user("sdk"), streaming=False, query="no response mode")
    body.pop("response_mode")
    reply = ctx.apis[mode].call("POST", generation_path(ctx, op), json_body=body)
    data = reply.json if isinstance(reply.json, dict) else None
    if mode == "agent-chat":
        if reply.status == 400 and data and data.get("code") == "invalid_param":
            ctx.record(c, mode, op, Outcome.PASS, "refused with 400 invalid_param (agent apps cannot block)")
        else:
            msg = f"got {reply.status} {reply.content_type}; Dify refuses blocking agent requests with 400"
            ctx.record(c, mode, op, Outcome.FAIL, msg, reply.exchange)
        return
    if reply.status == 200 and reply.content_type == "application/json" and data is not None:
        ctx.record(c, mode, op, Outcome.PASS, "answered with one blocking JSON body")
    else:
        ctype = reply.content_type or "(no content type)"
        msg = f"got {reply.status} {ctype}; an absent response_mode means blocking"
        ctx.record(c, mode, op, Outcome.FAIL, msg, reply.exchange)


@register(
    _spec(
        "sdk.user-placement",
        "`user` is read where the SDKs put it: the query of GET /conversations, the JSON body of DELETE "
        "/conversations/{id} (a DELETE with a body).",
        ("getConversationsList", "deleteConversation"),
    ),
    "scenario",
)
def user_placement(ctx: Context, mode: str) -> None:
    c, ops = "sdk.user-placement", ("getConversationsList", "deleteConversation")
    api, user = ctx.apis[mode], ctx.user("where")
    turn = turn_or_fail(ctx, c, mode, ops, user, query="where is the user")
    if not turn:
        return
    cid = str(turn["conversation_id"])
    listing = api.call("GET", "/conversations", params={"user": user, "limit": 100})
    ids = [x.get("id") for x in listing.json.get("data", [])] if isinstance(listing.json, dict) else []
    if listing.status == 200 and cid in ids:
        ctx.record(c, mode, ops[0], Outcome.PASS, "user in the query lists the user's conversation")
    else:
        ctx.record(
            c,
            mode,
            ops[0],
            Outcome.FAIL,
            f"GET /conversations?user= answered {listing.status} without it",
            listing.exchange,
        )
    d = api.call("DELETE", f"/conversations/{cid}", json_body={"user": user})
    if d.status in (200, 204):
        ctx.record(c, mode, ops[1], Outcome.PASS, "user in the DELETE body deletes the user's conversation")
    else:
        msg = f'DELETE with {{"user": ...}} in its JSON body answered {d.status}'
        ctx.record(c, mode, ops[1], Outcome.FAIL, msg, d.exchange)
