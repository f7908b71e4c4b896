"""The check registry: every check function is registered once, together with its catalog entry.

A check module decorates each function with `@register(CheckSpec(...))`. The entry says what the check
catches (id, description, operations, needed capabilities); its family says which driver calls it:

| family     | driver                                    | the function's signature                          |
| ---------- | ----------------------------------------- | ------------------------------------------------- |
| `auth`     | once per (mode, operation)                | `fn(ctx, mode, operation)`                        |
| `stream`   | once per captured stream of an operation  | `fn(ctx, view)` with a `StreamView`               |
| `scenario` | once per mode                             | `fn(ctx, mode)`                                   |
| `contract` | the Schemathesis fuzzer (no own function) | `None`                                            |
| `observed` | after every other family has run          | `fn(ctx)`                                         |

The runner is a loop over the families in `FAMILIES` and, inside each, over the registered entries; no
check is wired by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from conformance.model import CheckSpec

FAMILIES = ("auth", "stream", "scenario", "contract", "observed")

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class Entry:
    spec: CheckSpec
    family: str
    fn: Callable[..., Any] | None


class Registry:
    """Ordered check entries by id; registering an id twice is an error."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def add(self, spec: CheckSpec, family: str, fn: Callable[..., Any] | None) -> None:
        if family not in FAMILIES:
            raise ValueError(f"unknown check family {family!r} for {spec.id}")
        if spec.id in self._entries:
            raise ValueError(f"check {spec.id} is registered twice")
        self._entries[spec.id] = Entry(spec, family, fn)

    def entries(self, family: str | None = None) -> list[Entry]:
        return [e for e in self._entries.values() if family is None or e.family == family]

    def specs(self) -> tuple[CheckSpec, ...]:
        return tuple(e.spec for e in self._entries.values())

    def get(self, check_id: str) -> Entry:
        return self._entries[check_id]


REGISTRY = Registry()


def register(spec: CheckSpec, family: str) -> Callable[[F], F]:
    """Decorator: `fn` is the check `spec.id` of `family`."""

    def deco(fn: F) -> F:
        REGISTRY.add(spec, family, fn)
        return fn

    return deco


def declare(spec: CheckSpec, family: str) -> None:
    """A check whose verdicts come from its family's driver (the contract fuzzer), not a function."""
    REGISTRY.add(spec, family, None)
