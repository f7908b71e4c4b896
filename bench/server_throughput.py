"""Throughput of the reference server, as ratios to a bare Starlette app measured in the same run.

    .venv/bin/python bench/server_throughput.py [--seconds 5] [--concurrency 16]

Both servers run as uvicorn subprocesses (uvloop + httptools, one worker) on loopback; request
rates come from `wrk` (Debian package `wrk`: one thread, `--concurrency` connections), the
streaming rate from an httpx client in this process.  Workloads:

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
import re
import shutil
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


def _wrk(
    url: str, seconds: float, concurrency: int, key: str | None = None, body: dict[str, object] | None = None
) -> float:
    """Requests per second that `wrk` measures; any non-2xx answer fails the benchmark."""
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
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    if "BAD 0" not in out:
        raise RuntimeError(f"non-2xx answers from {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


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


def _measure(base: str, key: str, baseline: str, seconds: float, concurrency: int) -> None:
    ref = _wrk(baseline + "/", seconds, concurrency)
    chat = {
        "query": "How fast is this?",
        "inputs": {"name": "bench"},
        "user": "bench",
        "response_mode": "blocking",
    }
    rows = [
        ("baseline: bare Starlette GET /", ref),
        ("GET /v1/ (welcome)", _wrk(base + "/", seconds, concurrency)),
        ("GET /v1/parameters", _wrk(base + "/parameters", seconds, concurrency, key)),
        ("POST /v1/chat-messages blocking", _wrk(base + "/chat-messages", seconds, concurrency, key, chat)),
    ]
    stream = {**chat, "response_mode": "streaming", "query": " ".join(["word"] * 200)}

    async def streaming() -> float:
        async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
            return await _stream_events(client, base + "/chat-messages", stream, seconds)

    eps = asyncio.run(streaming())
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
            _measure(
                f"http://127.0.0.1:{port}/v1",
                keys["chat"],
                f"http://127.0.0.1:{port_ref}",
                args.seconds,
                args.concurrency,
            )
        finally:
            for proc in (ref_proc, srv_proc):
                proc.terminate()
                proc.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
