"""The code sandbox: runs the Python 3 and JavaScript of workflow code nodes in a box.

User code runs in a separate, pre-started process (see `pool`) confined by bubblewrap
namespaces, a seccomp filter, rlimits, its own uid and a wall-clock timeout (see `launcher`,
`seccomp`, and SECURITY.md at the repository root for the threat model). This package sits
below `impl.engine` and imports nothing above it.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from impl.sandbox.launcher import Limits, SandboxUnavailable
from impl.sandbox.pool import LANGUAGES, CodeExecutionError, Pool

__all__ = ["LANGUAGES", "CodeExecutionError", "Limits", "Pool", "SandboxUnavailable", "configure", "run_code"]

_pool: Pool | None = None
_limits = Limits()
_lock = threading.Lock()


def configure(limits: Limits) -> None:
    """Set the limits of later runs (the server calls this with its settings)."""
    global _limits, _pool
    with _lock:
        _limits = limits
        old, _pool = _pool, None
    if old is not None:
        old.close()


def shared_pool() -> Pool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = Pool(_limits)
        return _pool


async def run_code(language: str, code: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Run `main` of `code` with `inputs` in the sandbox; its returned dict, or CodeExecutionError."""
    return await shared_pool().run(language, code, inputs)


def _shutdown() -> None:
    with _lock:
        pool = _pool
    if pool is not None:
        pool.close()


atexit.register(_shutdown)
