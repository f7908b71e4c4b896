"""(c) Stateful scenarios: continuity, cursor pagination, rename/delete, feedback, files, stop, workflow runs,
conversation variables."""

from __future__ import annotations

import time
from typing import Any

from conformance.checks.access import chat_turn
from conformance.context import Context
from conformance.model import Outcome
from conformance.recipes import CHAT_MODES, Streams, generation_body, generation_op, generation_path


def run(ctx: Context) -> None:
    for mode in ctx.config.keys:
        if ctx.wanted("scenario.continuity", mode, "sendChatMessage"):
            with ctx.timed(["scenario.continuity"], mode, "sendChatMessage"):
                _continuity(ctx, mode)
        if ctx.wanted("pagination.messages", mode, "getConversationHistory"):
            with ctx.timed(["pagination.messages"], mode, "getConversationHistory"):
                _messages_pages(ctx, mode)
        if ctx.wanted("pagination.conversations", mode, "getConversationsList"):
            with ctx.timed(["pagination.conversations"], mode, "getConversationsList"):
                _conversation_pages(ctx, mode)
        if ctx.wanted_any(["scenario.rename-delete"], mode, "renameConversation"):
            with ctx.timed(["scenario.rename-delete"], mode, "renameConversation"):
                _rename_delete(ctx, mode)
        if ctx.wanted_any(["scenario.feedback"], mode, "postChatMessageFeedback"):
            with ctx.timed(["scenario.feedback"], mode, "postChatMessageFeedback"):
                _feedback(ctx, mode)
        if ctx.wanted("scenario.files", mode, "uploadChatFile"):
            with ctx.timed(["scenario.files"], mode, "uploadChatFile"):
                _files(ctx, mode)
        stop_op = {"completion": "stopGenerate", "workflow": "stopWorkflowTaskGeneration"}.get(
            mode, "stopChatMessageGeneration"
        )
        if ctx.wanted("scenario.stop", mode, stop_op):
            with ctx.timed(["scenario.stop"], mode, stop_op):
                _stop(ctx, mode, stop_op)
        if ctx.wanted("scenario.workflow-run", mode, "getWorkflowRunDetail"):
            with ctx.timed(["scenario.workflow-run"], mode, "getWorkflowRunDetail"):
                _workflow_run(ctx, mode)
        if ctx.wanted("scenario.conversation-variables", mode, "getConversationVariables"):
            with ctx.timed(["scenario.conversation-variables"], mode, "getConversationVariables"):
                _variables(ctx, mode)


def _turn_or_fail(ctx: Context, check: str, mode: str, ops: tuple[str, ...], user: str, **kw: Any) -> Any:
    turn = chat_turn(ctx, mode, user, **kw)
    if not turn or "error" in turn or not turn.get("message_id"):
        ex = turn["exchange"] if turn else None
        ctx.record_many(check, mode, ops, Outcome.FAIL, "a valid generation request did not succeed", ex)
        return None
    return turn


def _continuity(ctx: Context, mode: str) -> None:
    c, op = "scenario.continuity", ("sendChatMessage",)
    api, user = ctx.apis[mode], ctx.user("cont")
    first = _turn_or_fail(ctx, c, mode, op, user, query="First turn")
    if not first:
        return
    second = _turn_or_fail(
        ctx, c, mode, op, user, query="Second turn", conversation_id=first["conversation_id"]
    )
    if not second:
        return
    if second["conversation_id"] != first["conversation_id"]:
        ctx.record(
            c,
            mode,
            op[0],
            Outcome.FAIL,
            f"second turn answered in conversation {second['conversation_id']}, "
            f"not {first['conversation_id']}",
            second["exchange"],
        )
        return
    r = ctx.apis[mode].call(
        "GET", "/messages", params={"conversation_id": first["conversation_id"], "user": user}
    )
    data = r.json.get("data", []) if isinstance(r.json, dict) else []
    ids = [m.get("id") for m in data]
    if r.status != 200 or ids != [first["message_id"], second["message_id"]]:
        ctx.record(
            c,
            mode,
            op[0],
            Outcome.FAIL,
            f"history should list both turns oldest first, got {r.status} {ids}",
            r.exchange,
        )
        return
    queries = [m.get("query") for m in data]
    if queries != ["First turn", "Second turn"]:
        ctx.record(c, mode, op[0], Outcome.FAIL, f"history queries are {queries}", r.exchange)
        return
    del api
    ctx.record(c, mode, op[0], Outcome.PASS, "both turns in one conversation, in order")


def _page_through(
    ctx: Context, mode: str, path: str, params: dict[str, Any], cursor: str, take: str, limit_pages: int
) -> tuple[list[list[dict[str, Any]]], list[bool], Any, list[str]]:
    """Walk a cursor-paginated list; returns pages, their has_more flags, the last reply, problems."""
    api = ctx.apis[mode]
    pages: list[list[dict[str, Any]]] = []
    flags: list[bool] = []
    problems: list[str] = []
    reply: Any = None
    cursor_value: str | None = None
    for _ in range(limit_pages):
        q = dict(params)
        if cursor_value:
            q[cursor] = cursor_value
        reply = api.call("GET", path, params=q)
        body = reply.json
        if reply.status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
            problems.append(f"page {len(pages) + 1} answered {reply.status}")
            break
        page = body["data"]
        pages.append(page)
        flags.append(bool(body.get("has_more")))
        if len(page) > params["limit"]:
            problems.append(f"page {len(pages)} holds {len(page)} items, more than limit={params['limit']}")
        if not body.get("has_more") or not page:
            break
        cursor_value = str(page[0 if take == "first" else -1].get("id"))
    else:
        problems.append(f"has_more still true after {limit_pages} pages")
    return pages, flags, reply, problems


def _judge_pages(
    pages: list[list[dict[str, Any]]], flags: list[bool], expected: list[str], limit: int, problems: list[str]
) -> None:
    seen: list[str] = [str(item.get("id")) for page in pages for item in page]
    dups = sorted({i for i in seen if seen.count(i) > 1})
    if dups:
        problems.append(f"duplicated across pages: {dups[:3]}")
    missing = [i for i in expected if i not in seen]
    if missing:
        problems.append(f"{len(missing)} of {len(expected)} items never listed (gap): {missing[:3]}")
    for n, flag in enumerate(flags[:-1]):
        if not flag:
            problems.append(f"has_more false on page {n + 1} although more pages followed")
    if len(pages) > 1 and not pages[-1] and flags[-2]:
        problems.append(f"has_more true on page {len(pages) - 1}, but the next page is empty")
    if flags and flags[-1] and not problems:
        problems.append("has_more true on the last page")
    if flags and len(pages[-1]) == limit and flags[-1] is False and len(seen) < len(expected):
        problems.append("has_more false on a full page before the end")


def _messages_pages(ctx: Context, mode: str) -> None:
    c, op = "pagination.messages", "getConversationHistory"
    user, n = ctx.user("msgpages"), ctx.config.limits.page_items
    first = _turn_or_fail(ctx, c, mode, (op,), user, query="page 1")
    if not first:
        return
    created = [str(first["message_id"])]
    for i in range(2, n + 1):
        turn = _turn_or_fail(
            ctx, c, mode, (op,), user, query=f"page {i}", conversation_id=first["conversation_id"]
        )
        if not turn:
            return
        created.append(str(turn["message_id"]))
    limit = 2
    params = {"conversation_id": first["conversation_id"], "user": user, "limit": limit}
    pages, flags, reply, problems = _page_through(ctx, mode, "/messages", params, "first_id", "first", n + 2)
    _judge_pages(pages, flags, created, limit, problems)
    for k, page in enumerate(pages):
        stamps: list[int] = [m["created_at"] for m in page if isinstance(m.get("created_at"), int)]
        ids = [str(m.get("id")) for m in page]
        if ids != sorted(ids, key=lambda i: created.index(i) if i in created else -1):
            problems.append(f"page {k + 1} is not oldest-first: {ids}")
        if stamps != sorted(stamps):
            problems.append(f"page {k + 1} created_at not ascending: {stamps}")
    walked = [str(m.get("id")) for page in reversed(pages) for m in page]
    if not problems and walked != created:
        problems.append(f"pages walked backwards do not rebuild the conversation: {walked} vs {created}")
    if (
        len(pages) > 1
        and pages[1]
        and pages[0]
        and str(pages[0][0].get("id")) in [str(m.get("id")) for m in pages[1]]
    ):
        problems.append("the page after first_id=X contains X (first_id ignored)")
    _verdict(ctx, c, mode, op, problems, reply, f"{n} messages over {len(pages)} pages of {limit}")


def _conversation_pages(ctx: Context, mode: str) -> None:
    c, op = "pagination.conversations", "getConversationsList"
    user, n = ctx.user("convpages"), ctx.config.limits.page_items
    created = []
    for i in range(n):
        turn = _turn_or_fail(ctx, c, mode, (op,), user, query=f"conversation {i}")
        if not turn:
            return
        created.append(str(turn["conversation_id"]))
    limit = 3
    params = {"user": user, "limit": limit}
    pages, flags, reply, problems = _page_through(
        ctx, mode, "/conversations", params, "last_id", "last", n + 2
    )
    _judge_pages(pages, flags, created, limit, problems)
    listed = [item for page in pages for item in page]
    stamps = [item["updated_at"] for item in listed if isinstance(item.get("updated_at"), int)]
    if stamps != sorted(stamps, reverse=True):
        problems.append(f"not ordered by updated_at descending: {stamps}")
    _verdict(ctx, c, mode, op, problems, reply, f"{n} conversations over {len(pages)} pages of {limit}")


def _verdict(ctx: Context, check: str, mode: str, op: str, problems: list[str], reply: Any, ok: str) -> None:
    if problems:
        ctx.record(check, mode, op, Outcome.FAIL, "; ".join(problems[:3]), reply.exchange if reply else None)
    else:
        ctx.record(check, mode, op, Outcome.PASS, ok)


def _rename_delete(ctx: Context, mode: str) -> None:
    c = "scenario.rename-delete"
    api, user = ctx.apis[mode], ctx.user("rename")
    turn = _turn_or_fail(ctx, c, mode, ("renameConversation", "deleteConversation"), user, query="rename me")
    if not turn:
        return
    cid = turn["conversation_id"]
    r = api.call(
        "POST", f"/conversations/{cid}/name", json_body={"name": "Renamed by conformance", "user": user}
    )
    listing = api.call("GET", "/conversations", params={"user": user, "limit": 100})
    names = (
        {x.get("id"): x.get("name") for x in (listing.json or {}).get("data", [])}
        if isinstance(listing.json, dict)
        else {}
    )
    if r.status != 200 or not isinstance(r.json, dict) or r.json.get("name") != "Renamed by conformance":
        ctx.record(
            c,
            mode,
            "renameConversation",
            Outcome.FAIL,
            f"rename answered {r.status} without the new name",
            r.exchange,
        )
    elif names.get(cid) != "Renamed by conformance":
        ctx.record(
            c,
            mode,
            "renameConversation",
            Outcome.FAIL,
            f"the list still shows name {names.get(cid)!r} after the rename",
            listing.exchange,
        )
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
    if bad:
        ctx.record(
            c,
            mode,
            "deleteConversation",
            Outcome.FAIL,
            f"after delete, {bad[0].exchange.method} answered {bad[0].status}, expected 404",
            bad[0].exchange,
        )
    else:
        ctx.record(
            c, mode, "deleteConversation", Outcome.PASS, "deleted; messages, rename and delete then 404"
        )


def _feedback(ctx: Context, mode: str) -> None:
    c, ops = "scenario.feedback", ("postChatMessageFeedback", "getChatAppFeedbacks")
    api, user = ctx.apis[mode], ctx.user("fb")
    turn = _turn_or_fail(ctx, c, mode, ops, user, query="rate me")
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
    ctx.record(c, mode, ops[0], Outcome.PASS, "feedback accepted")
    found, last = None, None
    for page in range(1, 6):
        last = api.call("GET", "/app/feedbacks", params={"page": page, "limit": 100})
        data = last.json.get("data", []) if isinstance(last.json, dict) else []
        found = next((f for f in data if f.get("message_id") == mid), None)
        if found or len(data) < 100:
            break
    if found is None:
        ctx.record(
            c,
            mode,
            ops[1],
            Outcome.FAIL,
            "the feedback is not listed by /app/feedbacks",
            last.exchange if last else None,
        )
    elif found.get("rating") != "like":
        ctx.record(
            c,
            mode,
            ops[1],
            Outcome.FAIL,
            f"listed with rating {found.get('rating')!r}",
            last.exchange if last else None,
        )
    else:
        ctx.record(c, mode, ops[1], Outcome.PASS, "listed with its rating")


TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


def _files(ctx: Context, mode: str) -> None:
    c, ops = "scenario.files", ("uploadChatFile", "previewChatFile")
    api, user = ctx.apis[mode], ctx.user("file")
    kind = ctx.config.capabilities.file_types[0] if ctx.config.capabilities.file_types else "document"
    name, content, mime = (
        ("pixel.png", TINY_PNG, "image/png")
        if kind == "image"
        else ("notes.txt", b"conformance file body\n", "text/plain")
    )
    up = api.call("POST", "/files/upload", files={"file": (name, content, mime)}, data={"user": user})
    fid = up.json.get("id") if isinstance(up.json, dict) else None
    if up.status != 201 or not fid:
        ctx.record_many(c, mode, ops, Outcome.FAIL, f"upload answered {up.status}", up.exchange)
        return
    files = [{"type": kind, "transfer_method": "local_file", "upload_file_id": fid}]
    turn = chat_turn(ctx, mode, user, query="What is in the file?", files=files)
    if not turn or "error" in turn:
        ex = turn["exchange"] if turn else None
        ctx.record_many(c, mode, ops, Outcome.FAIL, "a message carrying the file did not succeed", ex)
        return
    ctx.record(c, mode, ops[0], Outcome.PASS, "uploaded (201) and accepted in a message")
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


def _stop(ctx: Context, mode: str, stop_op: str) -> None:
    c = "scenario.stop"
    api, user = ctx.apis[mode], ctx.user("stop")
    streams = Streams(ctx)
    op_id = generation_op(mode)
    stop_path = ctx.spec.operations[stop_op].path
    state: dict[str, Any] = {}

    def on_event(payload: dict[str, Any]) -> None:
        if "acked" in state or "task_id" not in payload or payload.get("event") in ("ping",):
            return
        state["acked_reply"] = api.call(
            "POST", stop_path.replace("{task_id}", str(payload["task_id"])), json_body={"user": user}
        )
        state["acked"] = time.monotonic()
        state["events_at_ack"] = state.get("seen", 0)

    def counting(payload: dict[str, Any]) -> None:
        state["seen"] = state.get("seen", 0) + 1
        if payload.get("event") in ("message_end", "workflow_finished", "error") and "terminal" not in state:
            state["terminal"] = time.monotonic()
        on_event(payload)

    body = generation_body(ctx, mode, user, streaming=True, query=ctx.config.stop_query)
    request = api.build("POST", generation_path(ctx, op_id), json_body=body)
    g = streams.grammar_for(mode, op_id)
    terminal = g.terminal if g else frozenset({"message_end", "workflow_finished", "error"})
    limits = ctx.config.limits
    import httpx

    from conformance.sse import read_stream

    request.extensions["timeout"] = httpx.Timeout(
        limits.request_timeout, read=limits.stream_deadline + 3
    ).as_dict()
    cap = read_stream(
        api,
        request,
        idle_timeout=limits.stream_idle_timeout,
        deadline=limits.stream_deadline,
        close_grace=limits.close_grace,
        is_terminal=lambda p: p.get("event") in terminal,
        on_event=counting,
    )
    ack = state.get("acked_reply")
    if ack is None:
        ctx.record(
            c,
            mode,
            stop_op,
            Outcome.FAIL,
            "the stream carried no task_id to stop",
            cap.exchange,
            evidence=cap.transcript(),
        )
        return
    if ack.status != 200:
        ctx.record(c, mode, stop_op, Outcome.FAIL, f"stop answered {ack.status}", ack.exchange)
        return
    if "terminal" not in state or cap.ended != "closed":
        ctx.record(
            c,
            mode,
            stop_op,
            Outcome.FAIL,
            f"after stop the stream ended as {cap.ended!r} without closing on a terminal event",
            cap.exchange,
            evidence=cap.transcript(),
        )
        return
    lag = state["terminal"] - state["acked"]
    if lag > limits.stop_timeout:
        ctx.record(
            c,
            mode,
            stop_op,
            Outcome.FAIL,
            f"the stream went on for {lag:.1f}s after stop was acknowledged (limit {limits.stop_timeout:g}s)",
            cap.exchange,
            evidence=cap.transcript(),
        )
        return
    if state["terminal"] <= state["acked"]:
        msg = "the stream ended before the stop was acknowledged; set a stop_query that streams longer"
        ctx.record(c, mode, stop_op, Outcome.WARN, msg, cap.exchange, evidence=cap.transcript())
        return
    if mode in CHAT_MODES:
        end = next((p for p in cap.payloads() if p.get("event") == "message_end"), None)
        cid = end.get("conversation_id") if end else None
        r = api.call("GET", "/messages", params={"conversation_id": cid, "user": user})
        data = r.json.get("data", []) if isinstance(r.json, dict) else []
        stored = data[-1].get("answer") if data else None
        streamed = cap.answer()
        if r.status != 200 or not isinstance(stored, str) or stored.strip() != streamed.strip():
            ctx.record(
                c,
                mode,
                stop_op,
                Outcome.FAIL,
                f"persisted answer {str(stored)[:60]!r} differs from the "
                f"streamed partial answer {streamed[:60]!r}",
                r.exchange,
            )
            return
    ctx.record(
        c,
        mode,
        stop_op,
        Outcome.PASS,
        f"terminal event {lag:.2f}s after stop" + ("; partial answer kept" if mode in CHAT_MODES else ""),
    )


def _workflow_run(ctx: Context, mode: str) -> None:
    c, ops = "scenario.workflow-run", ("getWorkflowRunDetail", "getWorkflowLogs")
    api, user = ctx.apis[mode], ctx.user("wf")
    turn = chat_turn(ctx, mode, user)
    if not turn or "error" in turn or not turn.get("workflow_run_id"):
        ctx.record_many(
            c, mode, ops, Outcome.FAIL, "a blocking workflow run failed", turn["exchange"] if turn else None
        )
        return
    rid = turn["workflow_run_id"]
    d = api.call("GET", f"/workflows/run/{rid}")
    if d.status != 200 or not isinstance(d.json, dict) or d.json.get("id") != rid:
        ctx.record(c, mode, ops[0], Outcome.FAIL, f"run detail answered {d.status}", d.exchange)
    else:
        ctx.record(c, mode, ops[0], Outcome.PASS, f"run {rid} status {d.json.get('status')}")
    logs = api.call("GET", "/workflows/logs", params={"created_by_end_user_session_id": user, "limit": 100})
    data = logs.json.get("data", []) if isinstance(logs.json, dict) else []
    if logs.status == 200 and any((e.get("workflow_run") or {}).get("id") == rid for e in data):
        ctx.record(c, mode, ops[1], Outcome.PASS, "the run is in the logs")
    else:
        ctx.record(c, mode, ops[1], Outcome.FAIL, "the run is missing from /workflows/logs", logs.exchange)


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


def _variables(ctx: Context, mode: str) -> None:
    c, ops = "scenario.conversation-variables", ("getConversationVariables", "updateChatConversationVariable")
    api, user = ctx.apis[mode], ctx.user("vars")
    turn = _turn_or_fail(ctx, c, mode, ops, user, query="variables")
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
        ctx.record(c, mode, ops[1], Outcome.SKIP, "the app declares no conversation variable of a known type")
        return
    path = f"/conversations/{cid}/variables/{var['id']}"
    ok = api.call("PUT", path, json_body={"value": _GOOD[var["value_type"]], "user": user})
    bad = api.call("PUT", path, json_body={"value": _BAD[var["value_type"]], "user": user})
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
    else:
        ctx.record(c, mode, ops[1], Outcome.PASS, "typed update accepted, mistyped one rejected with 400")
