"""Throughput of the reference server, as ratios to a bare Starlette app measured in the same run.

    .venv/bin/python bench/server_throughput.py [--seconds 5] [--concurrency 16]

Both servers run as uvicorn subprocesses (uvloop + httptools, one worker) on loopback; request
rates come from `wrk` (Debian package `wrk`: one thread, `--concurrency` connections), the
streaming rate from an httpx client in this process.  The baseline (`bench/baseline_app.py`) is
a bare Starlette app on the server's own database, doing the same database work by hand:

* `GET /v1/` (welcome, no auth) against the baseline's `GET /` returning the same JSON;
* `GET /v1/parameters` (auth: the key resolved, reused for at most 1 s; the app's config) against
  the baseline's `GET /key` (the key joined with its app, a query on every request);
* `POST /v1/chat-messages` blocking with the builtin model (auth, request validation, the writes,
  the whole generation pipeline) against the baseline's `POST /chat` (the key, the end user, a
  conversation and a message written, the answer stored);
* `POST /v1/chat-messages` streaming: events per second of one stream at a time.

Printed: each rate with its ratio to the baseline's `GET /`, and the issue's goals as ratios
(`/parameters` / welcome >= 0.5, blocking chat / welcome >= 0.15, welcome / bare Starlette >= 0.35)
plus each operation against its hand-written twin.  The numbers move with the machine and
whatever else runs on it; compare ratios of one run, not absolute values.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from procstat import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@dataclass(frozen=True)
class Rate:
    """What one `wrk` run measured: requests per second, and the serving process's CPU time per
    request (steadier than the rate where other jobs share the cores)."""

    per_second: float
    cpu_us: float


def _wrk(
    url: str,
    seconds: float,
    concurrency: int,
    pid: int,
    key: str | None = None,
    body: dict[str, object] | None = None,
) -> Rate:
    """Requests per second that `wrk` measures, and the CPU the server process `pid` spent per
    request meanwhile; any non-2xx answer fails the benchmark."""
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    if body is not None:
        lines += ['wrk.method = "POST"', f"wrk.body = [[{json.dumps(body)}]]"]
    lines += [
        "bad = 0",
        "response = function(status, headers, body) if status >= 300 then bad = bad + 1 end end",
        'done = function(summary, latency, requests) io.write("BAD " .. bad .. "\\n") end',
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, int(seconds))}s", "-s", script.name, url]
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu_before
    os.unlink(script.name)
    if "BAD 0" not in out:
        raise RuntimeError(f"non-2xx answers from {url}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Rate(rate, cpu / max(1, requests) * 1e6)


async def _stream_events(
    client: httpx.AsyncClient, url: str, body: dict[str, object], seconds: float
) -> float:
    events = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        async with client.stream("POST", url, json=body) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    events += 1
    return events / (time.monotonic() - started)


def _measure(
    base: str, key: str, baseline: str, seconds: float, concurrency: int, pid: int, ref_pid: int
) -> None:
    ref = _wrk(baseline + "/", seconds, concurrency, ref_pid)
    chat = {
        "query": "How fast is this?",
        "inputs": {"name": "bench"},
        "user": "bench",
        "response_mode": "blocking",
    }
    welcome = _wrk(base + "/", seconds, concurrency, pid)
    parameters = _wrk(base + "/parameters", seconds, concurrency, pid, key)
    blocking = _wrk(base + "/chat-messages", seconds, concurrency, pid, key, chat)
    ref_key = _wrk(baseline + "/key", seconds, concurrency, ref_pid, key)
    ref_chat = _wrk(baseline + "/chat", seconds, concurrency, ref_pid, key, chat)
    rows = [
        ("baseline: bare Starlette GET /", ref),
        ("baseline: Starlette key lookup", ref_key),
        ("baseline: Starlette chat-turn writes", ref_chat),
        ("GET /v1/ (welcome)", welcome),
        ("GET /v1/parameters", parameters),
        ("POST /v1/chat-messages blocking", blocking),
    ]
    stream = {**chat, "response_mode": "streaming", "query": " ".join(["word"] * 200)}

    async def streaming() -> float:
        async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
            return await _stream_events(client, base + "/chat-messages", stream, seconds)

    eps = asyncio.run(streaming())
    print(f"{'workload':40} {'req/s':>10} {'ratio':>7} {'server CPU/request':>19}")
    for name, value in rows:
        ratio = value.per_second / ref.per_second
        print(f"{name:40} {value.per_second:10.0f} {ratio:7.2f} {value.cpu_us:16.0f} µs")
    print(f"{'streaming chat, events/s (1 stream)':40} {eps:10.0f} {eps / ref.per_second:7.2f}")
    print()
    print("ratios of rates, and (in brackets) of the server's CPU time per request, inverted:")
    goals = [
        ("welcome / bare Starlette", welcome, ref, 0.35),
        ("/parameters / welcome", parameters, welcome, 0.5),
        ("blocking chat / welcome", blocking, welcome, 0.15),
        ("/parameters / Starlette key lookup", parameters, ref_key, None),
        ("blocking chat / Starlette chat-turn writes", blocking, ref_chat, None),
    ]
    for name, this, other, goal in goals:
        ratio = this.per_second / other.per_second
        by_cpu = other.cpu_us / this.cpu_us if this.cpu_us else float("nan")
        verdict = "" if goal is None else (f"goal >= {goal}: " + ("met" if ratio >= goal else "NOT met"))
        print(f"{name:44} {ratio:6.2f} ({by_cpu:4.2f})  {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory() as tmp:
        port_ref, port = _free_port(), _free_port()
        data = Path(tmp) / "data"
        srv_cmd = [sys.executable, "-m", "impl.cli", "serve", "--demo", "--port", str(port),
                   "--data-dir", str(data), "--log-level", "WARNING"]  # fmt: skip
        srv_proc = subprocess.Popen(srv_cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        procs = [srv_proc]
        try:
            _wait(f"http://127.0.0.1:{port}/v1/", srv_proc)
            # The baseline shares the server's (migrated, seeded) database.
            ref_env = {**env, "BENCH_DATABASE_URL": f"sqlite+aiosqlite:///{data.resolve() / 'dify.db'}",
                       "PYTHONPATH": str(ROOT)}  # fmt: skip
            ref_cmd = [sys.executable, "-m", "uvicorn", "baseline_app:app", "--port", str(port_ref),
                       "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                       "--log-level", "warning"]  # fmt: skip
            ref_proc = subprocess.Popen(ref_cmd, cwd=ROOT / "bench", env=ref_env)
            procs.append(ref_proc)
            _wait(f"http://127.0.0.1:{port_ref}/", ref_proc)
            keys = json.loads((data / "demo-keys.json").read_text())
            base, ref = f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{port_ref}"
            _measure(base, keys["chat"], ref, args.seconds, args.concurrency, srv_proc.pid, ref_proc.pid)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
