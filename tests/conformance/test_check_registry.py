"""Checks are plug-ins: each registered once with its catalog entry and a family the runner drives."""

from __future__ import annotations

import pytest

from conformance.catalog import BY_ID, CHECKS
from conformance.model import CheckSpec, Target
from conformance.registry import FAMILIES, REGISTRY, Registry


def test_every_check_has_one_entry_and_a_driver() -> None:
    assert len(BY_ID) == len(CHECKS)
    for entry in REGISTRY.entries():
        assert entry.family in FAMILIES
        # Only the fuzzer's verdicts come without a function of their own.
        assert (entry.fn is None) == (entry.family == "contract"), entry.spec.id
        assert entry.spec.description and entry.spec.group == entry.spec.id.split(".")[0]
        if entry.spec.target is Target.FIXED:
            assert entry.spec.operations, entry.spec.id


def test_an_id_cannot_be_registered_twice() -> None:
    registry = Registry()
    spec = CheckSpec("x.y", "x", "catches y", Target.OPERATIONS)
    registry.add(spec, "scenario", lambda ctx, mode: None)
    with pytest.raises(ValueError, match="twice"):
        registry.add(spec, "scenario", lambda ctx, mode: None)
    with pytest.raises(ValueError, match="family"):
        registry.add(CheckSpec("x.z", "x", "z", Target.OPERATIONS), "nope", None)
