"""One graph run as the server sees it: its events, its record, its pauses, its end.

`start_run` builds the variable pool, registers the stop handle (the shared task registry,
so chat stop and shutdown reach it), and runs the engine in a background task. Every event
is wrapped for the app family, appended to the run's in-memory log and announced to
followers: the POST stream, blocking waiters and `GET /workflow/{id}/events`. The row (status,
outputs, totals, event log, node executions) is written before the run's last events are
published, so a client that saw `workflow_finished` reads the same values back.

At a human-input pause the run's state goes to the database (`pauses`) and its lease is
dropped; this worker waits on the form, and resumes the run if it is still the one named in
the pause when the form is answered. A run whose waiter is gone is resumed by `resume_run`
on whichever worker gets the submission (`impl.services.workflows.resume`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from impl import runtime
from impl.db.lease_models import WorkflowPause
from impl.db.models import TENANT_ID, UploadFile, to_unix, utcnow
from impl.db.workflow_models import WorkflowNodeExecution, WorkflowRun
from impl.engine import Graph, Node, RunOutcome, VariablePool, WorkflowRunner, snapshot
from impl.engine.runner import RunDetached, RunStopped
from impl.knowledge import LocalKnowledge
from impl.providers import ChatModel
from impl.providers.function_calling import FunctionCallingModel
from impl.services.apps.chat_config import parse_model
from impl.services.apps.scope import AppScope, end_user_for, model_for, tool_model_for
from impl.services.media import signed_urls
from impl.services.media.files import store_upload
from impl.services.runs import leases
from impl.services.runs.checkpoint import AnswerCheckpoint
from impl.services.runs.event_log import EventLog
from impl.services.workflows import human_input, pauses
from impl.services.workflows.live import (
    CHAT_TERMINAL,
    LIVE_RUNS,
    TIMEOUT,
    WORKFLOW_TERMINAL,
    max_execution_time,
    registry,
    result_data,
    started_data,
)
from impl.services.workflows.live import LiveRun as LiveRun
from impl.services.workflows.live import Resumption as Resumption
from impl.services.workflows.live import RunContext as RunContext
from impl.services.workflows.live import live_run as live_run
from impl.tasks.registry import STOP_REASON_SHUTDOWN
from impl.tools import ToolFile

log = logging.getLogger("impl.workflow_runs")


def http_allowed_hosts() -> frozenset[str]:
    """Hosts the http-request node may reach on non-public addresses (the outbound allow-list)."""
    return frozenset(runtime.current().settings.outbound_allowed_hosts)


async def store_tool_file(app_id: str, end_user_id: str, file: ToolFile) -> dict[str, Any]:
    """Keep a file a tool made as an upload; return the engine's file mapping for it."""
    rt = runtime.current()
    async with rt.database.transaction() as session:
        upload = await store_upload(
            session,
            rt.settings,
            app_id=app_id,
            tenant_id=TENANT_ID,
            end_user_id=end_user_id,
            filename=file.filename,
            mime_type=file.mime_type,
            data=file.data,
        )
        upload_id, size, extension = upload.id, upload.size, upload.extension
    return {
        "id": upload_id,
        "related_id": upload_id,
        "upload_file_id": upload_id,
        "type": file.type,
        "transfer_method": "tool_file",
        "filename": file.filename,
        "extension": f".{extension}" if extension else None,
        "mime_type": file.mime_type,
        "size": size,
        # Served keyless by `GET /files/tools/{file_name}` while the signature is fresh.
        "url": signed_urls.tool_file_path(rt.settings, upload_id, extension),
        "remote_url": None,
    }


class Hooks:
    """`EngineHooks` for one run."""

    def __init__(self, live: LiveRun) -> None:
        self.live = live
        self.history = list(live.ctx.history)
        self.http_allowed_hosts = http_allowed_hosts()
        # The knowledge-retrieval node's datasets: the locally mapped knowledge bases.
        self.knowledge = LocalKnowledge(runtime.current().database)

    def build_model(self, model: Mapping[str, Any]) -> ChatModel:
        return model_for(parse_model(model))

    def build_tool_model(self, model: Mapping[str, Any], strategy: str) -> FunctionCallingModel:
        return tool_model_for(parse_model(model), strategy)

    async def store_tool_file(self, file: ToolFile) -> dict[str, Any]:
        """Keep a file a tool made (tool and agent nodes) as an upload of this run's end user."""
        return await store_tool_file(self.live.ctx.app_id, self.live.ctx.end_user_id, file)

    async def write_conversation_variable(self, name: str, value: Any) -> None:
        if self.live.ctx.write_variable is not None:
            await self.live.ctx.write_variable(name, value)

    async def read_upload(self, upload_file_id: str) -> bytes:
        rt = runtime.current()
        async with rt.database.session() as session:
            row = await session.get(UploadFile, upload_file_id)
        if row is None or row.app_id != self.live.ctx.app_id:
            raise FileNotFoundError(f"upload file {upload_file_id} not found")
        path = rt.settings.data_dir / row.storage_key
        return await asyncio.to_thread(path.read_bytes)

    async def pause(self, runner: WorkflowRunner, node: Node, form: dict[str, Any]) -> dict[str, Any]:
        live = self.live
        ctx = live.ctx
        resumption = live.resumption
        if resumption is not None and resumption.node_id == node.id:  # resumed from the database
            live.resumption = None
            return _resumed(live, node, form, resumption.outcome)
        form_row = await human_input.create_form(
            app_id=ctx.app_id, run_id=ctx.run_id, node_id=node.id, node_title=node.title, definition=form
        )
        expiration = to_unix(form_row.expires_at)
        live.emit(
            "human_input_required",
            {
                "form_id": form_row.id,
                "node_id": node.id,
                "node_title": node.title,
                "form_content": form["form_content"],
                "inputs": form["inputs"],
                "actions": [{"id": a["id"], "button_style": a["button_style"]} for a in form["user_actions"]],
                "display_in_ui": True,
                "form_token": form_row.token,
                "resolved_default_values": form["resolved_default_values"],
                "expiration_time": expiration,
            },
        )
        paused: dict[str, Any] = {
            "workflow_run_id": ctx.run_id,
            "paused_nodes": [node.id],
            "outputs": {},
            "reasons": [{"type": "human_input_required", "form_id": form_row.id, "node_id": node.id}],
            "status": "paused",
            "created_at": to_unix(ctx.created_at),
            "elapsed_time": round(time.monotonic() - runner.started, 6),
            "total_tokens": runner.total_tokens,
            "total_steps": runner.index,
        }
        event = live.wrap("workflow_paused", paused)
        live.disarm()
        row = pauses.new_row(ctx.run_id, form_row.id, node.id, _pause_state(live, runner, node))
        await _save(live, runner, status="paused", extra=[event], pause=row)
        live.paused = True
        live.publish(event)
        if not live.result.done():
            live.result.set_result(result_data(live, runner, "paused", None, {}))
        try:
            outcome = await human_input.wait_for_submission(
                form_row.id, form_row.expires_at, live.handle.stop_event
            )
        finally:
            live.paused = False
        if outcome is None and live.handle.stop_reason == STOP_REASON_SHUTDOWN:
            await pauses.release(ctx.run_id)  # the run stays paused; any worker resumes it
            _detach(live)
        mine = pauses.Pause(ctx.run_id, form_row.id, node.id, {}, None, None, None, None)
        claimed = await pauses.claim(
            mine, task_id=ctx.task_id, app_id=ctx.app_id, message_id=ctx.message_id, as_waiter=True
        )
        if not claimed:  # another worker took the run over (it thought this one dead)
            _detach(live)
        live.arm()
        if outcome is None:  # stopped while waiting: the run leaves the pause to end as stopped
            await human_input.expire(form_row.id)
            live.emit("workflow_started", started_data(ctx, "resumption"))
            raise RunStopped()
        return _resumed(live, node, form, outcome)


def _detach(live: LiveRun) -> None:
    """The run leaves this process (see `RunDetached`): nothing more is published from here."""
    live.detached = True
    raise RunDetached()


def _pause_state(live: LiveRun, runner: WorkflowRunner, node: Node) -> dict[str, Any]:
    """The stored pause: the engine's snapshot (None where it cannot be restored) and the run."""
    execution = next(
        (
            e.get("data")
            for e in reversed(live.log.events)
            if e.get("event") == "node_started" and (e.get("data") or {}).get("node_id") == node.id
        ),
        None,
    )
    restorable = snapshot.resumable(node) and isinstance(execution, dict)
    return {
        "engine": snapshot.take(runner, execution) if restorable else None,
        "run": live.ctx.stored(),
        "budget": live.budget,
    }


def _resumed(
    live: LiveRun, node: Node, form: dict[str, Any], outcome: dict[str, Any] | None
) -> dict[str, Any]:
    """The events of a run leaving its pause with the form's outcome (which the node gets)."""
    live.emit("workflow_started", started_data(live.ctx, "resumption"))
    if outcome is None:
        raise RunStopped()
    if outcome.get("timed_out"):
        expiration = next(
            (
                e["data"].get("expiration_time")
                for e in reversed(live.log.events)
                if e.get("event") == "human_input_required" and e["data"].get("node_id") == node.id
            ),
            None,
        )
        live.emit(
            "human_input_form_timeout",
            {"node_id": node.id, "node_title": node.title, "expiration_time": expiration},
        )
    else:
        action = str(outcome.get("action") or "")
        titles = {a["id"]: a["title"] for a in form["user_actions"]}
        live.emit(
            "human_input_form_filled",
            {
                "node_id": node.id,
                "node_title": node.title,
                "rendered_content": human_input.render(form["form_content"], outcome.get("inputs") or {}),
                "action_id": action,
                "action_text": titles.get(action, action),
                "submitted_data": dict(outcome.get("inputs") or {}),
            },
        )
    return outcome


async def _save(
    live: LiveRun, runner: WorkflowRunner, *, status: str, outcome: RunOutcome | None = None,
    finished_at: datetime | None = None, extra: list[dict[str, Any]] | None = None,
    pause: WorkflowPause | None = None,
) -> None:  # fmt: skip
    """Write the run row (and, at the end, its node executions). At a pause, the pause row goes
    in with it and the run's lease goes: a paused run is not running."""
    async with runtime.current().database.transaction() as session:
        row = await session.get(WorkflowRun, live.ctx.run_id)
        if row is None:
            return
        if pause is not None:
            await leases.drop_in(session, live.ctx.task_id)
            session.add(pause)
        row.status = status
        row.event_log = [*live.log.events, *(extra or [])]
        row.total_tokens = runner.total_tokens
        row.total_steps = runner.index
        row.exceptions_count = runner.exceptions_count
        row.elapsed_time = time.monotonic() - runner.started
        if outcome is not None:
            await leases.drop_in(session, live.ctx.task_id)
            row.outputs = outcome.outputs
            row.error = outcome.error
            row.elapsed_time = outcome.elapsed_time
            row.finished_at = finished_at
            for data in runner.executions:
                session.add(
                    WorkflowNodeExecution(
                        id=data["id"],
                        workflow_run_id=live.ctx.run_id,
                        node_id=data["node_id"],
                        node_type=data["node_type"],
                        title=data["title"],
                        index=data["index"],
                        predecessor_node_id=data.get("predecessor_node_id"),
                        iteration_id=data.get("iteration_id"),
                        loop_id=data.get("loop_id"),
                        inputs=data.get("inputs"),
                        process_data=data.get("process_data"),
                        outputs=data.get("outputs"),
                        status=data["status"],
                        error=data.get("error"),
                        elapsed_time=float(data.get("elapsed_time") or 0.0),
                        execution_metadata=data.get("execution_metadata"),
                        finished_at=finished_at,
                    )
                )


def build_pool(graph: Graph, inputs: dict[str, Any], system: dict[str, Any], environment: Any,
               conversation: dict[str, Any] | None = None) -> VariablePool:  # fmt: skip
    pool = VariablePool()
    pool.values["sys"] = dict(system)
    env: dict[str, Any] = {}
    for item in environment or []:
        if isinstance(item, Mapping) and item.get("name"):
            env[str(item["name"])] = item.get("value")
    pool.values["env"] = env
    pool.values["conversation"] = dict(conversation or {})
    start = next((n for n in graph.nodes.values() if n.type == "start" and n.parent_id is None), None)
    if start is not None:  # without one the run fails with the graph's own error
        pool.values[start.id] = dict(inputs)
    return pool


async def start_run(ctx: RunContext, graph: Graph, pool: VariablePool) -> LiveRun:
    """Start the engine in the background; the first event (`workflow_started`) is already logged."""
    handle = await registry().register(ctx.task_id, ctx.end_user_id, ctx.app_id)
    live = LiveRun(ctx=ctx, handle=handle, budget=max_execution_time(), backend=registry().backend)
    live.arm()
    LIVE_RUNS[ctx.run_id] = live
    live.emit("workflow_started", started_data(ctx, "initial"))
    runner = WorkflowRunner(graph, pool, live.emit, Hooks(live), handle.stop_event, mode=ctx.mode)
    _launch(live, runner)
    log.info(
        "workflow run started run=%s task=%s app=%s mode=%s", ctx.run_id, ctx.task_id, ctx.app_id, ctx.mode
    )
    return live


async def resume_run(
    ctx: RunContext, graph: Graph, state: dict[str, Any], events: list[dict[str, Any]], resumption: Resumption
) -> LiveRun:
    """Go on with a run paused in another process (or an earlier life of this one), from the state
    stored at its pause; `events` is its log up to the pause. The caller claimed the pause."""
    handle = await registry().register(ctx.task_id, ctx.end_user_id, ctx.app_id)
    budget = float(state.get("budget") or 0.0)
    live = LiveRun(ctx=ctx, handle=handle, budget=budget, backend=registry().backend, resumption=resumption)
    live.log = EventLog(events)
    if live.backend.shared and not await live.backend.has_log(ctx.run_id):
        for event in events:  # the shared log expired meanwhile: followers elsewhere get it all
            live.backend.append(ctx.run_id, event)
    live.arm()
    LIVE_RUNS[ctx.run_id] = live
    engine = dict(state.get("engine") or {})
    pool = VariablePool({str(k): dict(v) for k, v in dict(engine.get("pool") or {}).items()})
    runner = WorkflowRunner(graph, pool, live.emit, Hooks(live), handle.stop_event, mode=ctx.mode)
    snapshot.restore(runner, engine)
    _launch(live, runner)
    log.info("workflow run resumed run=%s task=%s app=%s", ctx.run_id, ctx.task_id, ctx.app_id)
    return live


def _launch(live: LiveRun, runner: WorkflowRunner) -> None:
    live.runner = runner
    if live.chat:
        live.checkpoint = AnswerCheckpoint(live.ctx.message_id, runner.answer_parts)
    live.handle.runner = asyncio.create_task(_drive(live, runner))


async def _drive(live: LiveRun, runner: WorkflowRunner) -> None:
    ctx = live.ctx
    try:
        try:
            outcome = await runner.run()
            if live.detached:
                return
            if outcome.status == "stopped" and live.handle.stop_reason == TIMEOUT:
                outcome.error = f"The run exceeded the maximum execution time ({max_execution_time():g} s)."
        except RunDetached:
            log.info("workflow run %s left this worker while paused", ctx.run_id)
            return
        except Exception as exc:  # an engine bug must still end the run cleanly
            if live.detached:
                return
            log.exception("workflow run %s crashed", ctx.run_id)
            outcome = RunOutcome(
                status="failed",
                outputs={},
                error=f"Internal error: {type(exc).__name__}",
                total_tokens=runner.total_tokens,
                total_steps=runner.index,
                exceptions_count=runner.exceptions_count,
                answer="",
                elapsed_time=time.monotonic() - runner.started,
            )
        if live.checkpoint is not None:
            await live.checkpoint.close()
        finished_at = utcnow()
        data = result_data(
            live, runner, outcome.status, outcome.error, outcome.outputs, finished_at, outcome.elapsed_time
        )
        final = [live.wrap("workflow_finished", data)]
        if ctx.finish_chat is not None:
            try:
                final.extend(await ctx.finish_chat(live, outcome))
            except Exception:
                log.exception("could not finish the chat message of run %s", ctx.run_id)
        try:
            await _save(
                live, runner, status=outcome.status, outcome=outcome, finished_at=finished_at, extra=final
            )
        except Exception:
            log.exception("could not persist workflow run %s", ctx.run_id)
        for event in final:
            live.publish(event)
        live.log.end()
        if not live.result.done():
            live.result.set_result(final[0]["data"])  # `data` with its file URLs signed now
        log.info("workflow run %s %s steps=%d tokens=%d", ctx.run_id, outcome.status, outcome.total_steps,
                 outcome.total_tokens)  # fmt: skip
    finally:
        live.disarm()
        live.log.end()
        if not live.result.done():
            live.result.set_exception(RuntimeError("the run ended without a result"))
        if live.checkpoint is not None and live.detached:
            await live.checkpoint.close()
        if not live.detached:  # a detached run's shared log goes on from the worker resuming it
            live.backend.end_log(ctx.run_id)
        registry().unregister(ctx.task_id)
        if LIVE_RUNS.get(ctx.run_id) is live:
            LIVE_RUNS.pop(ctx.run_id, None)


async def wait_result(live: LiveRun) -> dict[str, Any]:
    """The blocking reply's `data`: after the run ends (or pauses). A disconnect does not cancel the run."""
    return await asyncio.shield(live.result)


async def stop_task(ctx: AppScope, user: str, task_id: str) -> bool:
    """Workflow stop: only a run of this app started by this end user, on whichever worker runs
    it (Dify checks neither; see DEVIATIONS.md). Anything else is ignored; True when accepted."""
    end_user = await end_user_for(ctx, user)
    return await registry().stop(task_id, end_user.id, ctx.app_id)


async def shared_log(run_id: str) -> bool:
    """Whether another worker publishes this run's events to the shared log."""
    backend = registry().backend
    return backend.shared and await backend.has_log(run_id)


async def follow_shared(run_id: str, mode: str, *, stop_at_pause: bool) -> AsyncIterator[dict[str, Any]]:
    """`LiveRun.follow(replay=True)` for a run live on another worker, read from the shared log:
    a pause ends the stream only when it is the run's latest event."""
    terminal = CHAT_TERMINAL if mode == "advanced-chat" else WORKFLOW_TERMINAL
    async for item in registry().backend.follow(run_id):
        yield item.event
        name = item.event.get("event")
        if name == "workflow_paused":
            if stop_at_pause and not item.more:
                return
            continue
        if name in terminal:
            return
