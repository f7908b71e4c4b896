"""Time building the whole docs site (every page, every language, HTML + Markdown).

Baseline, measured in the same run: loading the spec files alone (YAML + JSON parse), which
every build has to do.  Prints both times and the ratio; the target is a build under 5 s.

    .venv/bin/python bench/docs_build.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spectools.docs import build_site  # noqa: E402
from spectools.docs.spec import load_bundle  # noqa: E402

TARGET_S = 5.0


def _best(fn: object, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    spec, docs = ROOT / "spec", ROOT / "docs"
    with tempfile.TemporaryDirectory() as tmp:
        files: list[Path] = []

        def build() -> None:
            files[:] = build_site(spec, docs, Path(tmp) / "site")

        base_best, base_med = _best(lambda: load_bundle(spec), args.repeat)
        build_best, build_med = _best(build, args.repeat)
    print(f"baseline (load spec only): best {base_best:.3f} s, median {base_med:.3f} s")
    print(f"full build ({len(files)} files): best {build_best:.3f} s, median {build_med:.3f} s")
    print(f"ratio build/baseline: {build_best / base_best:.1f}x (best), {build_med / base_med:.1f}x (median)")
    print(f"target < {TARGET_S:.0f} s: {'ok' if build_med < TARGET_S else 'MISSED'}")
    return 0 if build_med < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
