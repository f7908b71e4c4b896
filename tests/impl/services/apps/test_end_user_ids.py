"""A turn's start reads its end user's id from memory once the process saw it: the first call
creates the row (service-api), later calls run no query, another engine has its own memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from impl.db import migrate
from impl.db.engine import Database
from impl.db.models import EndUser
from impl.services.apps import store
from impl.services.apps.end_users import end_user_id_in, get_or_create, known_end_user_id

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "apps"


async def _database(path: Path) -> Database:
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(migrate.upgrade, url)
    return Database(url)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await _database(tmp_path / "dify.db")
    try:
        yield database
    finally:
        await database.dispose()


def _count_queries(db: Database) -> list[str]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_the_first_call_creates_the_row_later_calls_run_no_query(db: Database) -> None:
    app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    assert known_end_user_id(db.engine, app.id, "alice") is None
    async with db.session() as session:
        first = await end_user_id_in(session, app.id, "alice")
    assert known_end_user_id(db.engine, app.id, "alice") == first  # no session needed any more
    queries = _count_queries(db)
    async with db.session() as session:
        again = await end_user_id_in(session, app.id, "alice")
    assert again == first and queries == []
    async with db.session() as session:
        other = await end_user_id_in(session, app.id, "bob")
    assert other != first and queries  # a new user is looked up (and created)
    row = await get_or_create(db, app.id, "alice")
    assert row.id == first and row.type == "service-api"
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(EndUser)) == 2


async def test_each_engine_remembers_its_own_ids(db: Database, tmp_path: Path) -> None:
    app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    async with db.session() as session:
        await end_user_id_in(session, app.id, "alice")
    second_db = await _database(tmp_path / "other.db")
    try:
        # The same app id and user against another database (where the app does not exist): it
        # is looked up there (and cannot be created), not answered from the first one's memory.
        async with second_db.session() as session:
            with pytest.raises(IntegrityError):
                await end_user_id_in(session, app.id, "alice")
    finally:
        await second_db.dispose()
