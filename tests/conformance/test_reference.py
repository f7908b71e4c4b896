"""The suite against the reference server: every check of the core profile passes for every mode it serves."""

from __future__ import annotations

import time

from conftest import Target
from helpers import REPO, run_suite

from conformance.config import load_file
from conformance.model import Outcome


def test_core_profile_passes_against_the_reference_server(reference: Target) -> None:
    cfg = load_file(REPO / "tests" / "conformance" / "reference.conformance.toml")
    cfg.base_url = reference.base_url
    cfg.keys = dict(reference.keys)
    started = time.monotonic()
    report = run_suite(cfg)
    elapsed = time.monotonic() - started
    bad = [
        (r.check_id, r.mode, r.operation, r.summary())
        for r in report.results
        if r.outcome in (Outcome.FAIL, Outcome.WARN)
    ]
    assert bad == []
    assert elapsed < 120
    ran = {r.mode for r in report.results if r.outcome is Outcome.PASS}
    assert ran == set(reference.keys)
    # The stop scenario was really judged (the builtin model streamed long enough to be interrupted).
    assert {r.outcome for r in report.results if r.check_id == "scenario.stop"} == {Outcome.PASS}
