"""The suite ships the spec it checks against: `conformance/_spec/` mirrors `spec/`."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_spec_is_the_repository_spec() -> None:
    for name in ("openapi.yaml", "events.schema.json"):
        shipped = ROOT / "conformance" / "_spec" / name
        assert shipped.is_file(), f"{shipped} is missing"
        assert shipped.read_bytes() == (ROOT / "spec" / name).read_bytes()
