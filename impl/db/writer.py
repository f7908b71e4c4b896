"""One writer for the embedded database: small writes group-committed by one task.

SQLite takes one writer at a time. Many coroutines writing through their own pooled connections
queue on its lock (each waiting in SQLite's busy handler, which sleeps) and commit one by one.
Here a caller hands its write to `WriteQueue.run` as a function of a session; one task per event
loop drains the queue, runs every write waiting in it inside one transaction with one flush at
the end (the new rows of a table go out in one statement) and commits once. Every caller of the
batch then gets its result, after the commit: a write that returned has been committed.

When anything fails, the batch runs again carefully: flushing after each write, so an error
belongs to the write that caused it. That write is left out (its caller gets the error), the
transaction is rolled back and the batch's other writes run again in a new one, so one failing
write never takes the others with it (a write must therefore be a function of its session alone,
with nothing done outside the database). When the commit itself fails, each write of the batch
is retried in a transaction of its own.

A write that is only plain statements (`Statements`: a turn's end, say, three UPDATE/DELETEs by
key) does not run when its turn in the batch comes: the batch gathers the parameters of each such
statement and, after the other writes, runs it once for all of them (one executemany), so a batch
that ends a hundred turns sends three statements, not three hundred. Such a write must not depend
on the other writes of its batch running after it (keys of distinct rows, as a turn's end has).

A batch's `Statements` writes run on the writer's own connection in a thread of its own
(`impl.db.statement_thread`), all of them in one call and one transaction; its other writes run
first, in a session of the async engine, and commit on their own.

PostgreSQL has row locks and many writers; `Database.write` runs each write in its own
transaction there and does not use this queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import Executable

from impl.db.statement_thread import Group, StatementThread

log = logging.getLogger("impl.db.writer")

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]
MAX_BATCH = 500
Statement = tuple[Executable, dict[str, Any]]  # a statement built once, with one set of parameters


class Statements:
    """A write made only of statements with their parameters, each statement a shared object
    (built once, at import): in a batch the same statement of many such writes runs once with
    all their parameter sets. Called with a session, it runs them one by one (PostgreSQL, and
    a batch's careful rerun)."""

    __slots__ = ("statements",)

    def __init__(self, statements: list[Statement]) -> None:
        self.statements = statements

    async def __call__(self, session: AsyncSession) -> None:
        index = 0
        while index < len(self.statements):  # a run of one statement with the same keys: one executemany
            statement, params = self.statements[index]
            end = index + 1
            while end < len(self.statements) and self.statements[end][0] is statement:
                if self.statements[end][1].keys() != params.keys():
                    break
                end += 1
            if end - index == 1:
                await session.execute(statement, params)
            else:
                await session.execute(statement, [p for _s, p in self.statements[index:end]])
            index = end


class WriteQueue:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        max_batch: int = MAX_BATCH,
        statement_thread: StatementThread | None = None,
    ) -> None:
        self._sessions = sessions
        self.statement_thread = statement_thread
        self.max_batch = max_batch
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = False
        self.commits = 0  # transactions committed (for tests and the bench)
        self.writes = 0  # writes committed

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Queue `work`, wait for the commit of its batch and return its result (or raise its
        error). A caller cancelled before its write ran leaves it out; once it ran, it commits."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._start(loop)
        assert self._wakeup is not None
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((work, future))
        self._wakeup.set()
        return await future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending = [(w, f) for w, f in self._pending if f.get_loop() is loop]
        self._wakeup = asyncio.Event()
        self._task = loop.create_task(self._drain(self._wakeup))

    async def _drain(self, wakeup: asyncio.Event) -> None:
        while True:
            await wakeup.wait()
            wakeup.clear()
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                self._busy = True
                try:
                    await self._commit_batch(batch)
                except Exception as exc:  # never leave a caller waiting
                    log.exception("write batch failed")
                    for _work, future in batch:
                        _fail(future, exc)
                finally:
                    self._busy = False

    async def _commit_batch(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        live = [(work, future) for work, future in batch if not future.done()]
        if not live:
            return
        if self.statement_thread is None:
            await self._commit_in_session(live)
            return
        plain: list[tuple[Work, asyncio.Future[Any]]] = [(w, f) for w, f in live if type(w) is Statements]
        others = [(work, future) for work, future in live if type(work) is not Statements]
        if others:
            await self._commit_in_session(others)
        if plain:
            await self._commit_in_thread(self.statement_thread, plain)

    async def _commit_in_session(self, live: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        # First all writes with one flush at the end: the unit of work then inserts each table's
        # new rows with one statement. Any error sends the batch to the careful path.
        try:
            async with self._sessions() as session, session.begin():
                results: list[Any] = []
                gathered: dict[tuple[int, frozenset[str]], Group] = {}
                for work, _future in live:
                    if type(work) is Statements:
                        _gather(work, gathered)
                        results.append(None)
                    else:
                        results.append(await work(session))
                for statement, param_sets in gathered.values():
                    await session.execute(statement, param_sets)
        except Exception:
            await self._commit_carefully(live)
            return
        self._settle(live, results)

    async def _commit_in_thread(
        self, thread: StatementThread, live: list[tuple[Work, asyncio.Future[Any]]]
    ) -> None:
        gathered: dict[tuple[int, frozenset[str]], Group] = {}
        for work, _future in live:
            assert type(work) is Statements
            _gather(work, gathered)
        try:
            await thread.run(list(gathered.values()))
        except Exception:
            await self._commit_carefully(live)
            return
        self._settle(live, [None] * len(live))

    async def _commit_carefully(self, live: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        """Flush after each write, so an error belongs to the write that caused it; that write
        is left out and the others run again."""
        while live:
            results: list[Any] = []
            failed: int | None = None
            try:
                async with self._sessions() as session, session.begin():
                    for index, (work, _future) in enumerate(live):
                        try:
                            results.append(await work(session))
                            await session.flush()
                        except Exception as exc:
                            failed = index
                            _fail(live[index][1], exc)
                            raise _Rollback() from exc
            except _Rollback:
                assert failed is not None
                del live[failed]  # the others run again in a new transaction
                continue
            except Exception as exc:
                if len(live) == 1:
                    _fail(live[0][1], exc)
                    return
                log.warning("a batch of %d writes failed to commit; retrying one by one", len(live))
                for one in live:
                    await self._commit_carefully([one])
                return
            self._settle(live, results)
            return

    def _settle(self, live: list[tuple[Work, asyncio.Future[Any]]], results: list[Any]) -> None:
        self.commits += 1
        self.writes += len(live)
        for (_work, future), result in zip(live, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if self._loop is asyncio.get_running_loop():
            for _ in range(1000):  # let queued writes finish (10 s at most)
                if not self._pending and not self._busy:
                    break
                await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if self.statement_thread is not None:
            await self.statement_thread.close()


def _gather(work: Statements, gathered: dict[tuple[int, frozenset[str]], Group]) -> None:
    """Add `work`'s parameter sets to the groups of its statements (one group per statement
    and set of parameter names: one executemany)."""
    for statement, params in work.statements:
        key = (id(statement), frozenset(params))
        gathered.setdefault(key, (statement, []))[1].append(params)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class _Rollback(Exception):
    """Raised inside the batch's transaction to roll it back after one write failed."""
