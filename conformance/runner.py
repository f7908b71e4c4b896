"""Run the suite: preflight, then every check group, then the reports."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import httpx

from conformance.checks import access, contract, scenarios, streams
from conformance.config import RunConfig
from conformance.context import Context, Listener
from conformance.model import Outcome, Result, count
from conformance.spec import Spec

EXIT_OK, EXIT_FAILED, EXIT_CANNOT_START = 0, 1, 2

GROUPS: tuple[tuple[str, Callable[[Context], None]], ...] = (
    ("auth", access.run_auth),
    ("sse", streams.run),
    ("scenario", scenarios.run),
    ("isolation", access.run_isolation),
    ("trace", access.run_trace),
    ("contract", contract.run),
)


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

    @property
    def totals(self) -> dict[Outcome, int]:
        return count(self.results)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.totals[Outcome.FAIL] else EXIT_OK


def preflight(config: RunConfig) -> dict[str, str]:
    """Every key must open its app (GET /info answers 200) and name the declared mode."""
    info: dict[str, str] = {}
    with httpx.Client(timeout=config.limits.request_timeout) as http:
        for mode, key in config.keys.items():
            url = config.base_url.rstrip("/") + "/info"
            try:
                r = http.get(url, headers={"Authorization": f"Bearer {key}"})
            except httpx.HTTPError as exc:
                raise CannotStart(
                    f"server unreachable at {config.base_url}: {type(exc).__name__}: {exc}"
                ) from exc
            if r.status_code in (401, 403):
                raise CannotStart(
                    f"the {mode} key was rejected: GET /info answered {r.status_code} {r.text[:200]}"
                )
            if r.status_code != 200:
                raise CannotStart(f"GET /info with the {mode} key answered {r.status_code}: {r.text[:200]}")
            try:
                body = r.json()
            except ValueError as exc:
                raise CannotStart(f"GET /info with the {mode} key did not answer JSON") from exc
            actual = body.get("mode") if isinstance(body, dict) else None
            if actual and actual != mode:
                raise CannotStart(f"the key given for {mode} belongs to a {actual} app")
            info[mode] = str(body.get("name", "")) if isinstance(body, dict) else ""
    return info


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
    server = preflight(config)
    started_at = time.time()
    start = time.monotonic()
    ctx = Context(config, spec)
    ctx.listeners.extend(listeners or [])
    try:
        for name, group in GROUPS:
            if on_group:
                on_group(name)
            group(ctx)
        results = ctx.results()
    finally:
        ctx.close()
    return Report(
        config, results, time.monotonic() - start, ctx.requests_sent + len(config.keys), server, started_at
    )
