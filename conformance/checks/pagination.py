"""(c) Cursor pagination of /messages (first_id) and /conversations (last_id)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.model import CheckSpec, Outcome, Target
from conformance.recipes import chat_turn
from conformance.registry import register

if TYPE_CHECKING:
    from conformance.context import Context


def turn_or_fail(ctx: Context, check: str, mode: str, ops: tuple[str, ...], user: str, **kw: Any) -> Any:
    """A generation turn for a scenario, or None after recording FAIL on `ops`."""
    turn = chat_turn(ctx, mode, user, **kw)
    if not turn or "error" in turn or not turn.get("message_id"):
        ex = turn["exchange"] if turn else None
        ctx.record_many(check, mode, ops, Outcome.FAIL, "a valid generation request did not succeed", ex)
        return None
    return turn


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


@register(
    CheckSpec(
        "pagination.messages",
        "pagination",
        "Paging /messages by first_id: no duplicates or gaps, chronological pages, has_more false only at "
        "the end.",
        Target.FIXED,
        ("getConversationHistory",),
    ),
    "scenario",
)
def messages_pages(ctx: Context, mode: str) -> None:
    c, op = "pagination.messages", "getConversationHistory"
    user, n = ctx.user("msgpages"), ctx.config.limits.page_items
    first = turn_or_fail(ctx, c, mode, (op,), user, query="page 1")
    if not first:
        return
    created = [str(first["message_id"])]
    for i in range(2, n + 1):
        turn = turn_or_fail(
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
    verdict(ctx, c, mode, op, problems, reply, f"{n} messages over {len(pages)} pages of {limit}")


@register(
    CheckSpec(
        "pagination.conversations",
        "pagination",
        "Paging /conversations by last_id: no duplicates or gaps, stable order, has_more false only at the "
        "end.",
        Target.FIXED,
        ("getConversationsList",),
    ),
    "scenario",
)
def conversation_pages(ctx: Context, mode: str) -> None:
    c, op = "pagination.conversations", "getConversationsList"
    user, n = ctx.user("convpages"), ctx.config.limits.page_items
    created = []
    for i in range(n):
        turn = turn_or_fail(ctx, c, mode, (op,), user, query=f"conversation {i}")
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
    verdict(ctx, c, mode, op, problems, reply, f"{n} conversations over {len(pages)} pages of {limit}")


def verdict(ctx: Context, check: str, mode: str, op: str, problems: list[str], reply: Any, ok: str) -> None:
    if problems:
        ctx.record(check, mode, op, Outcome.FAIL, "; ".join(problems[:3]), reply.exchange if reply else None)
    else:
        ctx.record(check, mode, op, Outcome.PASS, ok)
