"""Run the suite in-process against a base URL and pick results out of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.config import RunConfig
from conformance.model import Outcome, Result
from conformance.runner import Report, run
from conformance.spec import Spec

REPO = Path(__file__).resolve().parents[2]
SPECS = Path(__file__).resolve().parent / "specs"


def fast_config(base_url: str, keys: dict[str, str], **overrides: Any) -> RunConfig:
    cfg = RunConfig(base_url=base_url, keys=dict(keys))
    cfg.limits.stream_deadline = 4.0
    cfg.limits.stream_idle_timeout = 2.0
    cfg.limits.close_grace = 0.6
    cfg.limits.request_timeout = 5.0
    cfg.limits.page_items = 5
    cfg.limits.stop_timeout = 1.0
    for name, value in overrides.items():
        setattr(cfg, name, value)
    return cfg


def run_suite(cfg: RunConfig, spec: Spec | None = None) -> Report:
    return run(cfg, spec=spec or Spec(REPO / "spec"))


def outcomes(report: Report, check_id: str, mode: str | None = None) -> dict[str, Outcome]:
    """operation (prefixed by mode when not given) -> outcome for one check."""
    out = {}
    for r in report.results:
        if r.check_id == check_id and (mode is None or r.mode == mode):
            out[r.operation if mode else f"{r.mode}:{r.operation}"] = r.outcome
    return out


def failing(report: Report) -> list[Result]:
    return [r for r in report.results if r.outcome in (Outcome.FAIL, Outcome.WARN)]
