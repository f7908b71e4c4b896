"""Run the suite: preflight and capability discovery, then a loop over the registered checks by family,
then the reports."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import httpx

from conformance.capabilities import AppFeatures, discover
from conformance.catalog import CHECKS
from conformance.checks import contract, streams
from conformance.config import RunConfig
from conformance.context import Context, Listener
from conformance.model import Outcome, Result, count
from conformance.registry import FAMILIES, REGISTRY
from conformance.spec import Spec

EXIT_OK, EXIT_FAILED, EXIT_CANNOT_START = 0, 1, 2


class CannotStart(Exception):
    """The run cannot start: the server is unreachable or a key is rejected."""


@dataclasses.dataclass
class Report:
    config: RunConfig
    results: list[Result]
    duration: float
    requests: int
    server: dict[str, str]
    started_at: float
    capabilities: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def totals(self) -> dict[Outcome, int]:
        return count(self.results)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.totals[Outcome.FAIL] else EXIT_OK


def _get(http: httpx.Client, config: RunConfig, mode: str, key: str, path: str) -> httpx.Response:
    url = config.base_url.rstrip("/") + path
    try:
        return http.get(url, headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError as exc:
        raise CannotStart(f"server unreachable at {config.base_url}: {type(exc).__name__}: {exc}") from exc


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


def preflight(config: RunConfig) -> tuple[dict[str, str], dict[str, AppFeatures]]:
    """Every key must open its app (GET /info answers 200 and names the declared mode); then each app's
    capabilities are read from its /parameters and /meta."""
    info: dict[str, str] = {}
    features: dict[str, AppFeatures] = {}
    with httpx.Client(timeout=config.limits.request_timeout) as http:
        for mode, key in config.keys.items():
            r = _get(http, config, mode, key, "/info")
            if r.status_code in (401, 403):
                raise CannotStart(
                    f"the {mode} key was rejected: GET /info answered {r.status_code} {r.text[:200]}"
                )
            if r.status_code != 200:
                raise CannotStart(f"GET /info with the {mode} key answered {r.status_code}: {r.text[:200]}")
            body = _json(r)
            if body is None:
                raise CannotStart(f"GET /info with the {mode} key did not answer JSON")
            actual = body.get("mode") if isinstance(body, dict) else None
            if actual and actual != mode:
                raise CannotStart(f"the key given for {mode} belongs to a {actual} app")
            info[mode] = str(body.get("name", "")) if isinstance(body, dict) else ""
            params = _get(http, config, mode, key, "/parameters")
            meta = _get(http, config, mode, key, "/meta")
            features[mode] = discover(
                mode,
                _json(params) if params.status_code == 200 else None,
                _json(meta) if meta.status_code == 200 else None,
                config.capabilities,
            )
    return info, features


def _run_auth(ctx: Context) -> None:
    for entry in REGISTRY.entries("auth"):
        for mode in ctx.config.keys:
            for op in ctx.spec.served_by(mode):
                if entry.fn is not None and ctx.wanted(entry.spec.id, mode, op.operation_id):
                    with ctx.timed([entry.spec.id], mode, op.operation_id):
                        entry.fn(ctx, mode, op.operation_id)


def _run_scenarios(ctx: Context) -> None:
    for mode in ctx.config.keys:
        for entry in REGISTRY.entries("scenario"):
            ops = [o for o in entry.spec.operations if ctx.wanted(entry.spec.id, mode, o)]
            if entry.fn is None or not ops:
                continue
            with ctx.timed([entry.spec.id], mode, ops[0]):
                entry.fn(ctx, mode)


def _run_observed(ctx: Context) -> None:
    for entry in REGISTRY.entries("observed"):
        if entry.fn is not None:
            entry.fn(ctx)


DRIVERS: dict[str, Callable[[Context], None]] = {
    "auth": _run_auth,
    "stream": streams.drive,
    "scenario": _run_scenarios,
    "contract": contract.drive,
    "observed": _run_observed,
}
assert tuple(DRIVERS) == FAMILIES


def run(
    config: RunConfig,
    *,
    spec: Spec | None = None,
    listeners: list[Listener] | None = None,
    on_group: Callable[[str], None] | None = None,
) -> Report:
    """Run the whole suite; raises CannotStart (exit code 2) before any check when it cannot."""
    config.validate()
    spec = spec or Spec(config.spec)
    server, features = preflight(config)
    started_at = time.time()
    start = time.monotonic()
    ctx = Context(config, spec, CHECKS, features)
    ctx.listeners.extend(listeners or [])
    try:
        for family, driver in DRIVERS.items():
            if on_group:
                on_group(family)
            driver(ctx)
        results = ctx.results()
    finally:
        ctx.close()
    requests = ctx.requests_sent + 3 * len(config.keys)
    caps = {mode: f.summary() for mode, f in features.items()}
    return Report(config, results, time.monotonic() - start, requests, server, started_at, caps)
