"""Per-run cost of a code node's sandbox (target: a trivial Python node <= 50 ms median).

    python bench/sandbox_overhead.py [--runs 40]

For a trivial `main` in Python and in JavaScript, the time from `run_code` to its result, with the
warm pool (`impl.sandbox`) refilled between runs as it is between nodes of a workflow. Baselines,
measured in the same run: the same `main` called in-process, and a plain `python3 -c pass` /
`node -e 0` subprocess (what any out-of-process design pays at least, without isolation).
Reported: medians in milliseconds, and the sandbox's ratio to the subprocess baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from impl.sandbox import Pool  # noqa: E402

CODE = {
    "python3": "def main(a: int, b: int) -> dict:\n    return {'sum': a + b}\n",
    "javascript": "function main({a, b}) {\n  return {sum: a + b};\n}\n",
}
PLAIN = {"python3": [sys.executable, "-I", "-S", "-c", "pass"], "javascript": ["node", "-e", "0"]}


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 4)


def in_process(runs: int) -> list[float]:
    scope: dict[str, object] = {}
    exec(CODE["python3"], scope)
    main = scope["main"]
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        assert callable(main) and main(a=1, b=2) == {"sum": 3}
        samples.append(time.perf_counter() - started)
    return samples


def plain_subprocess(language: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(PLAIN[language], check=True)
        samples.append(time.perf_counter() - started)
    return samples


async def sandboxed(pool: Pool, language: str, runs: int, pause: float) -> list[float]:
    pool.warm(language)
    await asyncio.sleep(1.0)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = await pool.run(language, CODE[language], {"a": 1, "b": 2})
        samples.append(time.perf_counter() - started)
        assert result == {"sum": 3}, result
        await asyncio.sleep(pause)  # let the pool start the replacement, as between nodes
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between runs (pool refill)")
    args = parser.parse_args()
    pool = Pool()
    try:
        print(f"in-process call            median {median_ms(in_process(args.runs)) * 1000:8.2f} µs")
        for language in ("python3", "javascript"):
            if language == "javascript" and shutil.which("node") is None:
                print("javascript: node is not installed; skipped")
                continue
            plain = median_ms(plain_subprocess(language, args.runs))
            boxed = median_ms(asyncio.run(sandboxed(pool, language, args.runs, args.pause)))
            cold_pool = Pool(size=0)
            cold = median_ms(asyncio.run(sandboxed(cold_pool, language, max(5, args.runs // 4), 0.0)))
            cold_pool.close()
            print(
                f"{language:11} sandbox (warm) median {boxed:8.2f} ms | no pool {cold:8.2f} ms | "
                f"plain subprocess {plain:8.2f} ms | warm/plain ratio {boxed / plain:5.2f}"
            )
    finally:
        pool.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
