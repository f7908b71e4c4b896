"""SSE, scenario, isolation, auth and trace checks against the fake Dify, one broken behaviour at a time."""

from __future__ import annotations

import pytest
from fakes import KEYS, FakeDify, serve
from helpers import failing, fast_config, outcomes, run_suite

from conformance.model import Outcome

# Checks the fake implements end to end (it has no /meta, /site, files, ... so contract and auth on
# those operations are left to the reference-server tests).
FAKE_CHECKS = [
    "sse.*",
    "sdk.files-null",
    "sdk.default-blocking",
    "scenario.continuity",
    "scenario.rename-delete",
    "scenario.feedback",
    "scenario.stop",
    "pagination.*",
    "isolation.user",
    "trace.*",
]


def run_fake(**flags: object) -> dict[str, Outcome]:
    fake = FakeDify(**flags)
    with serve(fake.app) as url:
        cfg = fast_config(url, KEYS, only=FAKE_CHECKS)
        cfg.stop_query = "stop me"
        report = run_suite(cfg)
    verdicts: dict[str, Outcome] = {}
    for r in report.results:
        verdicts[f"{r.check_id}@{r.mode}:{r.operation}"] = r.outcome
    return verdicts


def worst(verdicts: dict[str, Outcome], check: str) -> Outcome:
    found = [o for k, o in verdicts.items() if k.startswith(check + "@")]
    assert found, f"{check} never ran"
    return max(found, key=lambda o: o.rank)


def test_a_well_behaved_fake_passes() -> None:
    verdicts = run_fake(tokens=12, token_delay=0.1)
    bad = {k: v for k, v in verdicts.items() if v is not Outcome.PASS}
    assert bad == {}


@pytest.mark.parametrize(
    ("flags", "check", "expected"),
    [
        ({"sse_content_type": "text/plain"}, "sse.content-type", Outcome.FAIL),
        ({"cache_control": False}, "sse.cache-control", Outcome.WARN),
        ({"accel_buffering": False}, "sse.accel-buffering", Outcome.WARN),
        ({"ping_as_data": True}, "sse.keepalive", Outcome.FAIL),
        ({"comment_keepalive": True}, "sse.keepalive", Outcome.FAIL),
        ({"drop_message_end": True}, "sse.grammar", Outcome.FAIL),
        ({"event_after_terminal": True}, "sse.grammar", Outcome.FAIL),
        ({"never_close": True}, "sse.terminates", Outcome.FAIL),
        ({"bad_event_field": True}, "sse.event-schema", Outcome.FAIL),
        ({"has_more_always_true": True}, "pagination.messages", Outcome.FAIL),
        ({"first_id_ignored": True}, "pagination.messages", Outcome.FAIL),
        ({"leak_other_user": True}, "isolation.user", Outcome.FAIL),
        ({"reject_trace_header": True}, "trace.header", Outcome.FAIL),
    ],
)
def test_each_fault_is_reported_by_its_check(flags: dict[str, object], check: str, expected: Outcome) -> None:
    assert worst(run_fake(**flags), check) is expected


def test_an_ignored_stop_is_caught() -> None:
    verdicts = run_fake(stop_ignored=True, tokens=30, token_delay=0.1)
    assert worst(verdicts, "scenario.stop") is Outcome.FAIL


def test_strict_headers_turns_the_warning_into_a_failure() -> None:
    fake = FakeDify(accel_buffering=False)
    with serve(fake.app) as url:
        report = run_suite(fast_config(url, KEYS, only=["sse.accel-buffering"], strict_headers=True))
    assert set(outcomes(report, "sse.accel-buffering").values()) == {Outcome.FAIL}
    finding = failing(report)[0].findings[-1]
    assert finding.curl and "curl" in finding.curl and "${DIFY_KEY_" in finding.curl
    assert finding.evidence and "text/event-stream" in finding.evidence


def test_sdk_framing_fails_by_default_and_warns_under_the_standard_profile() -> None:
    for flags in ({"data_without_space": True}, {"event_lines": True}):
        assert worst(run_fake(**flags), "sse.client-framing") is Outcome.FAIL
        assert worst(run_fake(**flags), "sse.framing") is Outcome.PASS  # the SSE standard allows both
    fake = FakeDify(data_without_space=True)
    with serve(fake.app) as url:
        report = run_suite(fast_config(url, KEYS, only=["sse.client-framing"], framing="standard"))
    assert set(outcomes(report, "sse.client-framing").values()) == {Outcome.WARN}


def test_a_held_back_stream_fails_incremental_delivery() -> None:
    assert worst(run_fake(tokens=30, token_delay=0.03), "sse.incremental") is Outcome.PASS
    assert worst(run_fake(tokens=30, token_delay=0.03, buffered=True), "sse.incremental") is Outcome.FAIL


def test_a_generation_too_fast_to_stop_is_inconclusive_not_a_pass() -> None:
    fake = FakeDify(tokens=3)
    with serve(fake.app) as url:
        report = run_suite(fast_config(url, {"chat": KEYS["chat"]}, only=["scenario.stop"]))
    (result,) = [r for r in report.results if r.check_id == "scenario.stop"]
    assert result.outcome is Outcome.INCONCLUSIVE and "too fast to stop" in result.summary()
    assert report.exit_code == 0
