#!/usr/bin/env python3
"""Set up and run the project with nothing but python3 on the machine.

    python3 dev.py serve     # reference server with one demo app per mode, on embedded SQLite
    python3 dev.py test      # the whole test suite: lint, types, pytest
    python3 dev.py install   # only the virtualenv with the project (dify-service, dify-conformance)

Both commands first make sure that `.venv/` exists and holds the project with its
development extras, that the npm tools of `package.json` are installed, and (for `test`,
when running as root) that the Debian packages the tests need are present.  Each step is
skipped when its inputs have not changed since the last run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMPS = VENV / ".stamps"

# Debian packages the test suite drives for real, each with a path that shows it is installed.
DEBIAN_PACKAGES = {
    "postgresql": "/usr/lib/postgresql",
    "chromium": "/usr/bin/chromium",
    "fonts-noto-cjk": "/usr/share/fonts/opentype/noto",
    "espeak-ng": "/usr/bin/espeak-ng",
    "lame": "/usr/bin/lame",
    "redis-server": "/usr/bin/redis-server",
    # The code-node sandbox (impl/sandbox): the box, its seccomp filter, and the JavaScript and
    # Python interpreters user code runs on when the server's own cannot be bound into the box.
    "bubblewrap": "/usr/bin/bwrap",
    "libseccomp2": "/usr/lib/x86_64-linux-gnu/libseccomp.so.2",
    "nodejs": "/usr/bin/node",
    "python3": "/usr/bin/python3",
}

# Folders holding a package.json + package-lock.json whose tools or SDKs the tests run.
NPM_DIRS = [ROOT, ROOT / "tests" / "impl" / "sdk" / "node"]


def _run(cmd: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=cwd, env=env)


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()


def _stamped(name: str, digest: str) -> bool:
    stamp = STAMPS / name
    return stamp.exists() and stamp.read_text() == digest


def _stamp(name: str, digest: str) -> None:
    STAMPS.mkdir(parents=True, exist_ok=True)
    (STAMPS / name).write_text(digest)


def ensure_venv() -> None:
    if not (BIN / "python").exists():
        _run([sys.executable, "-m", "venv", str(VENV)])
    digest = _digest(ROOT / "pyproject.toml", ROOT / "conformance" / "pyproject.toml")
    if not _stamped("pip", digest):
        _run([str(BIN / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"])
        # Two distributions from this repository: the conformance suite (it installs on its own)
        # and the server with the development tools.
        _run([str(BIN / "python"), "-m", "pip", "install", "-q", "-e", "./conformance", "-e", ".[dev]"])
        _stamp("pip", digest)


def ensure_npm() -> None:
    for folder in NPM_DIRS:
        if not (folder / "package.json").exists():
            continue
        digest = _digest(folder / "package.json", folder / "package-lock.json")
        name = "npm-" + hashlib.sha256(str(folder.relative_to(ROOT)).encode()).hexdigest()[:12]
        if _stamped(name, digest) and (folder / "node_modules").exists():
            continue
        if shutil.which("npm") is None:
            sys.exit("npm is needed by the tests (spec gate, the Node SDK); install Node.js 20+")
        _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder)
        _stamp(name, digest)


def ensure_debian() -> None:
    missing = [name for name, marker in DEBIAN_PACKAGES.items() if not Path(marker).exists()]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit(f"the tests need these Debian packages: {' '.join(missing)}; install them first")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], env=env)
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)


def serve(args: list[str]) -> int:
    ensure_venv()
    argv = [str(BIN / "dify-service"), "serve", *(args or ["--demo"])]
    print("+", " ".join(argv), flush=True)
    os.execv(argv[0], argv)


def test(args: list[str]) -> int:
    ensure_venv()
    ensure_npm()
    ensure_debian()
    _run([str(BIN / "ruff"), "check", "."])
    _run([str(BIN / "ruff"), "format", "--check", "."])
    _run([str(BIN / "mypy")])
    result = subprocess.run([str(BIN / "pytest"), *args], cwd=ROOT)
    if result.returncode == 5:
        print("pytest collected no tests: that is a failure here", file=sys.stderr)
        return 1
    return result.returncode


def install(_args: list[str]) -> int:
    ensure_venv()
    print(f"installed: {BIN}/dify-service and {BIN}/dify-conformance")
    return 0


def main() -> int:
    commands = {"serve": serve, "test": test, "install": install}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    try:
        return commands[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1


if __name__ == "__main__":
    sys.exit(main())
