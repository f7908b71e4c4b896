"""Annotation reply: the enable/disable jobs, the per-app settings and the query matcher.

Switching annotation reply on or off runs as a background job (`waiting` → `processing` →
`completed` or `error`), as in Dify, because enabling indexes every annotation of the app.
The job's row is its status for every worker; the worker running it holds a run lease
(`impl.services.runs.leases`) until it ends, so a job whose worker died ends `error` with a
message saying so instead of staying `processing`.
The index is the lexical TF-IDF model of `impl.services.annotations.similarity` (why lexical:
see there);
the embedding provider and model named in the request are recorded and reported, and do not
change how similarity is computed on this server.

Whether an app answers from annotations: its settings row when one exists (written by the jobs),
otherwise the DSL feature `annotation_reply: {enabled, score_threshold}`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update

from impl import runtime
from impl.db.chat_extras_models import Annotation, AnnotationHit, AnnotationJob, AnnotationSetting
from impl.db.models import utcnow
from impl.errors import invalid_param
from impl.services.annotations.similarity import MAX_INDEXED_CHARS, Index
from impl.services.apps.scope import AppScope
from impl.services.apps.store import shared_context
from impl.services.runs import leases
from impl.tasks.single_flight import SingleFlight

log = logging.getLogger("impl.annotation_reply")

ACTIONS = ("enable", "disable")
JOB_MISSING = "The job does not exist."
DEFAULT_THRESHOLD = 0.9
# Who wrote an annotation, as reported in `metadata.annotation_reply.account` (no console here).
ACCOUNT = {"id": "00000000-0000-0000-0000-000000000000", "name": "Service API"}

_jobs: set[asyncio.Task[None]] = set()
# Per app: the jobs of one app apply one at a time, in the order they were requested (asyncio's
# lock wakes its waiters first come, first served, and each job task asks for it first), so an
# enable followed at once by a disable always ends disabled.
_job_locks: dict[str, asyncio.Lock] = {}
# Per app: (fingerprint of its annotations, the index).  One lock per app makes the requests that
# find the index stale right after a change wait for a single rebuild instead of each building
# their own.  The index holds the start of each question only (see similarity.MAX_INDEXED_CHARS);
# a hit's question and answer are read from the database.
_indexes: dict[str, tuple[tuple[Any, ...], Index]] = {}
_index_locks: dict[str, asyncio.Lock] = {}
# How many times an index was built (tests check that concurrent requests build it once).
index_builds = 0


@dataclass(frozen=True)
class ReplySettings:
    enabled: bool
    score_threshold: float
    embedding_provider_name: str = ""
    embedding_model_name: str = ""


@dataclass(frozen=True)
class Hit:
    annotation_id: str
    question: str
    answer: str
    score: float

    def metadata(self) -> dict[str, Any]:
        return {"id": self.annotation_id, "account": dict(ACCOUNT)}


def _threshold(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or math.isnan(float(raw)):
        raise invalid_param("score_threshold must be a number between 0 and 1")
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise invalid_param("score_threshold must be a number between 0 and 1")
    return value


def _name(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise invalid_param(f"{key} is required and must be a string")
    return value


# --- jobs -------------------------------------------------------------------------------------


async def start_job(ctx: AppScope, action: str, body: Any) -> dict[str, Any]:
    """Queue an enable/disable job and return `{job_id, job_status}`."""
    if action not in ACTIONS:
        raise invalid_param("action must be enable or disable")
    if not isinstance(body, dict):
        raise invalid_param("The request body must be a JSON object")
    settings = {
        "score_threshold": _threshold(body.get("score_threshold")),
        "embedding_provider_name": _name(body, "embedding_provider_name"),
        "embedding_model_name": _name(body, "embedding_model_name"),
    }
    async with runtime.current().database.transaction() as session:
        job = AnnotationJob(app_id=ctx.app_id, action=action, status="waiting", settings=settings)
        session.add(job)
        await session.flush()
        job_id = job.id
        session.add(leases.new_lease(job_id, ctx.app_id, annotation_job_id=job_id))
    task = asyncio.create_task(_run_job(job_id, ctx.app_id, action, settings))
    _jobs.add(task)
    task.add_done_callback(_jobs.discard)
    return {"job_id": job_id, "job_status": "waiting"}


async def _set_status(job_id: str, status: str, error: str = "") -> None:
    """Write the job's status; its end (`completed`, `error`) drops its lease in the same write."""
    async with runtime.current().database.transaction() as session:
        job = await session.get(AnnotationJob, job_id)
        if job is not None and job.status in ("waiting", "processing"):
            job.status = status
            job.error_msg = error
        if status in ("completed", "error"):
            await leases.drop_in(session, job_id)


async def _run_job(job_id: str, app_id: str, action: str, settings: dict[str, Any]) -> None:
    async with _job_locks.setdefault(app_id, asyncio.Lock()):
        await _apply_job(job_id, app_id, action, settings)


async def _apply_job(job_id: str, app_id: str, action: str, settings: dict[str, Any]) -> None:
    try:
        await _set_status(job_id, "processing")
        async with runtime.current().database.transaction() as session:
            row = await session.get(AnnotationSetting, app_id)
            if row is None:
                row = AnnotationSetting(app_id=app_id)
                session.add(row)
            row.enabled = action == "enable"
            row.score_threshold = float(settings["score_threshold"])
            row.embedding_provider_name = str(settings["embedding_provider_name"])
            row.embedding_model_name = str(settings["embedding_model_name"])
            row.updated_at = utcnow()
        _forget_settings(app_id)
        if action == "enable":
            await _index(app_id)
        else:
            _indexes.pop(app_id, None)
        await _set_status(job_id, "completed")
        log.info("annotation reply %s job %s completed for app %s", action, job_id, app_id)
    except Exception as exc:  # the job records the failure; the server keeps running
        log.exception("annotation reply job %s failed", job_id)
        try:
            await _set_status(job_id, "error", f"{exc.__class__.__name__}: {exc}")
        except Exception:
            log.exception("could not record the failure of job %s", job_id)


async def job_status(ctx: AppScope, action: str, job_id: str) -> dict[str, Any]:
    try:
        key = str(uuid.UUID(job_id))
    except (ValueError, TypeError, AttributeError):
        raise invalid_param(JOB_MISSING) from None
    async with runtime.current().database.session() as session:
        job = await session.get(AnnotationJob, key)
        if job is None or job.app_id != ctx.app_id or job.action != action:
            raise invalid_param(JOB_MISSING)
        return {"job_id": job.id, "job_status": job.status, "error_msg": job.error_msg or ""}


async def wait_for_jobs() -> None:
    """Wait for the running jobs (tests and shutdown)."""
    if _jobs:
        await asyncio.gather(*list(_jobs), return_exceptions=True)


# --- settings and matching --------------------------------------------------------------------


def _dsl_settings(ctx: AppScope) -> ReplySettings:
    feature = (ctx.features or {}).get("annotation_reply") or (ctx.model_config or {}).get("annotation_reply")
    if not isinstance(feature, dict) or not feature.get("enabled"):
        return ReplySettings(False, DEFAULT_THRESHOLD)
    raw = feature.get("score_threshold", DEFAULT_THRESHOLD)
    number = isinstance(raw, int | float) and not isinstance(raw, bool)
    threshold = float(raw) if number else DEFAULT_THRESHOLD
    raw_model = feature.get("embedding_model")
    model: dict[str, Any] = raw_model if isinstance(raw_model, dict) else {}
    return ReplySettings(
        True,
        min(max(threshold, 0.0), 1.0),
        str(model.get("embedding_provider_name") or ""),
        str(model.get("embedding_model_name") or ""),
    )


# The settings row's columns (a plain column select built once: no ORM entity per request).
_SETTINGS = select(
    AnnotationSetting.enabled,
    AnnotationSetting.score_threshold,
    AnnotationSetting.embedding_provider_name,
    AnnotationSetting.embedding_model_name,
).where(AnnotationSetting.app_id == bindparam("app_id"))


# The stored settings by app, reused for `KEY_CACHE_SECONDS` (at most 1 s, like a resolved key):
# a job's change applies at once in the worker that ran it and within that bound in the others.
_settings_cache: dict[str, tuple[float, ReplySettings | None]] = {}
# One read per app at a time: when the cached entry expires under a burst of turns, the others wait
# for that read instead of each sending the same query.
_settings_reads: SingleFlight[str, ReplySettings | None] = SingleFlight()
# Bumped by every change a job stores, so a read begun before a change is not cached after it.
_settings_generation = [0]


def _forget_settings(app_id: str) -> None:
    _settings_generation[0] += 1
    _settings_cache.pop(app_id, None)
    _settings_reads.forget(app_id)


async def _settings_row(app_id: str) -> ReplySettings | None:
    """The settings the jobs stored for the app, or None when no job ran yet."""
    state = runtime.current()
    ttl = state.settings.key_cache_seconds
    cached = _settings_cache.get(app_id)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]

    async def read() -> ReplySettings | None:
        generation = _settings_generation[0]
        async with state.database.session() as session:
            row = (await session.execute(_SETTINGS, {"app_id": app_id})).first()
        found = None if row is None else ReplySettings(*row)
        if ttl > 0 and generation == _settings_generation[0]:
            if len(_settings_cache) > 10_000:
                _settings_cache.clear()
            _settings_cache[app_id] = (time.monotonic() + ttl, found)
        return found

    return await _settings_reads.run(app_id, read) if ttl > 0 else await read()


async def reply_settings(ctx: AppScope) -> ReplySettings:
    stored = await _settings_row(ctx.app_id)
    return _dsl_settings(shared_context(ctx)) if stored is None else stored  # reads only


async def feature_block(ctx: AppScope, declared: Any) -> Any:
    """`/parameters`' `annotation_reply`: the state the jobs set, once one ran; else the DSL's."""
    stored = await _settings_row(ctx.app_id)
    if stored is None:
        return declared
    return {"enabled": stored.enabled}


async def _fingerprint(app_id: str) -> tuple[Any, ...]:
    async with runtime.current().database.session() as session:
        stamp = (
            await session.execute(
                select(func.count(), func.max(Annotation.updated_at), func.max(Annotation.created_at)).where(
                    Annotation.app_id == app_id
                )
            )
        ).one()
    return tuple(v.isoformat() if isinstance(v, datetime) else v for v in stamp)


async def _index(app_id: str) -> Index:
    """The app's annotation index, rebuilt once after its annotations changed."""
    global index_builds
    fingerprint = await _fingerprint(app_id)
    cached = _indexes.get(app_id)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    lock = _index_locks.setdefault(app_id, asyncio.Lock())
    async with lock:
        # Another request may have rebuilt it while this one waited.
        fingerprint = await _fingerprint(app_id)
        cached = _indexes.get(app_id)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        _indexes.pop(app_id, None)  # the stale index is garbage before the new one is built
        async with runtime.current().database.session() as session:
            rows = (
                await session.execute(
                    select(Annotation.id, func.substr(Annotation.question, 1, MAX_INDEXED_CHARS)).where(
                        Annotation.app_id == app_id
                    )
                )
            ).all()
        index = await asyncio.to_thread(Index.build, [(r[0], r[1] or "") for r in rows])
        del rows
        index_builds += 1
        _indexes[app_id] = (fingerprint, index)
        return index


async def match(ctx: AppScope, query: str) -> Hit | None:
    """The annotation answering `query`, when annotation reply is on and one is similar enough."""
    settings = await reply_settings(ctx)
    if not settings.enabled or not query.strip():
        return None
    index = await _index(ctx.app_id)
    best = await asyncio.to_thread(index.best, query) if len(index.ids) > 1000 else index.best(query)
    if best is None:
        return None
    annotation_id, score = best
    if score < settings.score_threshold:
        return None
    async with runtime.current().database.session() as session:
        found = (
            await session.execute(
                select(Annotation.question, Annotation.answer).where(
                    Annotation.id == annotation_id, Annotation.app_id == ctx.app_id
                )
            )
        ).first()
    if found is None:  # deleted since the index was built
        return None
    return Hit(annotation_id, found[0], found[1], round(score, 6))


async def record_hit(ctx: AppScope, hit: Hit, message_id: str | None, query: str) -> None:
    async with runtime.current().database.transaction() as session:
        await session.execute(
            update(Annotation)
            .where(Annotation.id == hit.annotation_id)
            .values(hit_count=Annotation.hit_count + 1, updated_at=Annotation.updated_at)
            .execution_options(synchronize_session=False)
        )
        session.add(
            AnnotationHit(
                annotation_id=hit.annotation_id,
                app_id=ctx.app_id,
                message_id=message_id,
                question=query,
                score=hit.score,
            )
        )
