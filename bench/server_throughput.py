"""Throughput of the reference server, as ratios to a bare Starlette app measured in the same run.

    .venv/bin/python bench/server_throughput.py [--seconds 5] [--concurrency 16]

Both servers run as uvicorn subprocesses (uvloop + httptools, one worker) on loopback; the load
comes from one asyncio httpx client in this process.  Workloads:

* `GET /v1/` (welcome, no auth) against the baseline's `GET /` returning the same JSON;
* `GET /v1/parameters` (auth, a database lookup of the key, a JSON body validated by Connexion);
* `POST /v1/chat-messages` blocking with the builtin model (auth, request validation, two
  database writes, the whole generation pipeline);
* `POST /v1/chat-messages` streaming: events per second of one stream at a time.

Each figure is printed with its ratio to the baseline's `GET /` requests per second.  The numbers
move with the machine and whatever else runs on it; compare ratios, not absolute values.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BASELINE = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def welcome(request):
    return JSONResponse({"welcome": "Dify OpenAPI", "api_version": "v1", "server_version": "0"})

app = Starlette(routes=[Route("/", welcome)])
"""


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


async def _load(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: dict[str, object] | None,
    seconds: float,
    concurrency: int,
) -> float:
    done = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            r = await client.request(method, url, json=body)
            if r.status_code >= 400:
                raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:200]}")
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.monotonic() - started)


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


async def _measure(base: str, key: str, baseline: str, seconds: float, concurrency: int) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with (
        httpx.AsyncClient(limits=limits, timeout=30) as plain,
        httpx.AsyncClient(limits=limits, timeout=30, headers=auth) as client,
    ):
        ref = await _load(plain, "GET", baseline + "/", None, seconds, concurrency)
        rows = [("baseline: bare Starlette GET /", ref)]
        rows.append(("GET /v1/ (welcome)", await _load(plain, "GET", base + "/", None, seconds, concurrency)))
        rows.append(
            (
                "GET /v1/parameters",
                await _load(client, "GET", base + "/parameters", None, seconds, concurrency),
            )
        )
        chat = {
            "query": "How fast is this?",
            "inputs": {"name": "bench"},
            "user": "bench",
            "response_mode": "blocking",
        }
        rows.append(
            (
                "POST /v1/chat-messages blocking",
                await _load(client, "POST", base + "/chat-messages", chat, seconds, concurrency),
            )
        )
        stream = {**chat, "response_mode": "streaming", "query": " ".join(["word"] * 200)}
        eps = await _stream_events(client, base + "/chat-messages", stream, seconds)
    print(f"{'workload':40} {'req/s':>10} {'ratio':>7}")
    for name, value in rows:
        print(f"{name:40} {value:10.0f} {value / ref:7.2f}")
    print(f"{'streaming chat, events/s (1 stream)':40} {eps:10.0f} {eps / ref:7.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "baseline_app.py").write_text(BASELINE)
        port_ref, port = _free_port(), _free_port()
        ref_proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "baseline_app:app",
                "--port",
                str(port_ref),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=tmp,
            env=env,
        )
        srv_proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "impl.cli",
                "serve",
                "--demo",
                "--port",
                str(port),
                "--data-dir",
                str(Path(tmp) / "data"),
                "--log-level",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            _wait(f"http://127.0.0.1:{port_ref}/", ref_proc)
            _wait(f"http://127.0.0.1:{port}/v1/", srv_proc)
            keys = json.loads((Path(tmp) / "data" / "demo-keys.json").read_text())
            asyncio.run(
                _measure(
                    f"http://127.0.0.1:{port}/v1",
                    keys["chat"],
                    f"http://127.0.0.1:{port_ref}",
                    args.seconds,
                    args.concurrency,
                )
            )
        finally:
            for proc in (ref_proc, srv_proc):
                proc.terminate()
                proc.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
