"""The two distributions of this repository install and work as a user installs them.

* `pip install .` (no extras) into a fresh virtualenv serves the demo apps and completes a chat:
  every runtime dependency is declared (SQLAlchemy's async engine needs greenlet, which the dev
  extras used to bring by accident) and the spec and demo apps ship inside the package.
* `pip install ./conformance` into another fresh virtualenv installs the suite without the
  server's dependencies and runs it against a live server.

Both build wheels from this checkout, so they take a minute or two; pip's cache keeps repeated
runs cheap.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support.server import LiveServer, free_port

ROOT = Path(__file__).resolve().parents[1]


def _venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    return where / "bin"


def _pip_install(bin_dir: Path, target: Path, build_root: Path) -> None:
    # Build from a copy of the sources so the checkout gets no build/ or egg-info folders.
    source = build_root / target.name
    shutil.copytree(target, source, symlinks=False, ignore=shutil.ignore_patterns(
        ".venv", "node_modules", ".git", "build", "*.egg-info", "__pycache__", "data", ".mypy_cache",
        ".ruff_cache", ".pytest_cache", "test-artifacts",
    ))  # fmt: skip
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(source)], check=True)


def _clean_env() -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH pointing into this checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _imports(bin_dir: Path, module: str) -> bool:
    probe = subprocess.run(
        [str(bin_dir / "python"), "-c", f"import {module}"], capture_output=True, env=_clean_env(), cwd="/"
    )
    return probe.returncode == 0


@pytest.mark.slow
def test_plain_install_serves_a_chat(tmp_path: Path) -> None:
    bin_dir = _venv(tmp_path / "venv")
    _pip_install(bin_dir, ROOT, tmp_path / "src")
    assert not _imports(bin_dir, "pytest"), "the plain install must not pull in the dev extras"
    data_dir = tmp_path / "data"
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [
                str(bin_dir / "dify-service"),
                "serve",
                "--demo",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            cwd=tmp_path,  # outside the checkout: everything must come from the installed package
            env=_clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        keys = json.loads((data_dir / "demo-keys.json").read_text())
        reply = httpx.post(
            f"{base}/chat-messages",
            headers={"Authorization": f"Bearer {keys['chat']}"},
            json={"query": "Hello", "inputs": {"name": "Ada"}, "user": "pkg", "response_mode": "blocking"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["event"] == "message" and body["answer"].strip()
    finally:
        server.terminate()
        server.wait(timeout=15)


@pytest.mark.slow
def test_conformance_installs_alone_and_runs(tmp_path: Path, live_server: LiveServer) -> None:
    bin_dir = _venv(tmp_path / "venv")
    _pip_install(bin_dir, ROOT / "conformance", tmp_path / "src")
    assert _imports(bin_dir, "conformance")
    for server_only in ("impl", "connexion", "sqlalchemy", "alembic", "aiosqlite", "psycopg"):
        assert not _imports(bin_dir, server_only), f"{server_only} came with the conformance suite"
    run = subprocess.run(
        [
            str(bin_dir / "dify-conformance"),
            "run",
            "--base-url",
            live_server.base_url,
            "--key",
            f"chat={live_server.keys['chat']}",
            "--only",
            "sse.*",
            "--report",
            "json",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(next((tmp_path / "report").glob("*.json")).read_text())
    outcomes = {result["outcome"] for result in report["results"]}
    assert report["exit_code"] == 0 and "PASS" in outcomes and "FAIL" not in outcomes, report["totals"]


@pytest.mark.parametrize(
    ("shipped", "source"),
    [
        ("impl/_spec/openapi.yaml", "spec/openapi.yaml"),
        ("impl/_spec/events.schema.json", "spec/events.schema.json"),
        ("impl/_examples", "examples/apps"),
        ("spectools/_spec", "spec"),
        ("spectools/_docs", "docs"),
    ],
)
def test_shipped_data_is_the_repository_data(shipped: str, source: str) -> None:
    """What the packages ship is the repository's own spec, docs sources and demo apps (links)."""
    assert (ROOT / shipped).resolve() == (ROOT / source).resolve()
