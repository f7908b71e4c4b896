"""Mutation test: the reference server behind a fault-injecting proxy, one fault at a time.

The suite runs as a new implementer runs it: keys only, no capability declared (the chat app's file
upload, for one, is discovered from its /parameters). Each fault must be reported (FAIL, or WARN for the
advisory header checks) by the check that names it, and with no fault the same checks pass through the
proxy.
"""

from __future__ import annotations

import pytest
from conftest import Target
from fakes import serve
from fault_proxy import FAULT_MODES, FAULTS, FaultProxy
from helpers import fast_config, run_suite

from conformance.model import Outcome

ADVISORY = {"sse.accel-buffering", "sse.cache-control"}
# Builtin-model markers: ~120 tokens, 50 ms apart, so a stop has something to interrupt and incremental
# delivery something to measure.
STOP_QUERY = "[[delay:0.05]][[tokens:120]] Tell me a long story."
# Contract checks fuzz or observe every operation; these faults touch one operation each.
SCOPE = {
    "json-as-text-plain": ["contract.content-type@getChatAppInfo"],
    "required-field-missing": ["contract.response-schema@getChatAppInfo"],
    "envelope-without-code": ["contract.error-envelope@getConversationHistory"],
    "500-on-bad-input": ["contract.no-server-error@getConversationHistory"],
    "iso-timestamps-in-list": ["scenario.rename-delete", "contract.observed@getConversationsList"],
    "iso-timestamp-on-rename": ["scenario.rename-delete", "contract.observed@renameConversation"],
}


def verdicts(target: Target, fault: str | None, checks: list[str], mode: str = "chat") -> dict[str, Outcome]:
    proxy = FaultProxy(target.base_url, fault)
    with serve(proxy) as url:
        cfg = fast_config(url, {mode: target.keys[mode]}, only=checks)
        cfg.stop_query = STOP_QUERY
        cfg.limits.fuzz_examples = 8
        cfg.limits.stream_deadline = 12.0
        report = run_suite(cfg)
    out: dict[str, Outcome] = {}
    for r in report.results:
        prev = out.get(r.check_id, Outcome.SKIP)
        out[r.check_id] = max(prev, r.outcome, key=lambda o: o.rank)
    return out


def _named(mode: str) -> list[str]:
    faults = [f for f in FAULTS if FAULT_MODES.get(f, "chat") == mode]
    scoped = {s for f in faults for s in SCOPE.get(f, [])}
    return sorted({FAULTS[f] for f in faults if f not in SCOPE} | scoped)


@pytest.mark.parametrize("mode", sorted({"chat", *FAULT_MODES.values()}))
def test_without_a_fault_every_named_check_passes_through_the_proxy(reference: Target, mode: str) -> None:
    got = verdicts(reference, None, _named(mode), mode)
    assert {c: o for c, o in got.items() if o is not Outcome.PASS} == {}
    assert set(got) >= {FAULTS[f] for f in FAULTS if FAULT_MODES.get(f, "chat") == mode}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_is_caught_by_the_check_that_names_it(reference: Target, fault: str) -> None:
    check = FAULTS[fault]
    got = verdicts(reference, fault, SCOPE.get(fault, [check]), FAULT_MODES.get(fault, "chat"))
    expected = {Outcome.WARN, Outcome.FAIL} if check in ADVISORY else {Outcome.FAIL}
    assert got.get(check) in expected, got
