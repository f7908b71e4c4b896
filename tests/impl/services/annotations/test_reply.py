"""Annotation reply jobs and matching, in-process on a migrated SQLite database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.runtime_db import migrated_runtime

from impl import runtime
from impl.db.chat_extras_models import Annotation
from impl.errors import ApiError
from impl.services.annotations import reply
from impl.services.annotations import store as annotation_store
from impl.services.apps import store
from impl.services.apps.store import AppContext

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "apps"
SETTINGS = {"score_threshold": 0.75, "embedding_provider_name": "local", "embedding_model_name": "tfidf"}


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[AppContext]:
    async with migrated_runtime(tmp_path) as db:
        app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
        yield await store.load_context(db, app.id)


async def _finish(ctx: AppContext, action: str) -> dict[str, object]:
    job = await reply.start_job(ctx, action, SETTINGS)
    assert job["job_status"] == "waiting"
    await reply.wait_for_jobs()
    return await reply.job_status(ctx, action, str(job["job_id"]))


async def test_enable_match_record_disable(ctx: AppContext) -> None:
    note = await annotation_store.create(
        ctx, {"question": "Where is the ferry terminal?", "answer": "Cais do Sodré"}
    )
    assert await reply.match(ctx, "where is the ferry terminal") is None  # off
    done = await _finish(ctx, "enable")
    assert done["job_status"] == "completed" and done["error_msg"] == ""
    settings = await reply.reply_settings(ctx)
    assert settings.enabled and settings.score_threshold == 0.75 and settings.embedding_model_name == "tfidf"
    hit = await reply.match(ctx, "where is the ferry terminal")
    assert hit is not None and hit.annotation_id == note["id"] and hit.answer == "Cais do Sodré"
    assert await reply.match(ctx, "what is the weather like") is None

    db = runtime.current().database
    async with db.session() as session:
        before = (await session.get(Annotation, note["id"])).updated_at  # type: ignore[union-attr]
    await reply.record_hit(ctx, hit, None, "where is the ferry terminal")
    async with db.session() as session:
        row = await session.get(Annotation, note["id"])
        assert row is not None and row.hit_count == 1 and row.updated_at == before

    # Edits are seen without re-enabling (the index is rebuilt when annotations change).
    await annotation_store.update(
        ctx, str(note["id"]), {"question": "Which tram goes to Belém?", "answer": "15E"}
    )
    changed = await reply.match(ctx, "which tram goes to belem")
    assert changed is not None and changed.answer == "15E"

    assert (await _finish(ctx, "disable"))["job_status"] == "completed"
    assert await reply.match(ctx, "which tram goes to belem") is None


async def test_failed_job_reports_error(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(_app_id: str) -> None:
        raise RuntimeError("index store unavailable")

    monkeypatch.setattr(reply, "_index", broken)
    done = await _finish(ctx, "enable")
    assert done["job_status"] == "error" and done["error_msg"] == "RuntimeError: index store unavailable"


async def test_jobs_of_one_app_apply_in_the_order_they_were_requested(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_status = reply._set_status
    slowed: list[str] = []

    async def first_job_slow(job_id: str, status: str, error: str = "") -> None:
        if not slowed:  # the first job's first write takes longer than the whole second job
            slowed.append(job_id)
            await asyncio.sleep(0.3)
        await set_status(job_id, status, error)

    monkeypatch.setattr(reply, "_set_status", first_job_slow)
    for first, last in (("enable", "disable"), ("disable", "enable")):
        slowed.clear()
        await reply.start_job(ctx, first, SETTINGS)
        await reply.start_job(ctx, last, SETTINGS)
        await reply.wait_for_jobs()
        reply._settings_cache.clear()
        assert (await reply.reply_settings(ctx)).enabled is (last == "enable"), (first, last)


async def test_job_validation(ctx: AppContext) -> None:
    for body in (
        {**SETTINGS, "score_threshold": -0.1},
        {**SETTINGS, "score_threshold": True},
        [],
        {"score_threshold": 1},
    ):
        with pytest.raises(ApiError) as err:
            await reply.start_job(ctx, "enable", body)
        assert err.value.code == "invalid_param"
    with pytest.raises(ApiError, match="The job does not exist."):
        await reply.job_status(ctx, "enable", "00000000-0000-0000-0000-000000000000")


async def test_concurrent_chats_right_after_a_change_build_the_index_once(ctx: AppContext) -> None:
    for i in range(30):
        note = {"question": f"How late does line {i} run?", "answer": f"Until {i}"}
        await annotation_store.create(ctx, note)
    assert (await _finish(ctx, "enable"))["job_status"] == "completed"
    before = reply.index_builds
    hits = await asyncio.gather(*(reply.match(ctx, "how late does line 7 run") for _ in range(50)))
    assert reply.index_builds == before  # unchanged annotations: the job's index serves
    assert all(h is not None and h.answer == "Until 7" for h in hits)

    await annotation_store.create(ctx, {"question": "Is the night bus free?", "answer": "No"})
    hits = await asyncio.gather(*(reply.match(ctx, "is the night bus free") for _ in range(50)))
    assert reply.index_builds == before + 1
    assert all(h is not None and h.answer == "No" for h in hits)


async def test_a_long_annotation_is_indexed_by_its_start_and_answered_whole(ctx: AppContext) -> None:
    question = "Which platform serves the airport express? " + "filler words " * 50_000
    answer = "Platform 4. " + "details " * 100_000
    await annotation_store.create(ctx, {"question": question, "answer": answer})
    assert (await _finish(ctx, "enable"))["job_status"] == "completed"
    hit = await reply.match(ctx, question)
    assert hit is not None and hit.score == 1.0 and hit.answer == answer and hit.question == question
    index = reply._indexes[ctx.app_id][1]
    # The 650 kB question contributes only the features of its first MAX_INDEXED_CHARS characters.
    entries = sum(len(ids) for ids, _weights in index._postings.values())
    assert entries < reply.MAX_INDEXED_CHARS * 2


async def test_settings_read_once_per_burst(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Turns arriving together after the cached settings expired share one query, and a change a job
    stores while that query runs is what the next turn sees."""
    await _finish(ctx, "enable")
    reply._settings_cache.clear()
    database = runtime.current().database
    opened = 0
    real_session = database.session

    def counting_session() -> object:
        nonlocal opened
        opened += 1
        return real_session()

    monkeypatch.setattr(database, "session", counting_session)
    burst = await asyncio.gather(*(reply.reply_settings(ctx) for _ in range(50)))
    assert opened == 1
    assert all(settings.enabled for settings in burst)

    reply._settings_cache.clear()
    queried, gate = asyncio.Event(), asyncio.Event()

    @contextlib.asynccontextmanager
    async def held_session() -> AsyncIterator[object]:
        monkeypatch.setattr(database, "session", real_session)  # only this read is held
        async with real_session() as session:
            yield session
        queried.set()
        await gate.wait()  # its answer arrives late, after a job changed the settings

    monkeypatch.setattr(database, "session", held_session)
    reading = asyncio.ensure_future(reply.reply_settings(ctx))
    await queried.wait()
    await _finish(ctx, "disable")
    gate.set()
    assert (await reading).enabled  # read before the change
    assert (await reply.reply_settings(ctx)).enabled is False  # not cached over the change
