"""(c) Stateful scenarios: continuity, rename/delete, feedback, files, workflow runs, conversation variables.

Each scenario also reads the state back after the fact (lists after rename, delete and feedback; the run
record and the logs after a run), since a write that answers success but does not stick is what users hit.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from conformance.capabilities import CHAT_MODES
from conformance.checks.pagination import turn_or_fail
from conformance.model import CheckSpec, Outcome, Target
from conformance.recipes import Streams, chat_turn
from conformance.registry import register

if TYPE_CHECKING:
    from conformance.context import Context


def _scenario(check_id: str, description: str, *operations: str, **kw: Any) -> CheckSpec:
    return CheckSpec(check_id, "scenario", description, Target.FIXED, operations, **kw)


@register(
    _scenario(
        "scenario.continuity",
        "A second turn sent with conversation_id stays in that conversation; history holds both turns.",
        "sendChatMessage",
    ),
    "scenario",
)
def continuity(ctx: Context, mode: str) -> None:
    c, op = "scenario.continuity", ("sendChatMessage",)
    user = ctx.user("cont")
    first = turn_or_fail(ctx, c, mode, op, user, query="First turn")
    if not first:
        return
    second = turn_or_fail(
        ctx, c, mode, op, user, query="Second turn", conversation_id=first["conversation_id"]
    )
    if not second:
        return
    if second["conversation_id"] != first["conversation_id"]:
        msg = f"second turn answered in {second['conversation_id']}, not {first['conversation_id']}"
        ctx.record(c, mode, op[0], Outcome.FAIL, msg, second["exchange"])
        return
    r = ctx.apis[mode].call(
        "GET", "/messages", params={"conversation_id": first["conversation_id"], "user": user}
    )
    data = r.json.get("data", []) if isinstance(r.json, dict) else []
    ids = [m.get("id") for m in data]
    if r.status != 200 or ids != [first["message_id"], second["message_id"]]:
        msg = f"history should list both turns oldest first, got {r.status} {ids}"
        ctx.record(c, mode, op[0], Outcome.FAIL, msg, r.exchange)
        return
    queries = [m.get("query") for m in data]
    if queries != ["First turn", "Second turn"]:
        ctx.record(c, mode, op[0], Outcome.FAIL, f"history queries are {queries}", r.exchange)
        return
    ctx.record(c, mode, op[0], Outcome.PASS, "both turns in one conversation, in order")


def _listed(ctx: Context, mode: str, user: str) -> tuple[dict[str, dict[str, Any]], Any]:
    listing = ctx.apis[mode].call("GET", "/conversations", params={"user": user, "limit": 100})
    data = listing.json.get("data", []) if isinstance(listing.json, dict) else []
    return {str(x.get("id")): x for x in data if isinstance(x, dict)}, listing


@register(
    _scenario(
        "scenario.rename-delete",
        "Rename returns the conversation with the new name and the list shows it; after delete the "
        "conversation answers 404 and is gone from the list.",
        "renameConversation",
        "deleteConversation",
    ),
    "scenario",
)
def rename_delete(ctx: Context, mode: str) -> None:
    c = "scenario.rename-delete"
    api, user = ctx.apis[mode], ctx.user("rename")
    turn = turn_or_fail(ctx, c, mode, ("renameConversation", "deleteConversation"), user, query="rename me")
    if not turn:
        return
    cid = str(turn["conversation_id"])
    new_name = "Renamed by conformance"
    r = api.call("POST", f"/conversations/{cid}/name", json_body={"name": new_name, "user": user})
    listed, listing = _listed(ctx, mode, user)
    if r.status != 200 or not isinstance(r.json, dict) or r.json.get("name") != new_name:
        ctx.record(
            c,
            mode,
            "renameConversation",
            Outcome.FAIL,
            f"rename answered {r.status} without the new name",
            r.exchange,
        )
    elif r.json.get("id") != cid:
        ctx.record(
            c,
            mode,
            "renameConversation",
            Outcome.FAIL,
            f"rename answered conversation {r.json.get('id')!r}",
            r.exchange,
        )
    elif (listed.get(cid) or {}).get("name") != new_name:
        shown = (listed.get(cid) or {}).get("name")
        msg = f"the list shows name {shown!r} after the rename"
        ctx.record(c, mode, "renameConversation", Outcome.FAIL, msg, listing.exchange)
    else:
        ctx.record(c, mode, "renameConversation", Outcome.PASS, "renamed, and the list shows the new name")
    d = api.call("DELETE", f"/conversations/{cid}", json_body={"user": user})
    if d.status not in (200, 204):
        ctx.record(c, mode, "deleteConversation", Outcome.FAIL, f"delete answered {d.status}", d.exchange)
        return
    after = [
        api.call("GET", "/messages", params={"conversation_id": cid, "user": user}),
        api.call("POST", f"/conversations/{cid}/name", json_body={"name": "again", "user": user}),
        api.call("DELETE", f"/conversations/{cid}", json_body={"user": user}),
    ]
    bad = [a for a in after if a.status != 404]
    listed, listing = _listed(ctx, mode, user)
    if bad:
        msg = f"after delete, {bad[0].exchange.method} answered {bad[0].status}, expected 404"
        ctx.record(c, mode, "deleteConversation", Outcome.FAIL, msg, bad[0].exchange)
    elif cid in listed:
        msg = "the deleted conversation is still in the list"
        ctx.record(c, mode, "deleteConversation", Outcome.FAIL, msg, listing.exchange)
    else:
        msg = "deleted; gone from the list, and messages, rename and delete then answer 404"
        ctx.record(c, mode, "deleteConversation", Outcome.PASS, msg)


@register(
    _scenario(
        "scenario.feedback",
        "Feedback on a message is accepted, then shown on the message in /messages and listed by "
        "/app/feedbacks with its rating.",
        "postChatMessageFeedback",
        "getChatAppFeedbacks",
    ),
    "scenario",
)
def feedback(ctx: Context, mode: str) -> None:
    c, ops = "scenario.feedback", ("postChatMessageFeedback", "getChatAppFeedbacks")
    api, user = ctx.apis[mode], ctx.user("fb")
    turn = turn_or_fail(ctx, c, mode, ops, user, query="rate me")
    if not turn:
        return
    mid = turn["message_id"]
    r = api.call(
        "POST",
        f"/messages/{mid}/feedbacks",
        json_body={"rating": "like", "content": "conformance", "user": user},
    )
    if r.status != 200:
        ctx.record_many(c, mode, ops, Outcome.FAIL, f"feedback answered {r.status}", r.exchange)
        return
    if mode in CHAT_MODES:
        h = api.call("GET", "/messages", params={"conversation_id": turn["conversation_id"], "user": user})
        data = h.json.get("data", []) if isinstance(h.json, dict) else []
        mine = next((m for m in data if isinstance(m, dict) and m.get("id") == mid), None)
        rating = (
            (mine.get("feedback") or {}).get("rating")
            if mine and isinstance(mine.get("feedback"), dict)
            else None
        )
        if rating != "like":
            shown = mine.get("feedback") if mine else None
            msg = f"after feedback, /messages shows the message with feedback {shown!r}"
            ctx.record(c, mode, ops[0], Outcome.FAIL, msg, h.exchange)
        else:
            ctx.record(c, mode, ops[0], Outcome.PASS, "accepted, and /messages shows the rating")
    else:
        ctx.record(c, mode, ops[0], Outcome.PASS, "feedback accepted")
    found, last = None, None
    for page in range(1, 6):
        last = api.call("GET", "/app/feedbacks", params={"page": page, "limit": 100})
        data = last.json.get("data", []) if isinstance(last.json, dict) else []
        found = next((f for f in data if f.get("message_id") == mid), None)
        if found or len(data) < 100:
            break
    ex = last.exchange if last else None
    if found is None:
        ctx.record(c, mode, ops[1], Outcome.FAIL, "the feedback is not listed by /app/feedbacks", ex)
    elif found.get("rating") != "like":
        ctx.record(c, mode, ops[1], Outcome.FAIL, f"listed with rating {found.get('rating')!r}", ex)
    else:
        ctx.record(c, mode, ops[1], Outcome.PASS, "listed with its rating")


TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


@register(
    _scenario(
        "scenario.files",
        "An upload answers 201 with the file's id; the file can be sent in a message and is served by its "
        "preview URL.",
        "uploadChatFile",
        "previewChatFile",
        requires=("file_upload",),
    ),
    "scenario",
)
def files(ctx: Context, mode: str) -> None:
    c, ops = "scenario.files", ("uploadChatFile", "previewChatFile")
    api, user = ctx.apis[mode], ctx.user("file")
    types = ctx.app(mode).file_types or ("document",)
    kind = "image" if "image" in types else types[0]
    name, content, mime = (
        ("pixel.png", TINY_PNG, "image/png")
        if kind == "image"
        else ("notes.txt", b"conformance file body\n", "text/plain")
    )
    up = api.call("POST", "/files/upload", files={"file": (name, content, mime)}, data={"user": user})
    fid = up.json.get("id") if isinstance(up.json, dict) else None
    if up.status != 201 or not fid:
        msg = f"upload answered {up.status}{'' if fid else ' without an id'}; Dify answers 201 Created"
        ctx.record_many(c, mode, ops, Outcome.FAIL, msg, up.exchange)
        return
    sent = [{"type": kind, "transfer_method": "local_file", "upload_file_id": fid}]
    if ctx.wanted("scenario.files", mode, ops[0]) and mode != "workflow":
        turn = chat_turn(ctx, mode, user, query="What is in the file?", files=sent)
        if not turn or "error" in turn:
            ex = turn["exchange"] if turn else None
            ctx.record_many(c, mode, ops, Outcome.FAIL, "a message carrying the file did not succeed", ex)
            return
        ctx.record(c, mode, ops[0], Outcome.PASS, f"uploaded {kind} (201) and accepted in a message")
    else:
        ctx.record(c, mode, ops[0], Outcome.PASS, f"uploaded {kind} (201)")
    p = api.call("GET", f"/files/{fid}/preview", params={"user": user})
    if p.status != 200 or p.content != content:
        ctx.record(
            c,
            mode,
            ops[1],
            Outcome.FAIL,
            f"preview answered {p.status} with {len(p.content)} bytes",
            p.exchange,
        )
    else:
        ctx.record(c, mode, ops[1], Outcome.PASS, "preview returns the uploaded bytes")


@register(
    _scenario(
        "scenario.workflow-run",
        "After a run finishes, its record (GET /workflows/run/{id}) and its /workflows/logs entry say how it "
        "ended (status, outputs, finish time), not `running`.",
        "getWorkflowRunDetail",
        "getWorkflowLogs",
        modes=("workflow", "advanced-chat"),
    ),
    "scenario",
)
def workflow_run(ctx: Context, mode: str) -> None:
    c, ops = "scenario.workflow-run", ("getWorkflowRunDetail", "getWorkflowLogs")
    api, user = ctx.apis[mode], ctx.user("wf")
    _, cap = Streams(ctx).start_generation(mode, user, query="Run the flow")
    finished = next((p for p in cap.payloads() if p.get("event") == "workflow_finished"), None)
    if cap.status != 200 or finished is None or not finished.get("workflow_run_id"):
        ctx.record_many(
            c, mode, ops, Outcome.FAIL, "a streamed run brought no workflow_finished event", cap.exchange
        )
        return
    rid = str(finished["workflow_run_id"])
    data: dict[str, Any] = finished["data"] if isinstance(finished.get("data"), dict) else {}
    status = data.get("status")
    d = api.call("GET", f"/workflows/run/{rid}")
    detail = d.json if isinstance(d.json, dict) else {}
    problems = []
    if d.status != 200 or detail.get("id") != rid:
        problems.append(f"run detail answered {d.status} for run {rid}")
    else:
        if detail.get("status") != status:
            problems.append(f"run detail says status {detail.get('status')!r}, the stream ended {status!r}")
        if not isinstance(detail.get("finished_at"), int):
            problems.append(f"finished_at is {detail.get('finished_at')!r} after the run finished")
        if status == "succeeded" and detail.get("outputs") != data.get("outputs"):
            problems.append(
                f"outputs {str(detail.get('outputs'))[:80]} differ from the stream's "
                f"{str(data.get('outputs'))[:80]}"
            )
    if problems:
        ctx.record(c, mode, ops[0], Outcome.FAIL, "; ".join(problems), d.exchange)
    else:
        ctx.record(c, mode, ops[0], Outcome.PASS, f"run {rid} reads back as {status}, finished, same outputs")
    logs = api.call("GET", "/workflows/logs", params={"created_by_end_user_session_id": user, "limit": 100})
    entries = logs.json.get("data", []) if isinstance(logs.json, dict) else []
    entry = next(
        (e for e in entries if isinstance(e, dict) and (e.get("workflow_run") or {}).get("id") == rid), None
    )
    if logs.status != 200 or entry is None:
        ctx.record(c, mode, ops[1], Outcome.FAIL, "the run is missing from /workflows/logs", logs.exchange)
    elif entry["workflow_run"].get("status") != status:
        msg = f"the log lists the run as {entry['workflow_run'].get('status')!r}, the stream ended {status!r}"
        ctx.record(c, mode, ops[1], Outcome.FAIL, msg, logs.exchange)
    else:
        ctx.record(c, mode, ops[1], Outcome.PASS, f"the run is in the logs as {status}")


_GOOD = {
    "string": "updated",
    "number": 3,
    "integer": 3,
    "boolean": True,
    "object": {"k": "v"},
    "array[string]": ["a"],
    "array[number]": [1],
    "array[object]": [{}],
}
_BAD = {
    "string": {"not": "a string"},
    "number": "not a number",
    "integer": "nope",
    "boolean": "nope",
    "object": "not an object",
    "array[string]": "x",
    "array[number]": ["x"],
    "array[object]": 5,
}


def _same_value(listed: Any, sent: Any) -> bool:
    """The listed value equals the one sent, as the value itself or as its JSON or plain text."""
    if listed == sent:
        return True
    if isinstance(listed, str):
        try:
            if json.loads(listed) == sent:
                return True
        except ValueError:
            pass
        return listed == str(sent) and not isinstance(sent, (dict, list))
    return False


@register(
    _scenario(
        "scenario.conversation-variables",
        "Conversation variables list, update with a well-typed value (read back), and reject a mistyped one "
        "with 400.",
        "getConversationVariables",
        "updateChatConversationVariable",
        requires=("conversation_variables",),
    ),
    "scenario",
)
def variables(ctx: Context, mode: str) -> None:
    c, ops = "scenario.conversation-variables", ("getConversationVariables", "updateChatConversationVariable")
    api, user = ctx.apis[mode], ctx.user("vars")
    turn = turn_or_fail(ctx, c, mode, ops, user, query="variables")
    if not turn:
        return
    cid = turn["conversation_id"]
    r = api.call("GET", f"/conversations/{cid}/variables", params={"user": user})
    data = r.json.get("data", []) if isinstance(r.json, dict) else []
    if r.status != 200:
        ctx.record_many(c, mode, ops, Outcome.FAIL, f"listing variables answered {r.status}", r.exchange)
        return
    ctx.record(c, mode, ops[0], Outcome.PASS, f"{len(data)} variable(s)")
    var = next((v for v in data if v.get("value_type") in _GOOD), None)
    if var is None:
        ctx.record(
            c, mode, ops[1], Outcome.SKIP, "the app declares no conversation variable, so none can be updated"
        )
        return
    path = f"/conversations/{cid}/variables/{var['id']}"
    good = _GOOD[var["value_type"]]
    ok = api.call("PUT", path, json_body={"value": good, "user": user})
    bad = api.call("PUT", path, json_body={"value": _BAD[var["value_type"]], "user": user})
    again = api.call("GET", f"/conversations/{cid}/variables", params={"user": user})
    listed = again.json.get("data", []) if isinstance(again.json, dict) else []
    now = next((v for v in listed if isinstance(v, dict) and v.get("id") == var["id"]), {})
    if ok.status != 200:
        ctx.record(c, mode, ops[1], Outcome.FAIL, f"a well-typed update answered {ok.status}", ok.exchange)
    elif bad.status != 400:
        ctx.record(
            c,
            mode,
            ops[1],
            Outcome.FAIL,
            f"a mistyped update answered {bad.status}, expected 400",
            bad.exchange,
        )
    elif not _same_value(now.get("value"), good):
        msg = f"after the update the list shows value {now.get('value')!r}, expected {good!r}"
        ctx.record(c, mode, ops[1], Outcome.FAIL, msg, again.exchange)
    else:
        ctx.record(
            c, mode, ops[1], Outcome.PASS, "typed update accepted and listed, mistyped one rejected with 400"
        )
