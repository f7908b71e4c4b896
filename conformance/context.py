"""The run's shared state: config, spec, one client per app key, each app's capabilities, the plan, and the
recorder every check reports through."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from conformance.capabilities import OPERATION_CAPABILITIES, AppFeatures
from conformance.client import Api, Exchange, key_variable
from conformance.config import RunConfig
from conformance.model import CheckSpec, Finding, Outcome, Result, Target
from conformance.spec import Operation, Spec
from conformance.validate import ResponseValidator

Listener = Callable[[Result, Finding], None]
OBSERVED = "contract.observed"


def build_plan(
    config: RunConfig, spec: Spec, checks: tuple[CheckSpec, ...], features: dict[str, AppFeatures]
) -> tuple[dict[tuple[str, str, str], Result], dict[tuple[str, str, str], str]]:
    """Every (check, mode, operation) the run will report, and the ones skipped up front (with why)."""
    plan: dict[tuple[str, str, str], Result] = {}
    skipped: dict[tuple[str, str, str], str] = {}
    for mode in config.keys:
        served = spec.served_by(mode)
        app = features.get(mode)
        for check in checks:
            if config.profile not in check.profiles or (check.modes and mode not in check.modes):
                continue
            if check.target is Target.OPERATIONS:
                ops = served
            elif check.target is Target.STREAMING:
                ops = [op for op in served if op.streams_for(mode)]
            else:
                ops = [
                    spec.operations[o]
                    for o in check.operations
                    if o in spec.operations and mode in spec.operations[o].modes
                ]
            for op in ops:
                if not config.selected(check.id, op.operation_id, mode):
                    continue
                key = (check.id, mode, op.operation_id)
                plan[key] = Result(check.id, mode, op.operation_id, check.description)
                if app is None:
                    continue
                missing = [app.why_not(n) for n in check.requires if not app.has(n)]
                needed = OPERATION_CAPABILITIES.get(op.operation_id)
                if needed and app.lacks_endpoint(needed):
                    missing.append(app.why_not(needed))
                if missing:
                    skipped[key] = "; ".join(sorted(set(missing)))
    return plan, skipped


class Context:
    """Handed to every check; `record` is the one recorder of every verdict."""

    def __init__(
        self,
        config: RunConfig,
        spec: Spec,
        checks: tuple[CheckSpec, ...],
        features: dict[str, AppFeatures] | None = None,
    ) -> None:
        self.config = config
        self.spec = spec
        self.checks = {c.id: c for c in checks}
        self.features = features or {}
        secrets = {key: key_variable(mode) for mode, key in config.keys.items()}
        self.validator = ResponseValidator(spec, urlsplit(config.base_url).path)
        # (mode, operation) -> [(exchange, problems)] for every response seen outside the fuzzer.
        self.observed: dict[tuple[str, str], list[tuple[Exchange, list[str]]]] = {}
        self.apis = {
            mode: Api(
                config.base_url,
                key,
                mode,
                timeout=config.limits.request_timeout,
                secrets=secrets,
                observer=self._observer(mode),
            )
            for mode, key in config.keys.items()
        }
        self.plan, self.preskipped = build_plan(config, spec, checks, self.features)
        for key, reason in self.preskipped.items():
            self.plan[key].findings.append(Finding(Outcome.SKIP, reason))
        self.listeners: list[Listener] = []
        self.run_id = uuid.uuid4().hex[:8]
        self._users = itertools.count(1)
        self.cache: dict[tuple[str, str], Any] = {}
        self.extra_requests = 0

    def close(self) -> None:
        for api in self.apis.values():
            api.close()

    @property
    def requests_sent(self) -> int:
        return sum(api.requests_sent for api in self.apis.values()) + self.extra_requests

    # -- every response is checked against the spec -----------------------------------------------

    def _observer(self, mode: str) -> Callable[[Exchange], None]:
        def observe(ex: Exchange) -> None:
            if ex.status is None:
                return
            op = self.validator.operation(ex.method, ex.url)
            if op is None:
                return
            ctype = ex.response_headers.get("content-type", "")
            if ex.status == 200 and "text/event-stream" in ctype.lower():
                problems = self.validator.problems(op, ex.status, ctype, b"")
            else:
                problems = self.validator.problems(op, ex.status, ctype, ex.response_body)
            self.observed.setdefault((mode, op.operation_id), []).append((ex, problems))

        return observe

    # -- plan and results -------------------------------------------------------------------------

    def wanted(self, check_id: str, mode: str, operation: str) -> bool:
        key = (check_id, mode, operation)
        return key in self.plan and key not in self.preskipped

    def wanted_any(self, check_ids: tuple[str, ...] | list[str], mode: str, operation: str) -> bool:
        return any(self.wanted(c, mode, operation) for c in check_ids)

    def record(
        self,
        check_id: str,
        mode: str,
        operation: str,
        outcome: Outcome,
        message: str,
        exchange: Exchange | None = None,
        *,
        curl: str | None = None,
        evidence: str | None = None,
    ) -> None:
        key = (check_id, mode, operation)
        result = self.plan.get(key)
        if result is None or key in self.preskipped:
            return
        if exchange is not None and outcome in (Outcome.FAIL, Outcome.WARN, Outcome.INCONCLUSIVE):
            curl = curl or exchange.curl()
            evidence = evidence or exchange.evidence()
        finding = Finding(outcome, message, curl, evidence)
        result.findings.append(finding)
        for listener in self.listeners:
            listener(result, finding)

    def record_many(
        self,
        check_id: str,
        mode: str,
        operations: tuple[str, ...] | list[str],
        outcome: Outcome,
        message: str,
        exchange: Exchange | None = None,
        **kwargs: Any,
    ) -> None:
        for op in operations:
            self.record(check_id, mode, op, outcome, message, exchange, **kwargs)

    @contextmanager
    def timed(self, check_ids: list[str], mode: str, operation: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            spent = time.monotonic() - start
            for c in check_ids:
                r = self.plan.get((c, mode, operation))
                if r is not None:
                    r.duration += spent

    def results(self) -> list[Result]:
        out = []
        for result in self.plan.values():
            if not result.findings:
                result.findings.append(Finding(Outcome.SKIP, "not exercised by this run"))
            out.append(result)
        return sorted(out, key=lambda r: (r.mode, r.operation, r.check_id))

    # -- helpers for checks -------------------------------------------------------------------------

    def user(self, label: str = "u") -> str:
        return f"conformance-{self.run_id}-{label}-{next(self._users)}"

    def op(self, operation_id: str) -> Operation | None:
        return self.spec.operations.get(operation_id)

    def description(self, check_id: str) -> str:
        return self.checks[check_id].description

    def app(self, mode: str) -> AppFeatures:
        return self.features.get(mode) or AppFeatures(mode)

    def inputs(self, mode: str) -> dict[str, Any]:
        """Values for the app's required input variables, from its /parameters."""
        if ("inputs", mode) in self.cache:
            return dict(self.cache[("inputs", mode)])
        params = self.app(mode).parameters
        if not params:
            try:
                reply = self.apis[mode].call("GET", "/parameters")
                params = reply.json if isinstance(reply.json, dict) else {}
            except Exception:
                params = {}
        values: dict[str, Any] = {}
        form = params.get("user_input_form", [])
        for item in form if isinstance(form, list) else []:
            if not isinstance(item, dict) or len(item) != 1:
                continue
            kind, spec = next(iter(item.items()))
            if not isinstance(spec, dict) or not spec.get("required") or "variable" not in spec:
                continue
            if kind == "number":
                values[spec["variable"]] = 1
            elif kind == "select" and spec.get("options"):
                values[spec["variable"]] = spec["options"][0]
            elif kind in ("text-input", "paragraph"):
                limit = spec.get("max_length") or 10
                values[spec["variable"]] = "hello"[: max(1, int(limit))]
        self.cache[("inputs", mode)] = values
        return dict(values)
