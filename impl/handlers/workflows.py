"""Workflow runs: run (blocking / streaming), run by version, detail, logs, stop, resume stream."""

from __future__ import annotations

from typing import Any

from connexion.context import request
from starlette.responses import Response

from impl import sse
from impl.handlers._common import app_context, body_user, json_response, query_user
from impl.handlers.conversations import query_int, query_str
from impl.routing import operation
from impl.services.turns.generation import ping_interval
from impl.services.workflows import app_runs, graph_run, resume


async def _run(body: dict[str, Any], token_info: dict[str, Any], workflow_id: str | None) -> Any:
    ctx = app_context(token_info)
    user = body_user(body, required=True) or ""
    live = await app_runs.start(ctx, user, body, workflow_id)
    if body.get("response_mode") == "streaming":
        return sse.streaming_response(live.follow(0), ping_interval())
    data = await graph_run.wait_result(live)
    return json_response(app_runs.blocking_body(live, data))


@operation("executeWorkflow")
async def execute_workflow(body: dict[str, Any], token_info: dict[str, Any]) -> Any:
    return await _run(body, token_info, None)


@operation("runWorkflowById")
async def run_workflow_by_id(workflow_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Any:
    return await _run(body, token_info, workflow_id)


@operation("getWorkflowRunDetail")
async def get_workflow_run_detail(workflow_run_id: str, token_info: dict[str, Any]) -> Response:
    return json_response(await app_runs.run_detail(app_context(token_info), workflow_run_id))


@operation("getWorkflowLogs")
async def get_workflow_logs(token_info: dict[str, Any]) -> Response:
    page = await app_runs.logs(
        app_context(token_info),
        keyword=query_str("keyword"),
        status=query_str("status"),
        page=query_int("page", 1),
        limit=query_int("limit", 20),
        before=query_str("created_at__before"),
        after=query_str("created_at__after"),
        session_id=query_str("created_by_end_user_session_id"),
        account=query_str("created_by_account"),
    )
    return json_response(page)


@operation("stopWorkflowTaskGeneration")
async def stop_workflow_task(task_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Response:
    ctx = app_context(token_info)
    user = body_user(body, required=True) or ""
    await resume.stop_task(ctx, user, task_id)
    return json_response({"result": "success"})


def _flag(name: str) -> bool:
    return (request.query_params.get(name) or "").strip().lower() == "true"


@operation("streamWorkflowEvents")
async def stream_workflow_events(workflow_run_id: str, token_info: dict[str, Any]) -> Any:
    ctx = app_context(token_info)
    user = query_user(required=True) or ""
    events = await app_runs.replay(ctx, user, workflow_run_id, continue_on_pause=_flag("continue_on_pause"))
    response = sse.streaming_response(events, ping_interval())
    response.headers["Connection"] = "keep-alive"
    return response
