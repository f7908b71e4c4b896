"""Human-input forms: created when a run pauses, read and submitted by token (single use).

A submission is recorded in the form's row. The worker waiting on the form sees it (at once on
the same worker, within `POLL_INTERVAL` from another); when no live worker waits any more,
`impl.services.workflows.resume` resumes the run from its stored pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from impl import runtime
from impl.db.models import to_unix, utcnow
from impl.db.workflow_models import HumanInputForm
from impl.engine.nodes.human import render_content
from impl.errors import ApiError, invalid_param, not_found
from impl.services.apps.store import AppContext

SUBMITTED = ApiError("human_input_form_submitted", "The form has already been submitted.", 412)
EXPIRED = ApiError("human_input_form_expired", "The form has expired.", 412)
NOT_FOUND = "Form not found."

_WAITERS: dict[str, asyncio.Future[dict[str, Any]]] = {}
POLL_INTERVAL = 0.5  # seconds between two reads of a waiting form's row


def render(content: str, values: dict[str, Any]) -> str:
    return render_content(content, values)


async def create_form(
    *, app_id: str, run_id: str, node_id: str, node_title: str, definition: dict[str, Any]
) -> HumanInputForm:
    seconds = int(definition.get("timeout_seconds") or 86400)
    row = HumanInputForm(
        token=secrets.token_urlsafe(24),
        app_id=app_id,
        workflow_run_id=run_id,
        node_id=node_id,
        node_title=node_title,
        definition=definition,
        status="waiting",
        expires_at=utcnow() + timedelta(seconds=seconds),
    )
    async with runtime.current().database.transaction() as session:
        session.add(row)
    _WAITERS[row.id] = asyncio.get_running_loop().create_future()
    return row


async def _submission(form_id: str) -> dict[str, Any] | None:
    """The form's submission when it was submitted (through any worker), else None."""
    async with runtime.current().database.session() as session:
        row = await session.get(HumanInputForm, form_id)
    if row is None or row.status != "submitted":
        return None
    return {"action": row.action, "inputs": dict(row.submitted_data or {})}


async def expire(form_id: str) -> None:
    async with runtime.current().database.transaction() as session:
        row = await session.get(HumanInputForm, form_id)
        if row is not None and row.status == "waiting":
            row.status = "expired"


async def wait_for_submission(
    form_id: str, expires_at: datetime | None, stop_event: asyncio.Event
) -> dict[str, Any] | None:
    """The submission, `{"timed_out": True}` on expiry (the form is then marked expired), or None
    when the run's stop flag is raised (the caller decides what becomes of the form)."""
    future = _WAITERS.get(form_id)
    if future is None:
        return None
    deadline = (
        None if expires_at is None else time.monotonic() + max(0.0, (expires_at - utcnow()).total_seconds())
    )
    stop = asyncio.ensure_future(stop_event.wait())
    try:
        waiters: set[asyncio.Future[Any]] = {future, stop}
        while True:
            # A submission on this worker resolves the future; one on another worker is seen in
            # the form's row, read every POLL_INTERVAL seconds.
            left = POLL_INTERVAL if deadline is None else min(POLL_INTERVAL, deadline - time.monotonic())
            done, _pending = await asyncio.wait(
                waiters, timeout=max(0.0, left), return_when=asyncio.FIRST_COMPLETED
            )
            if future in done:
                return future.result()
            if stop in done:
                return None
            submitted = await _submission(form_id)
            if submitted is not None:
                return submitted
            if deadline is not None and time.monotonic() >= deadline:
                await expire(form_id)
                return {"timed_out": True}
    finally:
        stop.cancel()
        with contextlib.suppress(BaseException):
            await stop
        _WAITERS.pop(form_id, None)


async def _load(ctx: AppContext, token: str) -> HumanInputForm:
    async with runtime.current().database.session() as session:
        row = await session.scalar(select(HumanInputForm).where(HumanInputForm.token == token))
    if row is None or row.app_id != ctx.app_id:
        raise not_found(NOT_FOUND)
    if row.status == "submitted":
        raise SUBMITTED
    if row.status == "expired" or (row.expires_at is not None and row.expires_at <= utcnow()):
        raise EXPIRED
    return row


def _form_json(row: HumanInputForm) -> dict[str, Any]:
    definition = dict(row.definition or {})
    return {
        "form_content": str(definition.get("form_content") or ""),
        "inputs": list(definition.get("inputs") or []),
        "resolved_default_values": dict(definition.get("resolved_default_values") or {}),
        "user_actions": list(definition.get("user_actions") or []),
        "expiration_time": to_unix(row.expires_at),
    }


async def get_form(ctx: AppContext, token: str) -> dict[str, Any]:
    return _form_json(await _load(ctx, token))


async def submit(ctx: AppContext, token: str, inputs: Any, action: Any) -> str:
    """Record a submission; returns the id of the form's run."""
    row = await _load(ctx, token)
    actions = [a.get("id") for a in (row.definition or {}).get("user_actions") or [] if isinstance(a, dict)]
    if not isinstance(action, str) or action not in actions:
        raise invalid_param(f"action must be one of: {', '.join(str(a) for a in actions)}")
    if not isinstance(inputs, dict):
        raise invalid_param("inputs must be an object")
    names = {
        str(i.get("output_variable_name"))
        for i in (row.definition or {}).get("inputs") or []
        if isinstance(i, dict)
    }
    values = {k: v for k, v in inputs.items() if k in names}
    async with runtime.current().database.transaction() as session:
        fresh = await session.get(HumanInputForm, row.id)
        if fresh is None:
            raise not_found(NOT_FOUND)
        if fresh.status != "waiting":
            raise SUBMITTED if fresh.status == "submitted" else EXPIRED
        fresh.status = "submitted"
        fresh.action = action
        fresh.submitted_data = values
        fresh.submitted_at = utcnow()
    future = _WAITERS.get(row.id)
    if future is not None and not future.done():
        future.set_result({"action": action, "inputs": values})
    return row.workflow_run_id


async def outcome_of(form_id: str) -> dict[str, Any] | None:
    """What a resumed run's form gives its node: the submission, `{"timed_out": True}` once it
    expired (marking it so), or None while it is still open."""
    submitted = await _submission(form_id)
    if submitted is not None:
        return submitted
    async with runtime.current().database.transaction() as session:
        row = await session.get(HumanInputForm, form_id)
        if row is None:
            return None
        if row.status == "expired" or (row.expires_at is not None and row.expires_at <= utcnow()):
            row.status = "expired"
            return {"timed_out": True}
    return None
