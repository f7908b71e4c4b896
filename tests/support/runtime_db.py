"""A migrated SQLite database set as the current runtime's, for in-process service tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from impl import runtime
from impl.config import Settings
from impl.db import migrate
from impl.db.engine import Database
from impl.tasks import TaskRegistry


@asynccontextmanager
async def migrated_runtime(tmp_path: Path) -> AsyncIterator[Database]:
    """The database of `tmp_path/dify.db`, migrated, in a runtime with an in-process task registry;
    the previous runtime comes back afterwards."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'dify.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(url)
    previous = runtime._current
    runtime.set_current(
        runtime.Runtime(settings=Settings(data_dir=tmp_path), database=database, tasks=TaskRegistry())
    )
    try:
        yield database
    finally:
        runtime.set_current(previous)
        await database.dispose()
