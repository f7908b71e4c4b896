"""`dify-docs`: build, check and bundle from the command line (and the `dify-service` shims)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, module: str = "spectools.cli") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_build_writes_the_site_and_refuses_an_unknown_language(tmp_path: Path) -> None:
    out = tmp_path / "site"
    done = _run("build", "--lang", "ja", "--out", str(out), "--base-url", "https://dify.example/v1")
    assert done.returncode == 0, done.stderr
    assert "https://dify.example/v1/workflows/run" in (out / "ja" / "workflow.html").read_text()
    assert (out / "ja" / "completion.md").is_file() and not (out / "en").exists()
    bad = _run("build", "--lang", "xx", "--out", str(out))
    assert bad.returncode == 1 and "xx" in bad.stderr


def test_check_passes_on_the_repository() -> None:
    done = _run("check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "complete and fresh" in done.stdout


def test_bundle_and_its_dify_service_shim(tmp_path: Path) -> None:
    done = _run("bundle", "--out", str(tmp_path / "a"))
    assert done.returncode == 0, done.stderr
    shim = _run("spec", "bundle", "--out", str(tmp_path / "b"), module="impl.cli")
    assert shim.returncode == 0, shim.stderr
    for name in ("openapi.bundled.json", "openapi.deref.json", "events.schema.json"):
        a, b = (json.loads((tmp_path / d / name).read_text()) for d in ("a", "b"))
        assert a == b
