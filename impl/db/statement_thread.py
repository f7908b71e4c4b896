"""A thread of its own for the embedded database's plain statements.

Through the async engine every statement crosses to aiosqlite's thread and back several times
(a cursor, the execution, the cursor's close; then the commit and the connection's return), and
on this machine each crossing costs some 50 µs of CPU in thread wake-ups alone. A batch of the
writer (`impl.db.writer`) made only of `Statements` therefore runs here instead: a synchronous
SQLAlchemy engine on the same file, owned by one worker thread, executes all of the batch's
statements and commits in one call, so the event loop waits once per batch.

SQLAlchemy's executemany converts each parameter set in Python (some 30 µs a row here). A plain
INSERT, UPDATE or DELETE is therefore compiled once per set of parameter names into a `_Plan`:
the SQL, and per placeholder where its value comes from (the parameter, the statement's own
literal, or the column's default or `onupdate` for a column the parameters leave out) and the
type's bind conversion (JSON text, datetime text, booleans), all taken from SQLAlchemy's
compilation, so a row is written exactly as the async path writes it
(`tests/impl/db/test_statement_thread.py` compares them). A statement outside that shape runs
through SQLAlchemy's own execution.

Only a database file can be shared this way (`:memory:` would be another database).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Engine, PoolProxiedConnection, create_engine
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Delete, Executable, Insert, Update
from sqlalchemy.sql.compiler import SQLCompiler

# One statement with every parameter set the batch gathered for it (one executemany).
Group = tuple[Executable, list[dict[str, Any]]]


_MISSING = object()
# Rows per multi-row INSERT: SQLite allows 500 rows in one VALUES list (and 32,766 parameters).
MAX_ROWS = 200
_ONE_ROW = re.compile(r"^(INSERT INTO .+ VALUES )(\((?:\?, )*\?\))$", re.DOTALL)


@dataclass(frozen=True)
class _Placeholder:
    name: str
    literal: Any  # the statement's own value, or _MISSING
    default: Callable[[], Any] | None  # the column default / onupdate, when `name` is left out
    convert: Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    statement: Executable  # kept, so that the cache key (its id) stays its own
    sql: str
    placeholders: tuple[_Placeholder, ...]
    # An INSERT of one row of values, split before its row ("INSERT INTO t (a, b) VALUES ",
    # "(?, ?)"): many rows then go in one statement, one step of SQLite instead of one per row.
    values: tuple[str, str] | None = None

    def many(self, rows: list[tuple[Any, ...]]) -> list[tuple[str, tuple[Any, ...] | list[tuple[Any, ...]]]]:
        """The executions that write `rows`: multi-row INSERTs of at most `MAX_ROWS` rows, or
        one executemany."""
        if self.values is None or len(rows) == 1:
            return [(self.sql, rows)]
        head, row = self.values
        out: list[tuple[str, tuple[Any, ...] | list[tuple[Any, ...]]]] = []
        for start in range(0, len(rows), MAX_ROWS):
            chunk = rows[start : start + MAX_ROWS]
            flat = tuple(value for values in chunk for value in values)
            out.append((head + ", ".join([row] * len(chunk)), flat))
        return out

    def row(self, params: dict[str, Any]) -> tuple[Any, ...]:
        values: list[Any] = []
        for slot in self.placeholders:
            value = params.get(slot.name, _MISSING)
            if value is _MISSING:
                if slot.default is not None:
                    value = slot.default()
                elif slot.literal is not _MISSING:
                    value = slot.literal
                else:
                    raise KeyError(f"no value for the placeholder {slot.name!r}")
            values.append(value if slot.convert is None else slot.convert(value))  # None too (JSON 'null')
        return tuple(values)


def _column_default(column: Column[Any], onupdate: bool) -> Callable[[], Any] | None:
    default = column.onupdate if onupdate else column.default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    if getattr(default, "is_scalar", False):
        return lambda: arg
    if getattr(default, "is_callable", False) and callable(arg):
        return lambda: arg(None)  # SQLAlchemy wraps a default of no arguments to take a context
    raise _Unplannable(f"the default of {column.key!r}")


class _Unplannable(Exception):
    """A statement this module does not turn into a `_Plan` (SQLAlchemy executes it)."""


def plan(statement: Executable, names: frozenset[str], dialect: Dialect) -> _Plan:
    """The SQL and placeholders of `statement` run with parameters named `names` (raises
    `_Unplannable` for anything but a plain positional INSERT, UPDATE or DELETE)."""
    if not isinstance(statement, Insert | Update | Delete):
        raise _Unplannable(type(statement).__name__)
    compiled = statement.compile(dialect=dialect, column_keys=sorted(names), for_executemany=True)
    assert isinstance(compiled, SQLCompiler)
    if not compiled.positional or compiled.positiontup is None or compiled.effective_returning:
        raise _Unplannable("not a positional statement without RETURNING")
    defaults: dict[str, Callable[[], Any] | None] = {}
    for column in compiled.insert_prefetch:
        defaults[column.key] = _column_default(column, onupdate=False)
    for column in compiled.update_prefetch:
        defaults[column.key] = _column_default(column, onupdate=True)
    placeholders: list[_Placeholder] = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        if bind.expanding or bind.literal_execute or bind.callable is not None:
            raise _Unplannable(f"the parameter {name!r}")
        literal = _MISSING if bind.required or name in names else bind.value
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        placeholders.append(_Placeholder(name, literal, defaults.get(name), convert))
    values = None
    if isinstance(statement, Insert):
        one_row = _ONE_ROW.match(compiled.string)
        if one_row is not None and len(placeholders) * MAX_ROWS <= 32_766:
            values = (one_row.group(1), one_row.group(2))
    return _Plan(statement, compiled.string, tuple(placeholders), values)


class StatementThread:
    """Runs groups of statements in one transaction on `engine`, in one worker thread (started
    at the first batch), so the connection never changes threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._executor: ThreadPoolExecutor | None = None
        self._plans: dict[tuple[int, frozenset[str]], _Plan | None] = {}
        self._raw: PoolProxiedConnection | None = None
        self.executions = 0  # statements executed here, each once per batch (for tests and the bench)
        self.rows = 0  # their parameter sets

    @classmethod
    def for_file(cls, sync_url: str, **engine_kwargs: Any) -> StatementThread:
        """A thread with its own engine on the SQLite file `sync_url` (two connections: the one
        the thread keeps, and one for a batch SQLAlchemy runs)."""
        return cls(create_engine(sync_url, pool_size=2, max_overflow=0, **engine_kwargs))

    async def run(self, groups: list[Group]) -> None:
        """Execute each group (an executemany when it has several parameter sets) and commit
        them together; on any error nothing of them is committed and the error is raised."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-statements")
        await asyncio.get_running_loop().run_in_executor(self._executor, self._run, groups)

    def _plan(self, statement: Executable, names: frozenset[str]) -> _Plan | None:
        key = (id(statement), names)
        if key in self._plans:
            found = self._plans[key]
            if found is None or found.statement is statement:
                return found
        try:
            found = plan(statement, names, self.engine.dialect)
        except _Unplannable:
            found = None
        self._plans[key] = found
        return found

    def _run(self, groups: list[Group]) -> None:
        plans = [self._plan(statement, frozenset(param_sets[0])) for statement, param_sets in groups]
        self.executions += len(groups)
        self.rows += sum(len(param_sets) for _statement, param_sets in groups)
        if any(how is None for how in plans):  # SQLAlchemy runs the batch
            with self.engine.begin() as connection:
                for statement, param_sets in groups:
                    connection.execute(statement, param_sets if len(param_sets) > 1 else param_sets[0])
            return
        # The connection this thread keeps (checked out once: no pool work per batch); the
        # driver opens the transaction at the first statement.
        if self._raw is None:
            self._raw = self.engine.raw_connection()
        dbapi = self._raw.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            for how, (_statement, param_sets) in zip(plans, groups, strict=True):
                assert how is not None
                for sql, values in how.many([how.row(params) for params in param_sets]):
                    if isinstance(values, list):
                        cursor.executemany(sql, values)
                    else:
                        cursor.execute(sql, values)
            dbapi.commit()
        except BaseException:
            dbapi.rollback()
            raise
        finally:
            cursor.close()

    def _release(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()
        self.engine.dispose()

    async def close(self) -> None:
        """Close the connection in the thread that used it, then stop the thread."""
        executor, self._executor = self._executor, None
        if executor is None:
            self.engine.dispose()
            return
        await asyncio.get_running_loop().run_in_executor(executor, self._release)
        executor.shutdown(wait=True)
