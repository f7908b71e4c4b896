"""Running tasks: the registry stop acts on, and the backend the processes of a deployment
share (in-process by default, Redis when `REDIS_URL` is set)."""

from __future__ import annotations

from impl.tasks.backend import Backend, Claim, LocalBackend, LogItem
from impl.tasks.registry import (
    STOP_REASON_SHUTDOWN,
    STOP_REASON_USER,
    TaskHandle,
    TaskRegistry,
    worker_identity,
)


def backend_for(redis_url: str | None) -> Backend:
    """The Redis backend when a URL is given, else the in-process one."""
    if redis_url:
        from impl.tasks.redis import RedisBackend

        return RedisBackend(redis_url)
    return LocalBackend()


__all__ = [
    "STOP_REASON_SHUTDOWN",
    "STOP_REASON_USER",
    "Backend",
    "Claim",
    "LocalBackend",
    "LogItem",
    "TaskHandle",
    "TaskRegistry",
    "backend_for",
    "worker_identity",
]
