"""Requests per second with `dify-service serve --workers 2` against one worker, in the same run.

    .venv/bin/python bench/workers_scaling.py [--seconds 5] [--concurrency 32] [--sqlite]

Both servers run on loopback on the scaled set-up: a PostgreSQL cluster (started here with
`initdb`, as the tests do; `--sqlite` uses the embedded database instead) and a `redis-server`
(Debian package `redis-server`), each server on its own fresh database. Request rates come from
`wrk` (Debian package `wrk`), as in `server_throughput.py`. Workloads:

* `GET /v1/parameters` (auth, a database lookup of the key, a JSON body validated by Connexion);
* `POST /v1/chat-messages` blocking with the builtin model (the whole generation pipeline).

The figure that matters is the ratio `2 workers / 1 worker`; it depends on the free cores of the
machine (on a 2-core machine shared with other work, expect well under 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from server_throughput import _free_port, _wait, _wrk  # noqa: E402
from support.postgres import start_cluster  # noqa: E402
from support.redis_server import start_redis  # noqa: E402


def _serve(data: Path, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    data.mkdir(parents=True)
    cmd = [sys.executable, "-m", "impl.cli", "serve", "--demo", "--no-docs", "--port", str(port),
           "--data-dir", str(data), "--log-level", "INFO", "--workers", str(workers)]  # fmt: skip
    log = (data / "server.log").open("wb")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _all_ready(data: Path, workers: int, timeout: float = 120) -> None:
    """Every worker has started (each logs `ready:`): one that is still importing would steal
    CPU from the measurement."""
    deadline = time.monotonic() + timeout
    while (data / "server.log").read_text(errors="replace").count("ready: database") < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"not all {workers} workers started")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sqlite", action="store_true", help="embedded SQLite instead of PostgreSQL")
    args = parser.parse_args()
    redis = start_redis()
    cluster = None if args.sqlite else start_cluster()
    results: dict[int, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for workers in (1, 2):
                env = {**os.environ, "PYTHONWARNINGS": "ignore", "REDIS_URL": redis.url}
                if cluster is not None:
                    env["DATABASE_URL"] = cluster.create_database(f"bench_w{workers}")
                data, port = Path(tmp) / f"w{workers}", _free_port()
                proc = _serve(data, port, workers, env)
                try:
                    base = f"http://127.0.0.1:{port}/v1"
                    _wait(base + "/", proc)
                    _all_ready(data, workers)
                    key = json.loads((data / "demo-keys.json").read_text())["chat"]
                    chat = {"query": "How fast?", "inputs": {}, "user": "bench", "response_mode": "blocking"}
                    _wrk(base + "/parameters", 1, args.concurrency, key)  # warm up every worker
                    results[workers] = {
                        "GET /v1/parameters": _wrk(base + "/parameters", args.seconds, args.concurrency, key),
                        "POST /v1/chat-messages blocking": _wrk(
                            base + "/chat-messages", args.seconds, args.concurrency, key, chat
                        ),
                    }
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
    finally:
        redis.stop()
        if cluster is not None:
            cluster.stop()
    load = os.getloadavg()[0]
    print(f"database: {'sqlite' if args.sqlite else 'postgresql'}, cores: {os.cpu_count()}, load: {load:.1f}")
    print(f"{'workload':34} {'1 worker':>10} {'2 workers':>10} {'ratio':>7}")
    for name, one in results[1].items():
        two = results[2][name]
        print(f"{name:34} {one:10.0f} {two:10.0f} {two / one:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
