"""Paths and helpers of the spec gate (imported by its conftest and tests)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT / "spec"
OPENAPI = SPEC_DIR / "openapi.yaml"
EVENTS = SPEC_DIR / "events.schema.json"
DEVIATIONS = SPEC_DIR / "DEVIATIONS.md"
# Names, types and enums of Dify's Service API (derived from Dify's published OpenAPI document, all
# prose removed); a copy lives in the repository so CI needs nothing outside it.
WIRE_CONTRACT = Path(__file__).resolve().parent / "reference" / "dify-wire-contract.json"
NODE_BIN = ROOT / "node_modules" / ".bin"

# Keep the Node tools quiet and offline: no telemetry, no update checks, no colours.
NODE_ENV = {
    **os.environ,
    "REDOCLY_TELEMETRY": "off",
    "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
    "NO_UPDATE_NOTIFIER": "1",
    "NO_COLOR": "1",
    "FORCE_COLOR": "0",
}


def require(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.fail(f"{what} is missing: {path}", pytrace=False)
    return path


def node_tool(name: str) -> Path:
    """Path of a pinned Node tool; fails (never skips) with a hint when `npm ci` has not run."""
    tool = NODE_BIN / name
    if not tool.exists():
        pytest.fail(
            f"{tool} is missing: run `npm ci` in {ROOT} (python3 dev.py test does it for you)",
            pytrace=False,
        )
    return tool


def run(cmd: list[str | Path], cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=NODE_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
