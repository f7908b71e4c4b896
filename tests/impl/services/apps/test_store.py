"""App contexts: resolved from a key in one query, versions parsed once, nothing shared between requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from impl.db import migrate
from impl.db.engine import Database
from impl.errors import ApiError
from impl.services.apps import keys, store

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "apps"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dify.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()


async def test_contexts_do_not_share_the_cached_version(db: Database) -> None:
    app, version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    token, info = await keys.create_key(db, app.id)
    first = await store.context_for_token(db, token)
    assert first is not None and first.version_id == version.id and first.key_id == info.id
    first.model_config["model"]["name"] = "changed by a request"
    first.user_input_form.clear()
    second = await store.context_for_token(db, token)
    assert second is not None
    assert second.model_config["model"]["name"] != "changed by a request"
    assert second.user_input_form
    assert second.model_config == version.model_config


async def test_tokens_that_resolve_to_nothing(db: Database) -> None:
    app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    token, info = await keys.create_key(db, app.id)
    assert await store.context_for_token(db, "app-" + "0" * 24) is None
    assert await store.context_for_token(db, token + "x") is None
    await keys.revoke_key(db, info.id)
    assert await store.context_for_token(db, token) is None


async def test_disabled_app_answers_403_after_the_key_check(db: Database) -> None:
    app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    token, _info = await keys.create_key(db, app.id)
    await store.set_api_enabled(db, app.id, False)
    with pytest.raises(ApiError) as raised:
        await store.context_for_token(db, token)
    assert raised.value.status == 403
    assert raised.value.message == "The app's API service has been disabled."
    used = await keys.list_keys(db, app.id)
    assert used[0].last_used_at is not None
