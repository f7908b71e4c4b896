"""Async engine and session factory for SQLite (WAL, foreign keys on) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from impl.db.statement_thread import StatementThread
from impl.db.writer import WriteQueue

T = TypeVar("T")
SQLITE_POOL_SIZE = 20
SQLITE_POOL_OVERFLOW = 30


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sync_url(url: str) -> str:
    """The URL a synchronous engine (Alembic) uses for the same database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def install_sqlite_pragmas(sync_engine: Any) -> None:
    event.listen(sync_engine, "connect", _sqlite_pragmas)


def ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


class Database:
    """One engine and its session factory; on SQLite, one `WriteQueue` for the small writes."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        ensure_sqlite_dir(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if not is_sqlite(url):
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        elif make_url(url).database not in (None, "", ":memory:"):
            # An aiosqlite connection is a thread plus four pragmas: keep enough of them that a
            # burst of reads does not open (and close again) overflow connections per request.
            kwargs.update(pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_OVERFLOW)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if is_sqlite(url):
            install_sqlite_pragmas(self.engine.sync_engine)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        self.writer: WriteQueue | None = None
        if is_sqlite(url):
            thread = None
            if make_url(url).database not in (None, "", ":memory:"):
                thread = StatementThread.for_file(sync_url(url), echo=echo)
                install_sqlite_pragmas(thread.engine)
            self.writer = WriteQueue(self.sessions, statement_thread=thread)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits.  Rolled back on error."""
        async with self.sessions() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction committed on success."""
        async with self.sessions() as session, session.begin():
            yield session

    async def write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in a transaction and return its result once committed. On SQLite the
        writes of many callers share one transaction (see `impl.db.writer`), so `work` must use
        only its session and may run more than once; on PostgreSQL each gets its own."""
        if self.writer is not None:
            return await self.writer.run(work)
        async with self.transaction() as session:
            return await work(session)

    async def dispose(self) -> None:
        if self.writer is not None:
            await self.writer.close()
        await self.engine.dispose()
