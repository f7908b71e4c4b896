"""Mutation test: the reference server behind a fault-injecting proxy, one fault at a time.

Each fault must be reported (FAIL, or WARN for the advisory header checks) by the check that names it,
and with no fault the same checks pass through the proxy.
"""

from __future__ import annotations

import pytest
from conftest import Target
from fakes import serve
from fault_proxy import FAULTS, FaultProxy
from helpers import fast_config, run_suite

from conformance.model import Outcome

ADVISORY = {"sse.accel-buffering", "sse.cache-control"}
# Builtin-model markers: ~120 tokens, 50 ms apart, so a stop has something to interrupt.
STOP_QUERY = "[[delay:0.05]][[tokens:120]] Tell me a long story."
# Contract checks fuzz every operation; the faults touch /info and error bodies, so one operation each.
SCOPE = {
    "json-as-text-plain": ["contract.content-type@getChatAppInfo"],
    "required-field-missing": ["contract.response-schema@getChatAppInfo"],
    "envelope-without-code": ["contract.error-envelope@getConversationHistory"],
    "500-on-bad-input": ["contract.no-server-error@getConversationHistory"],
}


def verdicts(target: Target, fault: str | None, checks: list[str]) -> dict[str, Outcome]:
    proxy = FaultProxy(target.base_url, fault)
    with serve(proxy) as url:
        cfg = fast_config(url, {"chat": target.keys["chat"]}, only=checks)
        cfg.stop_query = STOP_QUERY
        cfg.limits.fuzz_examples = 8
        report = run_suite(cfg)
    out: dict[str, Outcome] = {}
    for r in report.results:
        prev = out.get(r.check_id, Outcome.SKIP)
        out[r.check_id] = max(prev, r.outcome, key=lambda o: o.rank)
    return out


def test_without_a_fault_every_named_check_passes_through_the_proxy(reference: Target) -> None:
    checks = sorted({c for f, c in FAULTS.items() if f not in SCOPE} | {s for v in SCOPE.values() for s in v})
    got = verdicts(reference, None, checks)
    assert {c: o for c, o in got.items() if o is not Outcome.PASS} == {}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_is_caught_by_the_check_that_names_it(reference: Target, fault: str) -> None:
    check = FAULTS[fault]
    got = verdicts(reference, fault, SCOPE.get(fault, [check]))
    expected = {Outcome.WARN, Outcome.FAIL} if check in ADVISORY else {Outcome.FAIL}
    assert got.get(check) in expected, got
