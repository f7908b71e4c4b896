"""Resuming a paused run on any worker: the form submission and the keeper's round.

A submission is recorded in the form's row (`human_input.submit`). When a live worker still
waits on the form, it resumes the run itself. Otherwise (the waiter crashed, was restarted or
shut down) the worker that took the submission claims the stored pause and resumes the run
from it; a keeper round does the same for pauses whose waiter died after a submission reached
it, and for forms that expired with nobody waiting (the run takes the timeout branch or fails,
as it would have in its first worker). A pause that cannot be restored (inside an iteration or a
loop) ends the run `failed` with a message saying why.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from impl import runtime
from impl.db.models import EndUser, Message, utcnow
from impl.db.workflow_models import WorkflowRun
from impl.providers import PromptMessage
from impl.services.apps.scope import AppScope, end_user_for
from impl.services.apps.store import AppContext, load_context
from impl.services.runs import leases
from impl.services.workflows import chatflow, graph_run, human_input, pauses
from impl.services.workflows.app_runs import resolve_version

log = logging.getLogger("impl.resume")

NOT_RESTORABLE = (
    "The worker waiting on this run's human-input form stopped, and a pause inside an iteration "
    "or a loop cannot be resumed by another worker."
)


async def submit(ctx: AppContext, token: str, inputs: Any, action: Any) -> dict[str, Any]:
    """`POST /form/human_input/{token}`: record the submission, and resume the run here when no
    live worker waits on it."""
    run_id = await human_input.submit(ctx, token, inputs, action)
    try:
        await take_over(run_id)
    except Exception:  # the submission stands; a keeper round retries the resumption
        log.exception("could not resume run %s after its form was submitted", run_id)
    return {}


async def take_over(run_id: str) -> bool:
    """Resume the paused run in this process when nobody alive waits on it; True when it did."""
    pause = await pauses.get(run_id)
    if pause is None or pause.waiter_alive(utcnow()):
        return False
    outcome = await human_input.outcome_of(pause.form_id)
    if outcome is None:
        return False  # the form is still open: the run stays paused
    async with runtime.current().database.session() as session:
        row = await session.get(WorkflowRun, run_id)
        user = await session.get(EndUser, row.end_user_id) if row and row.end_user_id else None
    if row is None:
        await pauses.forget(run_id)
        return False
    claimed = await pauses.claim(
        pause, task_id=row.task_id, app_id=row.app_id, message_id=row.message_id, as_waiter=False
    )
    if not claimed:
        return False
    if not pause.state.get("engine"):
        await _fail(row.id, NOT_RESTORABLE)
        return True
    try:
        await _resume(row, user, pause, outcome)
    except Exception:
        log.exception("could not resume run %s", run_id)
        await _fail(row.id, "The run could not be resumed after its pause.")
    return True


async def stop_task(ctx: AppScope, user: str, task_id: str) -> bool:
    """Workflow stop (see `graph_run.stop_task`), which also reaches a paused run nobody alive
    waits on: it is resumed here only to end `stopped`, as its waiter would have ended it."""
    if await graph_run.stop_task(ctx, user, task_id):
        return True
    end_user = await end_user_for(ctx, user)
    async with runtime.current().database.session() as session:
        row = await session.scalar(
            select(WorkflowRun).where(
                WorkflowRun.task_id == task_id,
                WorkflowRun.app_id == ctx.app_id,
                WorkflowRun.end_user_id == end_user.id,
                WorkflowRun.status == "paused",
            )
        )
    if row is None:
        return False
    pause = await pauses.get(row.id)
    if pause is None or pause.waiter_alive(utcnow()) or not pause.state.get("engine"):
        return False
    claimed = await pauses.claim(
        pause, task_id=row.task_id, app_id=row.app_id, message_id=row.message_id, as_waiter=False
    )
    if not claimed:
        return False
    await human_input.expire(pause.form_id)
    try:
        await _resume(row, end_user, pause, None)
    except Exception:
        log.exception("could not stop the paused run %s", row.id)
        await _fail(row.id, "The run could not be resumed after its pause.")
    return True


async def _resume(
    row: WorkflowRun, user: EndUser | None, pause: pauses.Pause, outcome: dict[str, Any] | None
) -> None:
    """Go on with a claimed run from its stored pause (`outcome` None: it ends stopped)."""
    app = await load_context(runtime.current().database, row.app_id)
    version = await resolve_version(app, row.workflow_id)
    stored = dict(pause.state.get("run") or {})
    history = [
        PromptMessage(str(role), str(content))  # type: ignore[arg-type]
        for role, content in stored.get("history") or []
    ]
    ctx = graph_run.RunContext(
        run_id=row.id,
        task_id=row.task_id,
        app_id=row.app_id,
        mode=row.mode,
        workflow_id=row.workflow_id,
        end_user_id=row.end_user_id or "",
        end_user_session=str(stored.get("end_user_session") or (user.session_id if user else "")),
        created_at=row.created_at,
        inputs=dict(row.inputs or {}),
        conversation_id=row.conversation_id,
        message_id=row.message_id,
        history=history,
        title_query=stored.get("title_query"),
    )
    if row.mode == "advanced-chat":
        ctx = chatflow.chat_context(ctx, version.features)
    resumption = graph_run.Resumption(node_id=pause.node_id, outcome=outcome)
    await graph_run.resume_run(ctx, version.graph, pause.state, list(row.event_log or []), resumption)


async def _fail(run_id: str, message: str) -> None:
    """End a claimed run that cannot go on, as crash recovery ends a dead worker's run."""
    now = utcnow()
    async with runtime.current().database.transaction() as session:
        row = await session.get(WorkflowRun, run_id)
        if row is None:
            return
        await leases.drop_in(session, row.task_id)
        row.status = "failed"
        row.error = message
        row.finished_at = now
        row.elapsed_time = max(0.0, (now - row.created_at).total_seconds())
        user = await session.get(EndUser, row.end_user_id) if row.end_user_id else None
        events = leases.final_events(row, user, message)
        row.event_log = [*(row.event_log or []), *events]
        if row.message_id is not None:
            message_row = await session.get(Message, row.message_id)
            if message_row is not None and message_row.status == "normal":
                message_row.status = "error"
                message_row.error = message
    await leases.registry().backend.finish_log(run_id, events)
    log.warning("paused run %s ended: %s", run_id, message)


async def keeper_round() -> None:
    """Renew this process's waits; resume the runs whose waiter is gone and whose form was
    answered or expired."""
    await pauses.renew()
    for pause in await pauses.orphans_to_resume():
        try:
            await take_over(pause.run_id)
        except Exception:
            log.exception("could not resume the paused run %s", pause.run_id)
