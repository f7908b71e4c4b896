"""`Database.write`: on SQLite many callers' writes share one transaction (group commit), a
failing write is left out without losing the others, a cancelled caller's write is dropped;
on PostgreSQL each write has its own transaction with the same results for the callers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from support.postgres import PostgresCluster

from impl.db import migrate
from impl.db.engine import Database
from impl.db.models import EndUser
from impl.db.writer import Statements
from impl.services.apps import store

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "apps"
_PG_DATABASES = iter(f"dify_writer_{i}" for i in range(1000))


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


async def _app_id(db: Database) -> str:
    app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
    return app.id


def _add_user(app_id: str, name: str) -> Callable[[AsyncSession], Awaitable[str | None]]:
    async def write(session: AsyncSession) -> str | None:
        row = EndUser(app_id=app_id, type="service_api", session_id=name, external_user_id=name)
        session.add(row)
        await session.flush()
        return row.id

    return write


async def _names(db: Database, app_id: str) -> set[str]:
    async with db.session() as session:
        return set((await session.scalars(select(EndUser.session_id).where(EndUser.app_id == app_id))).all())


async def test_concurrent_writes_all_commit_and_share_transactions(database: Database) -> None:
    app_id = await _app_id(database)
    ids = await asyncio.gather(*(database.write(_add_user(app_id, f"u{i}")) for i in range(60)))
    assert len(set(ids)) == 60 and all(isinstance(i, str) for i in ids)
    assert await _names(database, app_id) == {f"u{i}" for i in range(60)}
    if database.writer is not None:  # SQLite: one writer, group commit
        assert database.writer.writes == 60
        assert database.writer.commits < 60  # queued writes shared transactions
    else:
        assert database.dialect == "postgresql"


async def test_a_failing_write_loses_no_other_write(database: Database) -> None:
    app_id = await _app_id(database)
    await database.write(_add_user(app_id, "taken"))

    async def boom(session: AsyncSession) -> str | None:
        raise ValueError("not this one")

    writes = [_add_user(app_id, f"a{i}") for i in range(10)]
    writes[3] = _add_user(app_id, "taken")  # unique (app_id, session_id): fails at its flush
    writes[7] = boom
    results = await asyncio.gather(*(database.write(w) for w in writes), return_exceptions=True)
    assert isinstance(results[3], IntegrityError)
    assert isinstance(results[7], ValueError)
    assert all(isinstance(r, str) for i, r in enumerate(results) if i not in (3, 7))
    expected = {"taken"} | {f"a{i}" for i in range(10) if i not in (3, 7)}
    assert await _names(database, app_id) == expected
    async with database.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(EndUser).where(EndUser.app_id == app_id)
        )
    assert count == len(expected)  # nothing written twice by the retried batch


async def test_the_write_of_a_caller_cancelled_before_it_ran_is_dropped(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dify.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    try:
        app_id = await _app_id(db)
        gate = asyncio.Event()

        async def slow(session: AsyncSession) -> None:
            await gate.wait()  # holds the batch open while the next write queues behind it

        first = asyncio.create_task(db.write(slow))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(db.write(_add_user(app_id, "cancelled")))
        third = asyncio.create_task(db.write(_add_user(app_id, "kept")))
        await asyncio.sleep(0.05)
        second.cancel()
        gate.set()
        await first
        assert isinstance(await third, str)
        with pytest.raises(asyncio.CancelledError):
            await second
        assert await _names(db, app_id) == {"kept"}
    finally:
        await db.dispose()


async def test_dispose_lets_queued_writes_finish(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dify.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    app_id = await _app_id(db)
    pending = [asyncio.create_task(db.write(_add_user(app_id, f"d{i}"))) for i in range(20)]
    await asyncio.sleep(0)
    await db.dispose()
    assert all(isinstance(task.result(), str) for task in pending)
    again = Database(url)
    try:
        assert await _names(again, app_id) == {f"d{i}" for i in range(20)}
    finally:
        await again.dispose()


async def test_an_error_at_the_batch_flush_is_pinned_on_its_write(database: Database) -> None:
    """Writes that only add rows are flushed together; a bad row found by that flush is traced
    back to its write, which alone fails."""
    app_id = await _app_id(database)
    await database.write(_add_user(app_id, "taken"))

    def add_only(name: str) -> Callable[[AsyncSession], Awaitable[str | None]]:
        async def write(session: AsyncSession) -> str | None:
            session.add(EndUser(app_id=app_id, type="service_api", session_id=name, external_user_id=name))
            return name

        return write

    names = ["b0", "b1", "taken", "b3"]
    results = await asyncio.gather(*(database.write(add_only(n)) for n in names), return_exceptions=True)
    assert isinstance(results[2], IntegrityError)
    assert [r for i, r in enumerate(results) if i != 2] == ["b0", "b1", "b3"]
    assert await _names(database, app_id) == {"taken", "b0", "b1", "b3"}


_RENAME = (
    update(EndUser.__table__)  # type: ignore[arg-type]
    .where(EndUser.__table__.c.id == bindparam("b_id"))  # type: ignore[attr-defined]
    .values(name=bindparam("b_name"), session_id=bindparam("b_session"))
)


async def test_statement_writes_of_a_batch_run_as_one_executemany(database: Database) -> None:
    """`Statements` writes queued together: each statement executes once per batch with all
    their parameters (SQLite), or once per write (PostgreSQL); every caller's row changes, and
    a write among them that fails (NOT NULL) is left out alone."""
    app_id = await _app_id(database)
    ids = await asyncio.gather(*(database.write(_add_user(app_id, f"s{i}")) for i in range(40)))
    executions: list[int] = []  # parameter sets per execution of the UPDATE

    def count(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, many: bool) -> None:
        if statement.startswith("UPDATE end_users"):
            executions.append(len(params) if many else 1)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        renames = [
            Statements([(_RENAME, {"b_id": user_id, "b_name": f"n{i}", "b_session": f"s{i}"})])
            for i, user_id in enumerate(ids)
        ]
        renames[5] = Statements([(_RENAME, {"b_id": ids[5], "b_name": "n5", "b_session": None})])
        others = [_add_user(app_id, f"o{i}") for i in range(5)]
        commits = database.writer.commits if database.writer is not None else 0
        thread = database.writer.statement_thread if database.writer is not None else None
        tried = (thread.executions, thread.rows) if thread is not None else (0, 0)
        results = await asyncio.gather(
            *(database.write(w) for w in [*renames, *others]), return_exceptions=True
        )
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    assert isinstance(results[5], IntegrityError)
    assert all(r is None for i, r in enumerate(results[:40]) if i != 5)
    async with database.session() as session:
        found = await session.execute(
            select(EndUser.session_id, EndUser.name).where(EndUser.app_id == app_id)
        )
        names = {session_id: name for session_id, name in found}
    assert names == {
        **{f"s{i}": (None if i == 5 else f"n{i}") for i in range(40)},
        **{f"o{i}": None for i in range(5)},
    }
    assert sum(executions) >= 39
    if database.writer is not None:
        # The first batch tried all 40 in one executemany, in the writer's statement thread; the
        # careful rerun went one by one through sessions.
        assert thread is not None
        assert (thread.executions - tried[0], thread.rows - tried[1]) == (1, 40)
        assert set(executions) == {1}
        assert database.writer.commits - commits < 45
    else:
        assert set(executions) == {1}


async def test_one_write_of_many_rows_of_a_statement_is_one_executemany(database: Database) -> None:
    """A `Statements` write listing one statement for many rows (answer checkpoints) runs it once
    with all of them, on SQLite in the writer's statement thread, on PostgreSQL in its session."""
    app_id = await _app_id(database)
    ids = await asyncio.gather(*(database.write(_add_user(app_id, f"m{i}")) for i in range(3)))
    executions: list[int] = []

    def count(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, many: bool) -> None:
        if statement.startswith("UPDATE end_users"):
            executions.append(len(params) if many else 1)

    thread = database.writer.statement_thread if database.writer is not None else None
    tried = (thread.executions, thread.rows) if thread is not None else (0, 0)
    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        await database.write(
            Statements(
                [
                    (_RENAME, {"b_id": key, "b_name": f"r{i}", "b_session": f"m{i}"})
                    for i, key in enumerate(ids)
                ]
            )
        )
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    if thread is not None:
        assert (thread.executions - tried[0], thread.rows - tried[1], executions) == (1, 3, [])
    else:
        assert executions == [3]
    async with database.session() as session:
        found = await session.execute(
            select(EndUser.session_id, EndUser.name).where(EndUser.app_id == app_id)
        )
        assert {session_id: name for session_id, name in found} == {f"m{i}": f"r{i}" for i in range(3)}
