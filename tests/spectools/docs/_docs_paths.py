"""Paths the docs tests share (a module of its own: `conftest` is ambiguous in a full run)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "spec"
DOCS = ROOT / "docs"
MINI_SPEC = Path(__file__).resolve().parent / "fixtures" / "mini" / "spec"
