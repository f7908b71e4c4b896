"""pytest plugin: `pytest --dify-base-url URL --dify-key chat=app-…` runs the conformance checks as tests.

One test item per (mode, operation, check), so CI sees the same matrix as the CLI's JUnit report.
The options can also come from the environment: DIFY_BASE_URL and DIFY_KEYS ("chat=app-…,completion=app-…").
Fixtures: `dify_run_config` (the RunConfig) and `dify_conformance_report` (the suite's report, run once).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from conformance.catalog import CHECKS
from conformance.config import ConfigError, RunConfig, load_file, parse_key
from conformance.context import build_plan
from conformance.model import Outcome
from conformance.runner import CannotStart, Report, run
from conformance.spec import Spec

_REPORT = pytest.StashKey[Report]()
_ERROR = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dify-conformance")
    group.addoption("--dify-base-url", default=None, help="Service API base URL (or DIFY_BASE_URL)")
    group.addoption(
        "--dify-key",
        action="append",
        default=[],
        metavar="MODE=KEY",
        help="app key per mode, repeatable (or DIFY_KEYS=mode=key,mode=key)",
    )
    group.addoption("--dify-profile", default=None, choices=["core", "full"])
    group.addoption("--dify-config", default=None, help="a conformance.toml")
    group.addoption(
        "--dify-only", action="append", default=[], help="glob over check ids / operations / modes"
    )
    group.addoption("--dify-spec", default=None, help="directory with openapi.yaml and events.schema.json")


def config_from(config: pytest.Config) -> RunConfig | None:
    opt = config.getoption
    path = opt("--dify-config")
    base = opt("--dify-base-url") or os.environ.get("DIFY_BASE_URL")
    if not path and not base:
        return None
    cfg = load_file(path) if path else RunConfig()
    if base:
        cfg.base_url = base
    keys = list(opt("--dify-key")) or [k for k in os.environ.get("DIFY_KEYS", "").split(",") if k]
    for text in keys:
        mode, key = parse_key(text)
        cfg.keys[mode] = key
    if opt("--dify-profile"):
        cfg.profile = opt("--dify-profile")
    cfg.only += list(opt("--dify-only"))
    if opt("--dify-spec"):
        cfg.spec = opt("--dify-spec")
    cfg.validate()
    return cfg


class ConformanceItem(pytest.Item):
    def __init__(self, *, check_id: str, mode: str, operation: str, description: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check_id, self.mode, self.operation, self.description = check_id, mode, operation, description

    def runtest(self) -> None:
        report = _report(self.config)
        result = next(r for r in report.results if r.key == (self.check_id, self.mode, self.operation))
        self.user_properties.append(("outcome", result.outcome.value))
        if result.outcome is Outcome.SKIP:
            pytest.skip(result.summary())
        if result.outcome is Outcome.INCONCLUSIVE:
            pytest.skip(f"inconclusive: {result.summary()}")
        if result.outcome is Outcome.FAIL:
            raise ConformanceFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ConformanceFailure):
            r = excinfo.value.result
            lines = [f"{r.check_id}: {r.description}"]
            for f in r.findings:
                if f.outcome is Outcome.FAIL:
                    lines.append(f"- {f.message}")
                    if f.curl:
                        lines.append(f"  reproduce: {f.curl}")
                    if f.evidence:
                        lines.append("  " + f.evidence.replace("\n", "\n  "))
            return "\n".join(lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int, str]:
        return "dify-conformance", 0, f"{self.mode}:{self.operation}::{self.check_id}"


class ConformanceFailure(Exception):
    def __init__(self, result: Any) -> None:
        super().__init__(result.summary())
        self.result = result


def _report(config: pytest.Config) -> Report:
    if _ERROR in config.stash:
        pytest.fail(config.stash[_ERROR], pytrace=False)
    if _REPORT not in config.stash:
        cfg = config_from(config)
        assert cfg is not None
        try:
            config.stash[_REPORT] = run(cfg)
        except (CannotStart, ConfigError) as exc:
            config.stash[_ERROR] = f"dify-conformance cannot start: {exc}"
            pytest.fail(config.stash[_ERROR], pytrace=False)
    return config.stash[_REPORT]


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    cfg = config_from(config)
    if cfg is None:
        return
    # The plan's keys do not depend on the discovered capabilities (those only turn entries into skips).
    plan, _ = build_plan(cfg, Spec(cfg.spec), CHECKS, {})
    for (check_id, mode, operation), result in sorted(plan.items()):
        items.append(
            ConformanceItem.from_parent(
                session,
                name=f"{mode}::{operation}::{check_id}",
                check_id=check_id,
                mode=mode,
                operation=operation,
                description=result.description,
            )
        )


@pytest.fixture(scope="session")
def dify_run_config(pytestconfig: pytest.Config) -> RunConfig:
    cfg = config_from(pytestconfig)
    if cfg is None:
        pytest.fail("no server given: pass --dify-base-url and --dify-key (or DIFY_BASE_URL / DIFY_KEYS)")
    return cfg


@pytest.fixture(scope="session")
def dify_conformance_report(pytestconfig: pytest.Config, dify_run_config: RunConfig) -> Report:
    return _report(pytestconfig)
