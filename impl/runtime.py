"""The process-wide runtime: settings, database and task registry, set by `create_app`."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from impl.config import Settings
from impl.db.engine import Database


class TaskRegistryLike(Protocol):
    @property
    def redis(self) -> Any:
        """The process's shared `redis.asyncio.Redis` client (`decode_responses=True`) when
        `REDIS_URL` is set, else None: cross-worker state beyond runs can use it."""

    async def start(self) -> None: ...
    async def shutdown(self) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    database: Database
    tasks: TaskRegistryLike
    extras: dict[str, Any] = field(default_factory=dict)


_current: Runtime | None = None


def new_task_registry(redis_url: str | None = None) -> TaskRegistryLike:
    """`impl.tasks.TaskRegistry` on the backend `redis_url` selects (in-process when None),
    imported lazily so this module does not depend on it."""
    module = importlib.import_module("impl.tasks")
    registry: TaskRegistryLike = module.TaskRegistry(module.backend_for(redis_url))
    return registry


def set_current(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the runtime is not initialised: create_app() sets it")
    return _current
