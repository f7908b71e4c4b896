"""How long the core conformance profile takes against the reference server (target: under 2 minutes).

    python bench/conformance_core.py                       # starts `dify-service serve --demo` itself
    python bench/conformance_core.py --base-url URL --keys demo-keys.json

Baseline, measured in the same run: the same number of requests the suite sent, replayed as plain
`GET /info` calls through one httpx client. The ratio says how much of the suite's time is the
checks' own work (generation, streams, scenarios) rather than raw HTTP round trips.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from conformance.config import load_file  # noqa: E402
from conformance.model import Outcome  # noqa: E402
from conformance.runner import run  # noqa: E402


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "impl.cli",
        "serve",
        "--demo",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise SystemExit(f"the reference server exited with {proc.returncode}")
    keys = json.loads((data_dir / "demo-keys.json").read_text())
    return proc, base, keys


def baseline(base: str, key: str, n: int) -> float:
    with httpx.Client(timeout=10) as http:
        start = time.monotonic()
        for _ in range(n):
            http.get(base + "/info", headers={"Authorization": f"Bearer {key}"})
        return time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url")
    ap.add_argument("--keys", help="demo-keys.json of a running server")
    args = ap.parse_args()
    proc = None
    tmp = tempfile.TemporaryDirectory()
    try:
        if args.base_url:
            base, keys = args.base_url, json.loads(Path(args.keys).read_text())
        else:
            proc, base, keys = start_server(Path(tmp.name))
        cfg = load_file(REPO / "tests" / "conformance" / "reference.conformance.toml")
        cfg.base_url, cfg.keys = base, keys
        start = time.monotonic()
        report = run(cfg)
        suite = time.monotonic() - start
        raw = baseline(base, next(iter(keys.values())), report.requests)
        t = report.totals
        print(f"modes: {', '.join(sorted(keys))}; profile core; seed {cfg.seed}")
        print(
            f"results: {t[Outcome.PASS]} pass, {t[Outcome.FAIL]} fail, {t[Outcome.WARN]} warn, "
            f"{t[Outcome.INCONCLUSIVE]} inconclusive, {t[Outcome.SKIP]} skip"
        )
        print(
            f"core profile: {suite:.2f} s wall, {report.requests} requests "
            f"({'under' if suite < 120 else 'OVER'} the 120 s budget)"
        )
        print(f"baseline: the same {report.requests} requests as plain GET /info through httpx: {raw:.2f} s")
        print(f"ratio suite / baseline: {suite / raw:.1f}x")
        return 0 if suite < 120 and not t[Outcome.FAIL] else 1
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
