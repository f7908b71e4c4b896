"""Start `dify-service serve --demo` as a real uvicorn subprocess on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

LAUNCHER = Path(__file__).resolve().parent / "launch.py"
REPO = LAUNCHER.parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    base_url: str
    keys: dict[str, str]
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    startup_seconds: float
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode


def cli_command(*args: str) -> list[str]:
    return [sys.executable, str(LAUNCHER), *args]


def start_server(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    demo: bool = True,
    docs: bool = False,
    timeout: float = 45.0,
) -> LiveServer:
    """Start the server; `docs=True` has it render the docs site it serves at /docs (seconds of
    work that only the docs tests need)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    args = ["serve", "--port", str(port), "--data-dir", str(data_dir), "--validate-responses", *extra_args]
    if demo:
        args.insert(1, "--demo")
    if not docs:
        args.append("--no-docs")
    log_path = data_dir / f"server-{port}.log"
    log_file = log_path.open("wb")
    started = time.monotonic()
    process = subprocess.Popen(
        cli_command(*args), cwd=REPO, env=full_env, stdout=log_file, stderr=subprocess.STDOUT
    )
    log_file.close()
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = started + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if client.get(base_url + "/").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"server not ready after {timeout}s:\n{log_path.read_text()}")
            time.sleep(0.05)
    elapsed = time.monotonic() - started
    keys_file = data_dir / "demo-keys.json"
    keys = json.loads(keys_file.read_text()) if demo else {}
    return LiveServer(base_url, keys, data_dir, port, process, log_path, elapsed, full_env)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run the dify-service CLI (through the test launcher) and capture its output."""
    return subprocess.run(
        cli_command(*args),
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
