"""Outcomes, check descriptions and results: the vocabulary every layer of the suite shares."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from typing import Any


class Outcome(enum.StrEnum):
    """Verdict of one check on one operation."""

    PASS = "PASS"
    FAIL = "FAIL"
    WARN = "WARN"
    SKIP = "SKIP"
    # The check ran but the server gave it nothing to judge (for example a generation too quick to
    # stop): neither a pass nor a failure, and said so with the reason.
    INCONCLUSIVE = "INCONCLUSIVE"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Outcome.SKIP: 0, Outcome.PASS: 1, Outcome.INCONCLUSIVE: 2, Outcome.WARN: 3, Outcome.FAIL: 4}


class Target(enum.StrEnum):
    """Which operations a check applies to, for one app mode."""

    OPERATIONS = "operations"  # every operation the mode serves (`x-app-modes`)
    STREAMING = "streaming"  # operations whose 200 response is an event stream for that mode
    FIXED = "fixed"  # the operations listed in `CheckSpec.operations`


@dataclasses.dataclass(frozen=True)
class CheckSpec:
    """A registered check: stable id, one-line description, where it applies."""

    id: str
    group: str
    description: str
    target: Target
    operations: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ("core", "full")
    # Capability names (see config.schema.json) that must be declared for the check to run.
    requires: tuple[str, ...] = ()
    # Modes the check is meaningful for; empty means every mode.
    modes: tuple[str, ...] = ()


@dataclasses.dataclass
class Finding:
    """One observation made while running a check."""

    outcome: Outcome
    message: str
    curl: str | None = None
    evidence: str | None = None


@dataclasses.dataclass
class Result:
    """The verdict of one check for one (mode, operation) pair."""

    check_id: str
    mode: str
    operation: str
    description: str
    findings: list[Finding] = dataclasses.field(default_factory=list)
    duration: float = 0.0

    @property
    def outcome(self) -> Outcome:
        if not self.findings:
            return Outcome.SKIP
        worst = max(self.findings, key=lambda f: f.outcome.rank)
        return worst.outcome

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.check_id, self.mode, self.operation)

    def summary(self) -> str:
        """The first finding of the worst outcome (the line a report shows)."""
        outcome = self.outcome
        for finding in self.findings:
            if finding.outcome is outcome:
                return finding.message
        return "not exercised"

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check_id,
            "mode": self.mode,
            "operation": self.operation,
            "description": self.description,
            "outcome": self.outcome.value,
            "summary": self.summary(),
            "duration_s": round(self.duration, 3),
            "findings": [dataclasses.asdict(f) | {"outcome": f.outcome.value} for f in self.findings],
        }


def count(results: Iterable[Result]) -> dict[Outcome, int]:
    totals = dict.fromkeys(Outcome, 0)
    for result in results:
        totals[result.outcome] += 1
    return totals
