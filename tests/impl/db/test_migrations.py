"""Migrations and persistence on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from support.postgres import PostgresCluster

from impl.db import migrate
from impl.db.engine import Database
from impl.db.models import Base, Conversation, EndUser, Message, MessageFeedback, utcnow
from impl.services.apps import end_users, store

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "apps"
_PG_DATABASES = iter(f"dify_mig_{i}" for i in range(1000))


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'dify.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create_database(next(_PG_DATABASES))
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


async def test_migrations_create_every_table(database: Database) -> None:
    assert await asyncio.to_thread(migrate.current_revision, database.url) == migrate.head_revision()
    async with database.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    assert set(Base.metadata.tables) <= tables
    # Every model column exists in the migrated table.
    async with database.engine.connect() as conn:
        for name, table in Base.metadata.tables.items():
            columns = {c["name"] for c in await conn.run_sync(lambda s, n=name: inspect(s).get_columns(n))}
            assert {c.name for c in table.columns} <= columns, name


async def test_upgrade_is_idempotent(database: Database) -> None:
    await asyncio.to_thread(migrate.upgrade, database.url)
    assert await asyncio.to_thread(migrate.current_revision, database.url) == migrate.head_revision()


async def test_round_trip_keeps_microseconds_and_json(database: Database) -> None:
    app, version = await store.import_app(database, (EXAMPLES / "chat.yml").read_text())
    user = await end_users.get_or_create(database, app.id, "bob")
    again = await end_users.get_or_create(database, app.id, "bob")
    assert again.id == user.id
    anon = await end_users.get_or_create(database, app.id, "DEFAULT-USER")
    assert anon.is_anonymous and not user.is_anonymous
    stamp = utcnow().replace(microsecond=123456)
    async with database.transaction() as session:
        conv = Conversation(
            app_id=app.id,
            end_user_id=user.id,
            mode="chat",
            name="c",
            inputs={"name": "Bob"},
            created_at=stamp,
            updated_at=stamp,
        )
        session.add(conv)
        await session.flush()
        msg = Message(
            app_id=app.id,
            conversation_id=conv.id,
            end_user_id=user.id,
            query="hi",
            inputs={"name": "Bob"},
            answer="hello",
            message_metadata={"usage": {"total_tokens": 3}},
        )
        session.add(msg)
        await session.flush()
        session.add(
            MessageFeedback(
                app_id=app.id,
                conversation_id=conv.id,
                message_id=msg.id,
                rating="like",
                from_source="user",
                from_end_user_id=user.id,
            )
        )
    async with database.session() as session:
        loaded = await session.scalar(select(Conversation).where(Conversation.id == conv.id))
        assert loaded is not None
        assert loaded.created_at == stamp
        assert loaded.inputs == {"name": "Bob"}
        m = await session.get(Message, msg.id)
        assert m is not None and m.message_metadata == {"usage": {"total_tokens": 3}}
    assert version.model_config["model"]["provider"] == "builtin"


async def test_constraints_are_enforced(database: Database) -> None:
    app, _ = await store.import_app(database, (EXAMPLES / "completion.yml").read_text())
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            session.add(EndUser(app_id="00000000-0000-0000-0000-000000000000", session_id="x"))
    user = await end_users.get_or_create(database, app.id, "carol")
    async with database.transaction() as session:
        msg = Message(app_id=app.id, end_user_id=user.id, query="q")
        session.add(msg)
        await session.flush()
        session.add(MessageFeedback(app_id=app.id, message_id=msg.id, rating="like", from_source="user"))
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            session.add(
                MessageFeedback(app_id=app.id, message_id=msg.id, rating="dislike", from_source="user")
            )


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await db.dispose()
