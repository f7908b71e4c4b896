"""Small judgments the scenarios rely on."""

from __future__ import annotations

from conformance.checks.scenarios import _same_value


def test_a_listed_conversation_variable_matches_the_value_sent() -> None:
    assert _same_value({"k": "v"}, {"k": "v"})
    assert _same_value('{"k": "v"}', {"k": "v"})  # listed as JSON text
    assert _same_value("3", 3) and _same_value("updated", "updated")
    assert not _same_value("stale", "updated")
    assert not _same_value("{'k': 'v'}", {"k": "v"})
    assert not _same_value(None, 3)
