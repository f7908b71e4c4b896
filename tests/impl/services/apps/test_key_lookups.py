"""A burst of requests with one key whose cache entry expired makes one lookup, not one each;
the waiters get the same answer (a context of their own, an unknown key's None, a refusal)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from impl.db import migrate
from impl.db.engine import Database
from impl.db.models import App
from impl.errors import ApiError
from impl.services.apps import keys, store

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "apps"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dify.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(url)
    store.forget_resolved_keys()
    try:
        yield database
    finally:
        store.forget_resolved_keys()
        await database.dispose()


def _count_key_queries(db: Database) -> list[str]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_keys" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    return seen


async def test_concurrent_misses_share_one_lookup(db: Database) -> None:
    app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    token, _info = await keys.create_key(db, app.id)
    seen = _count_key_queries(db)
    contexts = await asyncio.gather(*(store.context_for_token(db, token, 1.0) for _ in range(30)))
    assert all(c is not None and c.app_id == app.id for c in contexts)
    assert len(seen) == 1
    assert len({id(c) for c in contexts}) == 30  # each request has its own copy
    assert len({id(c.features) for c in contexts if c is not None}) == 30


async def test_waiters_share_a_refusal_and_an_unknown_key(db: Database) -> None:
    app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    token, _info = await keys.create_key(db, app.id)
    async with db.transaction() as session:
        await session.execute(update(App).where(App.id == app.id).values(enable_api=False))
    seen = _count_key_queries(db)
    results = await asyncio.gather(
        *(store.context_for_token(db, token, 1.0) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, ApiError) and r.status == 403 for r in results)
    assert len(seen) == 1
    unknown = "app-" + "x" * 24
    assert await asyncio.gather(*(store.context_for_token(db, unknown, 1.0) for _ in range(5))) == [None] * 5


async def test_without_a_cache_every_request_looks_up(db: Database) -> None:
    app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    token, _info = await keys.create_key(db, app.id)
    seen = _count_key_queries(db)
    await asyncio.gather(*(store.context_for_token(db, token, 0.0) for _ in range(5)))
    assert len(seen) == 5


async def test_a_requests_context_copies_a_part_when_it_reads_it(db: Database) -> None:
    """Each request's context reads the cached one: a part it reads is its own copy (changing it
    changes nothing for the next request), a part it never reads is never copied, and
    `shared_context` hands read-only code the cached context itself."""
    app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    token, _info = await keys.create_key(db, app.id)
    first = await store.context_for_token(db, token, 1.0)
    second = await store.context_for_token(db, token, 1.0)
    assert first is not None and second is not None
    template = store.shared_context(first)
    assert template is store.shared_context(second) and template is not first
    assert "features" not in vars(first)  # not read yet: not copied
    assert first.features == template.features and first.features is not template.features
    first.features["opening_statement"] = "changed by one request"
    first.tags.append("mine")
    first.user_input_form.clear()
    assert second.features == template.features != first.features
    assert second.tags == template.tags and "mine" not in template.tags
    assert second.user_input_form == template.user_input_form != []
    assert (second.app_id, second.mode, second.key_id) == (template.app_id, template.mode, template.key_id)
    replaced = dataclasses.replace(second, name="other")
    assert replaced.name == "other" and replaced.features == template.features
    assert {f.name: getattr(second, f.name) for f in dataclasses.fields(second)} == {
        f.name: getattr(template, f.name) for f in dataclasses.fields(template)
    }
    assert store.shared_context(template) is template


async def test_a_value_derived_from_the_cached_context_is_built_once_per_cached_context(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`derived` builds its value from the cached context once and every request of that context
    shares it; the context the next lookup brings (after the cache's time) starts afresh."""
    app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    token, _info = await keys.create_key(db, app.id)
    builds: list[store.AppContext] = []

    def build(ctx: store.AppContext) -> tuple[str, ...]:
        builds.append(ctx)
        return (ctx.app_id, ctx.mode)

    contexts = [await store.context_for_token(db, token, 1.0) for _ in range(3)]
    values = [store.derived(ctx, build) for ctx in contexts if ctx is not None]
    assert values == [(app.id, "chat")] * 3 and all(v is values[0] for v in values)
    assert builds == [store.shared_context(contexts[0])] and "features" not in vars(contexts[0])
    assert "_derived" not in vars(contexts[1])
    now = time.monotonic()
    monkeypatch.setattr(store.time, "monotonic", lambda: now + 2.0)  # the cached entry expired
    renewed = await store.context_for_token(db, token, 1.0)
    assert renewed is not None and store.shared_context(renewed) is not builds[0]
    assert store.derived(renewed, build) == (app.id, "chat") and len(builds) == 2
