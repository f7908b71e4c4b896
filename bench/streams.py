"""Many concurrent SSE streams on one worker, and a read endpoint's latency meanwhile.

    .venv/bin/python bench/streams.py [--streams 1000] [--tokens 100] [--rate 25]

One server (uvicorn, one worker, embedded SQLite, the builtin model) on loopback.  First one
stream alone gives the undisturbed duration (`tokens / rate` seconds plus overhead); then
`--streams` chat streams start at once (each `tokens` tokens at `rate` tokens per second) from a
raw asyncio client, while a second process asks `GET /v1/parameters` every 20 ms and records the
latencies.  Printed: the slowdown (all streams' wall time / undisturbed duration; goal <= 1.5),
the p50/p99 of `/parameters` meanwhile (goal p99 <= 250 ms), the CPU time the server and this
client used meanwhile (a server near 100% of one core is CPU-bound; far below it on a busy
machine, it waits for a core), and the server's resident memory per open stream (RSS at the
peak minus RSS before, divided by the streams).  Loopback only; every run is bounded by
`--timeout`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from procstat import cpu_seconds, rss_kb

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def _one_stream(port: int, key: str, body: bytes, opened: list[int]) -> tuple[int, float, float]:
    """POST a streaming chat over a raw connection; (data frames read, seconds to the first
    byte, seconds in all)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(HOST, port)
    head = (
        f"POST /v1/chat-messages HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    frames = 0
    first = 0.0
    buffered = b""
    while chunk := await reader.read(65536):
        if not first:
            opened[0] += 1
            first = time.monotonic() - started
        buffered += chunk
        frames += buffered.count(b"\ndata: ") + (1 if buffered.startswith(b"data: ") else 0)
        buffered = buffered[-8:]
    writer.close()
    return frames, first, time.monotonic() - started


def _poll_parameters(port: int, key: str, seconds: float, out: multiprocessing.Queue[list[float]]) -> None:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(
        base_url=f"http://{HOST}:{port}/v1", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                ok = client.get("/parameters", timeout=30).status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.monotonic() - started if ok else float("inf"))
            time.sleep(0.02)
    out.put(latencies)


async def _run(port: int, key: str, pid: int, args: argparse.Namespace) -> None:
    query = f"Tell me a story [[delay:{1 / args.rate:.4f}]] [[tokens:{args.tokens}]]"
    body = json.dumps(
        {"query": query, "inputs": {"name": "bench"}, "user": "bench", "response_mode": "streaming"}
    )
    raw = body.encode()
    alone_frames, _first, alone = await _one_stream(port, key, raw, [0])
    rss_before = rss_kb(pid)
    queue: multiprocessing.Queue[list[float]] = multiprocessing.Queue()
    poller = multiprocessing.Process(
        target=_poll_parameters, args=(port, key, alone * 1.2 + 2, queue), daemon=True
    )
    poller.start()
    opened = [0]
    peak = [rss_before]
    cpu_before, own_before = cpu_seconds(pid), time.process_time()
    loop_before = cpu_seconds(pid, thread=True)
    started = time.monotonic()

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_kb(pid))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    results = await asyncio.wait_for(
        asyncio.gather(*(_one_stream(port, key, raw, opened) for _ in range(args.streams))), args.timeout
    )
    wall = time.monotonic() - started
    server_cpu, client_cpu = cpu_seconds(pid) - cpu_before, time.process_time() - own_before
    loop_cpu = min(server_cpu, cpu_seconds(pid, thread=True) - loop_before)  # read a moment later
    sampler.cancel()
    latencies = queue.get(timeout=args.timeout)
    poller.join(timeout=10)
    complete = sum(1 for frames, _f, _s in results if frames >= alone_frames)
    firsts = sorted(f for _n, f, _s in results)
    durations = sorted(s for _n, _f, s in results)
    finite = sorted(latencies)
    p50 = statistics.median(finite) if finite else float("nan")
    p99 = finite[min(len(finite) - 1, int(len(finite) * 0.99))] if finite else float("nan")
    per_stream = (peak[0] - rss_before) / max(1, args.streams)
    print(f"one stream alone: {alone:.2f} s ({alone_frames} frames)")
    print(
        f"{args.streams} streams at once: {wall:.2f} s, slowdown {wall / alone:.2f}x (goal <= 1.5), "
        f"{complete}/{args.streams} complete"
    )
    print(
        f"first byte p50 {firsts[len(firsts) // 2]:.2f} s, max {firsts[-1]:.2f} s; "
        f"stream duration p50 {durations[len(durations) // 2]:.2f} s, max {durations[-1]:.2f} s"
    )
    print(
        f"GET /v1/parameters meanwhile: {len(latencies)} requests, p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms (goal <= 250 ms)"
    )
    print(
        f"CPU meanwhile: server {server_cpu:.1f} s ({server_cpu / wall:.0%} of one core; its event loop's "
        f"thread {loop_cpu:.1f} s, the database's threads {server_cpu - loop_cpu:.1f} s), "
        f"this client {client_cpu:.1f} s ({client_cpu / wall:.0%}); load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"server RSS {rss_before / 1024:.0f} MB before, {peak[0] / 1024:.0f} MB at the peak: "
        f"{per_stream:.0f} kB per open stream"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    if not 1 <= args.streams <= 2000:
        raise SystemExit("--streams must be between 1 and 2000")
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        cmd = [sys.executable, "-m", "impl.cli", "serve", "--demo", "--host", HOST, "--port", str(port),
               "--data-dir", str(Path(tmp) / "data"), "--log-level", "WARNING"]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://{HOST}:{port}/v1/", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the server did not come up")
                time.sleep(0.2)
            key = json.loads((Path(tmp) / "data" / "demo-keys.json").read_text())["chat"]
            asyncio.run(_run(port, key, proc.pid, args))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
