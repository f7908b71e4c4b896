"""A throwaway Redis (Debian's `redis-server`) on a free loopback port, for the test session.

No persistence, no config file: everything on the command line, the working directory a
temporary one that is removed with the server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from support.server import free_port

SERVER = "/usr/bin/redis-server"


@dataclass
class RedisServer:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


def start_redis(timeout: float = 20.0) -> RedisServer:
    if not Path(SERVER).exists():
        raise RuntimeError(f"{SERVER} not found: install Debian's redis-server (python3 dev.py install does)")
    root = Path(tempfile.mkdtemp(prefix="dify-redis-"))
    port = free_port()
    args = [SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root), "--save", "",
            "--appendonly", "no", "--logfile", str(root / "redis.log")]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            log = (root / "redis.log").read_text(errors="replace") if (root / "redis.log").exists() else ""
            raise RuntimeError(f"redis-server exited with {process.returncode}:\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return RedisServer(root, port, process)
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"redis-server not ready after {timeout}s")
        time.sleep(0.05)
