"""The run's shared state: config, spec, one client per app key, the plan and the results."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from conformance.catalog import BY_ID, CHECKS, OPERATION_CAPABILITIES
from conformance.client import Api, Exchange, Reply, key_variable
from conformance.config import RunConfig
from conformance.model import Finding, Outcome, Result, Target
from conformance.spec import Operation, Spec

Listener = Callable[[Result, Finding], None]


def build_plan(
    config: RunConfig, spec: Spec
) -> tuple[dict[tuple[str, str, str], Result], dict[tuple[str, str, str], str]]:
    """Every (check, mode, operation) the run will report, and the ones skipped up front."""
    plan: dict[tuple[str, str, str], Result] = {}
    skipped: dict[tuple[str, str, str], str] = {}
    for mode in config.keys:
        served = spec.served_by(mode)
        for check in CHECKS:
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
                needs = [*check.requires]
                if op.operation_id in OPERATION_CAPABILITIES:
                    needs.append(OPERATION_CAPABILITIES[op.operation_id])
                missing = sorted({n for n in needs if not config.capabilities.has(n)})
                if missing:
                    skipped[key] = f"capability not declared: {', '.join(missing)}"
    return plan, skipped


class Context:
    """Handed to every check runner."""

    def __init__(self, config: RunConfig, spec: Spec) -> None:
        self.config = config
        self.spec = spec
        secrets = {key: key_variable(mode) for mode, key in config.keys.items()}
        self.apis = {
            mode: Api(config.base_url, key, mode, timeout=config.limits.request_timeout, secrets=secrets)
            for mode, key in config.keys.items()
        }
        self.plan, self.preskipped = build_plan(config, spec)
        for key, reason in self.preskipped.items():
            self.plan[key].findings.append(Finding(Outcome.SKIP, reason))
        self.listeners: list[Listener] = []
        self.run_id = uuid.uuid4().hex[:8]
        self._users = itertools.count(1)
        self._inputs: dict[str, dict[str, Any]] = {}
        self.extra_requests = 0

    def close(self) -> None:
        for api in self.apis.values():
            api.close()

    @property
    def requests_sent(self) -> int:
        return sum(api.requests_sent for api in self.apis.values()) + self.extra_requests

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
        if exchange is not None and outcome in (Outcome.FAIL, Outcome.WARN):
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
        return BY_ID[check_id].description

    def inputs(self, mode: str) -> dict[str, Any]:
        """Values for the app's required input variables, from GET /parameters."""
        if mode in self._inputs:
            return self._inputs[mode]
        values: dict[str, Any] = {}
        try:
            reply: Reply | None = self.apis[mode].call("GET", "/parameters")
        except Exception:
            reply = None
        form = reply.json.get("user_input_form", []) if reply and isinstance(reply.json, dict) else []
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
        self._inputs[mode] = values
        return values
