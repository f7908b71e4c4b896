"""Run an ASGI app (a test fake) under uvicorn in a daemon thread on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve_in_thread(
    app: Any, *, name: str = "fake server", join_timeout: float = 10, **config: Any
) -> Iterator[str]:
    """Start `app` and yield its base URL (`http://127.0.0.1:<port>/v1`); stop it on exit.
    `config` goes to `uvicorn.Config` (default `log_level="warning"`, no lifespan); `name` is
    what the start-up timeout (10 s) says did not start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "off", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=join_timeout)
