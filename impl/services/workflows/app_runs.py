"""Workflow apps: run (blocking or streaming), run detail, logs; and what chatflow shares with them
(published version lookup, start-node inputs, file inputs)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, func, or_, select

from impl import runtime
from impl.db.models import AppVersion, EndUser, UploadFile, to_unix, utcnow
from impl.db.workflow_models import WorkflowRun
from impl.engine import Graph, GraphError, parse_graph
from impl.errors import ApiError, bad_request, invalid_param, not_found
from impl.services.apps.chat_config import FileUploadConfig, parse_file_upload, parse_input_form
from impl.services.apps.inputs import validate_inputs
from impl.services.apps.scope import end_user_for
from impl.services.apps.store import AppContext
from impl.services.media import signed_urls
from impl.services.media.files import RequestFile, resolve_request_files
from impl.services.runs import leases
from impl.services.workflows import graph_run

RUN_NOT_FOUND = "Workflow run not found."
NOT_PUBLISHED = "Workflow not published"
MAX_CACHED_VERSIONS = 256
RESUME_POLL = 0.2  # seconds between two looks for the resumption of a run paused with no live worker


@dataclass(frozen=True)
class Version:
    """The published workflow a run uses (an AppVersion; immutable, so it is cached)."""

    id: str
    app_id: str
    number: int
    graph: Graph
    features: dict[str, Any]
    user_input_form: list[Any]
    model_config: dict[str, Any]


_VERSIONS: dict[str, Version] = {}


def _graph(raw: Any, mode: str) -> Graph:
    try:
        return parse_graph(raw)
    except GraphError as exc:
        raise ApiError("app_unavailable", f"The workflow cannot run: {exc}", 400) from exc


async def resolve_version(ctx: AppContext, workflow_id: str | None) -> Version:
    """The app's current version, or the version `workflow_id` names (400/404 as Dify answers)."""
    if workflow_id is None:
        if ctx.version_id is None or ctx.workflow_graph is None:
            raise invalid_param(NOT_PUBLISHED)
        wanted = ctx.version_id
    else:
        text = workflow_id.strip()
        if text == "draft":
            raise bad_request("Cannot use draft workflow version. Workflow ID: draft.")
        try:
            wanted = str(uuid.UUID(text))
        except ValueError:
            raise bad_request(f"Invalid workflow_id format: '{workflow_id}'. Expected a UUID.") from None
    cached = _VERSIONS.get(wanted)
    if cached is not None and cached.app_id == ctx.app_id:
        return cached
    async with runtime.current().database.session() as session:
        row = await session.get(AppVersion, wanted)
    if row is None or row.app_id != ctx.app_id or row.workflow_graph is None:
        if workflow_id is None:
            raise invalid_param(NOT_PUBLISHED)
        raise not_found(f"Workflow not found with id: {workflow_id}")
    version = Version(
        id=row.id,
        app_id=row.app_id,
        number=row.version,
        graph=_graph(row.workflow_graph, ctx.mode),
        features=dict(row.features or {}),
        user_input_form=list(row.user_input_form or []),
        model_config=dict(row.model_config or {}),
    )
    if len(_VERSIONS) >= MAX_CACHED_VERSIONS:
        _VERSIONS.clear()
    _VERSIONS[row.id] = version
    return version


# ---- inputs and files -----------------------------------------------------------------------


def file_json(ref: RequestFile) -> dict[str, Any]:
    """The one file shape the engine and the events use. An uploaded file's `url` is its signed
    keyless URL (`GET /files/{file_id}/file-preview`), as Dify gives it (DEVIATIONS D30)."""
    upload: UploadFile | None = ref.upload
    settings = runtime.current().settings
    name = ref.name
    ext = upload.extension if upload is not None else (name.rsplit(".", 1)[-1].lower() if "." in name else "")
    return {
        "id": upload.id if upload is not None else None,
        "related_id": upload.id if upload is not None else None,
        "upload_file_id": upload.id if upload is not None else None,
        "type": ref.type,
        "transfer_method": ref.transfer_method,
        "filename": name,
        "extension": f".{ext}" if ext else None,
        "mime_type": upload.mime_type if upload is not None else None,
        "size": upload.size if upload is not None else -1,
        "url": signed_urls.upload_file_path(settings, upload.id) if upload is not None else ref.url,
        "remote_url": ref.url,
    }


def _file_config(spec: dict[str, Any], limit: int) -> FileUploadConfig:
    types = tuple(
        str(t) for t in spec.get("allowed_file_types") or ("image", "document", "audio", "video", "custom")
    )
    exts = tuple(str(e).lower().lstrip(".") for e in spec.get("allowed_file_extensions") or ())
    methods = tuple(spec.get("allowed_file_upload_methods") or ("local_file", "remote_url"))
    return FileUploadConfig(
        enabled=True,
        allowed_types=types,
        allowed_extensions=exts,
        transfer_methods=methods,
        number_limits=limit,
    )


async def validate_start_inputs(ctx: AppContext, form: list[Any], raw: Any) -> dict[str, Any]:
    """Inputs checked against the start node's variables (Dify's messages); file variables
    become file objects."""
    if not isinstance(raw, dict):
        raise invalid_param("inputs must be an object")
    variables = parse_input_form(form)
    clean = validate_inputs(variables, raw)
    specs: dict[str, dict[str, Any]] = {}
    for item in form:
        if isinstance(item, dict) and len(item) == 1:
            ((_control, spec),) = item.items()
            if isinstance(spec, dict) and spec.get("variable"):
                specs[str(spec["variable"])] = spec
    if not any(v.type in ("file", "file-list") and v.variable in clean for v in variables):
        return clean
    settings = runtime.current().settings
    async with runtime.current().database.session() as session:
        for var in variables:
            if var.type not in ("file", "file-list") or var.variable not in clean:
                continue
            spec = specs.get(var.variable, {})
            value = clean[var.variable]
            if var.type == "file":
                refs = await resolve_request_files(
                    session, _file_config(spec, 1), [value], app_id=ctx.app_id, tenant_id=ctx.tenant_id
                )
                clean[var.variable] = file_json(refs[0])
            else:
                limit = int(spec.get("max_length") or settings.workflow_file_upload_limit)
                if len(value) > limit:
                    raise invalid_param(f"{var.variable} in input form must be less than {limit} files")
                refs = await resolve_request_files(
                    session, _file_config(spec, limit), value, app_id=ctx.app_id, tenant_id=ctx.tenant_id
                )
                clean[var.variable] = [file_json(r) for r in refs]
    return clean


async def system_files(ctx: AppContext, features: dict[str, Any], raw: Any) -> list[RequestFile]:
    """Top-level `files` (→ `sys.files`), checked against the file-upload feature (dropped when off)."""
    if not raw:
        return []
    async with runtime.current().database.session() as session:
        return await resolve_request_files(
            session,
            parse_file_upload(features.get("file_upload")),
            raw,
            app_id=ctx.app_id,
            tenant_id=ctx.tenant_id,
        )


# ---- workflow runs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRun:
    """A run of a published version about to start (workflow apps and chatflow turns alike):
    its fresh ids and start time, its `workflow_runs` row and its run context."""

    ctx: AppContext
    version: Version
    end_user: EndUser
    inputs: dict[str, Any]
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=utcnow)

    def row(self, conversation_id: str | None = None, message_id: str | None = None) -> WorkflowRun:
        """The `workflow_runs` row, status `running` (a chatflow turn names its conversation and message)."""
        return WorkflowRun(
            id=self.run_id,
            app_id=self.ctx.app_id,
            workflow_id=self.version.id,
            version=str(self.version.number),
            mode=self.ctx.mode,
            task_id=self.task_id,
            end_user_id=self.end_user.id,
            conversation_id=conversation_id,
            message_id=message_id,
            status="running",
            inputs=self.inputs,
            created_at=self.created_at,
        )

    def context(self) -> graph_run.RunContext:
        """The run's identity for `graph_run.start_run` (chat turns add their fields with
        `dataclasses.replace`)."""
        return graph_run.RunContext(
            run_id=self.run_id,
            task_id=self.task_id,
            app_id=self.ctx.app_id,
            mode=self.ctx.mode,
            workflow_id=self.version.id,
            end_user_id=self.end_user.id,
            end_user_session=self.end_user.session_id,
            created_at=self.created_at,
            inputs=self.inputs,
        )


async def start(
    ctx: AppContext, user: str, body: dict[str, Any], workflow_id: str | None
) -> graph_run.LiveRun:
    version = await resolve_version(ctx, workflow_id)
    inputs = await validate_start_inputs(ctx, version.user_input_form, body.get("inputs"))
    files = await system_files(ctx, version.features, body.get("files"))
    end_user = await end_user_for(ctx, user)
    run = NewRun(ctx, version, end_user, inputs)
    async with runtime.current().database.transaction() as session:
        session.add(run.row())
        session.add(leases.new_lease(run.task_id, ctx.app_id, workflow_run_id=run.run_id))
    system = {
        "files": [file_json(f) for f in files],
        "user_id": end_user.session_id,
        "app_id": ctx.app_id,
        "workflow_id": version.id,
        "workflow_run_id": run.run_id,
    }
    pool = graph_run.build_pool(
        version.graph, inputs, system, version.model_config.get("environment_variables")
    )
    return await graph_run.start_run(run.context(), version.graph, pool)


def blocking_body(live: graph_run.LiveRun, data: dict[str, Any]) -> dict[str, Any]:
    return {"task_id": live.ctx.task_id, "workflow_run_id": live.ctx.run_id, "data": data}


async def _run_row(ctx: AppContext, run_id: str) -> WorkflowRun:
    try:
        key = str(uuid.UUID(run_id))
    except ValueError:
        raise not_found(RUN_NOT_FOUND) from None
    async with runtime.current().database.session() as session:
        row = await session.get(WorkflowRun, key)
    if row is None or row.app_id != ctx.app_id:
        raise not_found(RUN_NOT_FOUND)
    return row


async def run_detail(ctx: AppContext, run_id: str) -> dict[str, Any]:
    row = await _run_row(ctx, run_id)
    settings = runtime.current().settings  # stored file URLs are signed anew on each read
    return {
        "id": row.id,
        "workflow_id": row.workflow_id,
        "status": row.status,
        "inputs": json.dumps(signed_urls.fresh_urls(settings, row.inputs or {}), ensure_ascii=False),
        "outputs": signed_urls.fresh_urls(settings, dict(row.outputs or {})),
        "error": row.error,
        "total_steps": row.total_steps,
        "total_tokens": row.total_tokens,
        "created_at": to_unix(row.created_at),
        "finished_at": to_unix(row.finished_at),
        "elapsed_time": row.elapsed_time,
    }


def _when(raw: str | None, name: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid_param(f"{name} must be an ISO-8601 date-time, got {raw!r}") from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def logs(
    ctx: AppContext,
    *,
    keyword: str | None,
    status: str | None,
    page: int,
    limit: int,
    before: str | None,
    after: str | None,
    session_id: str | None,
    account: str | None,
) -> dict[str, Any]:
    if not 1 <= page <= 99999:
        raise invalid_param("page must be between 1 and 99999")
    if not 1 <= limit <= 100:
        raise invalid_param("limit must be between 1 and 100")
    if status is not None and status not in (
        "succeeded",
        "failed",
        "stopped",
        "partial-succeeded",
        "running",
        "paused",
    ):
        raise invalid_param("status must be one of succeeded, failed, stopped")
    if account:
        raise invalid_param(f"Account not found: {account}")
    created_before, created_after = _when(before, "created_at__before"), _when(after, "created_at__after")
    query = (
        select(WorkflowRun, EndUser)
        .outerjoin(EndUser, EndUser.id == WorkflowRun.end_user_id)
        .where(WorkflowRun.app_id == ctx.app_id)
    )
    if status:
        query = query.where(WorkflowRun.status == status)
    if created_before is not None:
        query = query.where(WorkflowRun.created_at <= created_before)
    if created_after is not None:
        query = query.where(WorkflowRun.created_at >= created_after)
    if session_id:
        query = query.where(EndUser.session_id == session_id)
    if keyword:
        pattern = _like(keyword[:30].lower())
        clauses: list[ColumnElement[bool]] = [
            func.lower(cast(WorkflowRun.inputs, Text)).like(pattern, escape="\\"),
            func.lower(cast(WorkflowRun.outputs, Text)).like(pattern, escape="\\"),
            func.lower(EndUser.session_id).like(pattern, escape="\\"),
        ]
        # JSON columns store non-ASCII text as \uXXXX escapes: match that spelling too.
        escaped = json.dumps(keyword[:30].lower())[1:-1]
        if escaped != keyword[:30].lower():
            for column in (WorkflowRun.inputs, WorkflowRun.outputs):
                clauses.append(func.lower(cast(column, Text)).like(_like(escaped), escape="\\"))
        with contextlib.suppress(ValueError):
            clauses.append(WorkflowRun.id == str(uuid.UUID(keyword.strip())))
        query = query.where(or_(*clauses))
    async with runtime.current().database.session() as session:
        total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = (
            await session.execute(
                query.order_by(WorkflowRun.created_at.desc(), WorkflowRun.id.desc())
                .offset((page - 1) * limit)
                .limit(limit)
            )
        ).all()
    data = []
    for run, end_user in rows:
        data.append(
            {
                "id": run.id,
                "workflow_run": {
                    "id": run.id,
                    "version": run.version,
                    "status": run.status,
                    "triggered_from": run.triggered_from,
                    "error": run.error,
                    "elapsed_time": run.elapsed_time,
                    "total_tokens": run.total_tokens,
                    "total_steps": run.total_steps,
                    "created_at": to_unix(run.created_at),
                    "finished_at": to_unix(run.finished_at),
                    "exceptions_count": run.exceptions_count,
                },
                "created_from": run.created_from,
                "created_by_role": "end_user",
                "created_by_account": None,
                "created_by_end_user": None
                if end_user is None
                else {
                    "id": end_user.id,
                    "type": end_user.type,
                    "is_anonymous": end_user.is_anonymous,
                    "session_id": end_user.session_id,
                },
                "created_at": to_unix(run.created_at),
            }
        )
    return {"page": page, "limit": limit, "total": total, "has_more": total > page * limit, "data": data}


async def replay(ctx: AppContext, user: str, run_id: str, *, continue_on_pause: bool) -> Any:
    """`GET /workflow/{id}/events`: the run's events so far, then live ones until it ends."""
    row = await _run_row(ctx, run_id)
    end_user = await end_user_for(ctx, user)
    if row.end_user_id != end_user.id:
        raise not_found("Workflow run not found")
    live = graph_run.live_run(row.id)
    if live is not None:
        return live.follow(0, stop_at_pause=not continue_on_pause, replay=True)
    if row.status in ("running", "paused") and await graph_run.shared_log(row.id):
        # live on another worker: its event log is shared (Redis)
        return graph_run.follow_shared(row.id, row.mode, stop_at_pause=not continue_on_pause)
    if row.status in ("running", "paused") and continue_on_pause:
        # nobody runs it here or shares its log: it waits for a worker to resume it (or is being
        # resumed right now, or its dead worker's lease is about to end it)
        return _until_resumed(row.id, row.mode, list(row.event_log or []))
    return _stored(list(row.event_log or []))


async def _until_resumed(run_id: str, mode: str, stored: list[dict[str, Any]]) -> Any:
    """The stored log of a run paused with no live worker, then its events once a worker
    resumes it (this one after a submission, or another one through the shared log)."""
    for event in stored:
        yield event
    seen = len(stored)
    while True:
        live = graph_run.live_run(run_id)
        if live is not None:
            async for event in live.follow(seen, stop_at_pause=False, replay=True):
                yield event
            return
        async with runtime.current().database.session() as session:
            row = await session.get(WorkflowRun, run_id)
        if row is None:
            return
        if row.status == "running" and await graph_run.shared_log(run_id):
            index = 0
            async for event in graph_run.follow_shared(run_id, mode, stop_at_pause=False):
                index += 1
                if index > seen:
                    yield event
            return
        if row.status not in ("running", "paused"):  # ended without passing through here
            for event in list(row.event_log or [])[seen:]:
                yield event
            return
        await asyncio.sleep(RESUME_POLL)


async def _stored(events: list[dict[str, Any]]) -> Any:
    for event in events:
        yield event
