"""Check SSE event sequences against the stream grammars of ``spec/events.schema.json``.

The grammar format is described in the schema file's top-level ``description``. In short, each
entry of ``x-stream-grammars`` is a finite-state machine over event names plus three side rules:
a keep-alive rule, container nesting (iterations and loops) and events that Dify itself sends
after the terminal event.

This module is pure: it reads parsed JSON and returns violations. It never imports ``impl``.

Typical use::

    doc = load_events_document("spec/events.schema.json")
    grammar = load_grammar(doc, "chat")
    for v in check_sequence(grammar, events):
        print(v.id, v.index, v.message)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "END_STATE",
    "EventValidator",
    "Grammar",
    "GrammarError",
    "NestingRule",
    "Violation",
    "check_sequence",
    "endings_matched",
    "load_events_document",
    "load_grammar",
    "load_grammars",
]

END_STATE = "end"
"""Reserved state reached by a terminal event; it accepts the close and has no transitions."""

VIOLATION_IDS = frozenset(
    {
        "opening",
        "order",
        "terminal-missing",
        "terminal-multiple",
        "after-terminal",
        "unknown-event",
        "unbalanced-iteration",
        "unbalanced-loop",
        "keepalive-early",
    }
)

Source = Mapping[str, Any] | str | Path


class GrammarError(ValueError):
    """The grammar data in the events document is malformed."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: a stable short ``id``, the index of the offending event, a one-line message.

    ``index`` equals ``len(events)`` for problems found at the end of the stream (``terminal-missing``,
    containers left open when the stream closed).
    """

    id: str
    index: int
    message: str

    def __str__(self) -> str:
        return f"[{self.id}] event #{self.index}: {self.message}"


@dataclass(frozen=True)
class NestingRule:
    """A container kind (iteration or loop) whose open/step/close events must pair up by ``key``."""

    open: str
    step: frozenset[str]
    close: str
    key: str
    member: str
    violation: str


@dataclass(frozen=True)
class Grammar:
    """An executable stream grammar (one entry of ``x-stream-grammars``)."""

    name: str
    initial: str
    transitions: Mapping[str, Mapping[str, str]]
    accepting: frozenset[str]
    terminal: frozenset[str]
    events: frozenset[str]
    keepalive: str
    idle_seconds: float
    nesting: tuple[NestingRule, ...] = ()
    closed_by_event: str | None = None
    closed_by_field: str | None = None
    closed_by_values: frozenset[str] = field(default_factory=frozenset)
    tolerated_after_terminal: frozenset[str] = field(default_factory=frozenset)
    modes: tuple[str, ...] = ()
    endings: Mapping[str, tuple[tuple[Mapping[str, str], ...], ...]] = field(default_factory=dict)

    @property
    def opening(self) -> frozenset[str]:
        """Events allowed as the first non-keepalive event."""
        return frozenset(self.transitions[self.initial])


# --------------------------------------------------------------------------- loading


def load_events_document(source: Source) -> Mapping[str, Any]:
    """Return the parsed events document given the parsed JSON itself or a path to it."""
    if isinstance(source, Mapping):
        return source
    with Path(source).open(encoding="utf-8") as fh:
        loaded = json.load(fh)
    if not isinstance(loaded, dict):
        raise GrammarError(f"{source}: top level is not a JSON object")
    return loaded


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GrammarError(f"{where}: expected a list of strings")
    return list(value)


def _union_events(doc: Mapping[str, Any], pointer: str) -> frozenset[str] | None:
    """Event names of a ``#/$defs/stream_*`` union (``None`` if the document lacks it)."""
    prefix = "#/$defs/"
    if not pointer.startswith(prefix):
        raise GrammarError(f"union pointer {pointer!r} must start with {prefix!r}")
    union = doc.get("$defs", {}).get(pointer[len(prefix) :])
    if not isinstance(union, Mapping):
        return None
    names: set[str] = set()
    for member in union.get("oneOf", []):
        ref = member.get("$ref", "") if isinstance(member, Mapping) else ""
        if not ref.startswith(prefix):
            raise GrammarError(f"{pointer}: union members must be $refs into #/$defs")
        names.add(ref[len(prefix) :])
    return frozenset(names)


def _grammar_from_data(name: str, data: Mapping[str, Any], doc: Mapping[str, Any]) -> Grammar:
    where = f"x-stream-grammars/{name}"
    states = data.get("states")
    initial = data.get("initial")
    if not isinstance(states, Mapping) or not isinstance(initial, str) or initial not in states:
        raise GrammarError(f"{where}: needs `states` and an `initial` state that exists")
    if END_STATE in states:
        raise GrammarError(f"{where}: `{END_STATE}` is reserved")
    transitions: dict[str, dict[str, str]] = {}
    accepting = {END_STATE}
    produced: set[str] = set()
    to_end: set[str] = set()
    for state, body in states.items():
        if not isinstance(body, Mapping) or not isinstance(body.get("on"), Mapping):
            raise GrammarError(f"{where}/states/{state}: needs an `on` map")
        moves: dict[str, str] = {}
        for event, target in body["on"].items():
            if target != END_STATE and target not in states:
                raise GrammarError(f"{where}/states/{state}: unknown target state {target!r}")
            moves[str(event)] = str(target)
            produced.add(str(event))
            if target == END_STATE:
                to_end.add(str(event))
        transitions[str(state)] = moves
        if body.get("accept") is True:
            accepting.add(str(state))
    transitions[END_STATE] = {}
    terminal = set(_str_list(data.get("terminal", []), f"{where}/terminal"))
    if terminal != to_end:
        raise GrammarError(
            f"{where}: `terminal` {sorted(terminal)} != events leading to `end` {sorted(to_end)}"
        )
    keep = data.get("keepalive", {})
    keepalive = str(keep.get("event", "ping"))
    idle = float(keep.get("idle_seconds", 10))
    rules = tuple(
        NestingRule(
            open=str(r["open"]),
            step=frozenset(_str_list(r.get("step", []), f"{where}/nesting")),
            close=str(r["close"]),
            key=str(r["key"]),
            member=str(r["member"]),
            violation=str(r["violation"]),
        )
        for r in data.get("nesting", [])
    )
    closed_by = data.get("nesting_closed_by") or {}
    events = frozenset(produced | {keepalive})
    union_ptr = data.get("union")
    if isinstance(union_ptr, str):
        union = _union_events(doc, union_ptr)
        if union is not None and union != events:
            diff = sorted(union ^ events)
            raise GrammarError(f"{where}: union {union_ptr} differs from the grammar's events: {diff}")
    return Grammar(
        name=name,
        initial=initial,
        transitions=transitions,
        accepting=frozenset(accepting),
        terminal=frozenset(terminal),
        events=events,
        keepalive=keepalive,
        idle_seconds=idle,
        nesting=rules,
        closed_by_event=closed_by.get("event"),
        closed_by_field=closed_by.get("field"),
        closed_by_values=frozenset(_str_list(closed_by.get("values", []), f"{where}/nesting_closed_by")),
        tolerated_after_terminal=frozenset(
            _str_list(data.get("tolerated_after_terminal", []), f"{where}/tolerated_after_terminal")
        ),
        modes=tuple(_str_list(data.get("modes", []), f"{where}/modes")),
        endings=_endings(data.get("endings", {}), where, events),
    )


def _endings(
    raw: Any, where: str, events: frozenset[str]
) -> dict[str, tuple[tuple[Mapping[str, str], ...], ...]]:
    if not isinstance(raw, Mapping):
        raise GrammarError(f"{where}/endings: expected an object")
    out: dict[str, tuple[tuple[Mapping[str, str], ...], ...]] = {}
    for outcome, tails in raw.items():
        parsed: list[tuple[Mapping[str, str], ...]] = []
        for tail in tails:
            items = tuple(dict(item) for item in tail)
            if not items or any(item.get("event") not in events for item in items):
                raise GrammarError(
                    f"{where}/endings/{outcome}: every tail item needs an `event` of this grammar"
                )
            parsed.append(items)
        out[str(outcome)] = tuple(parsed)
    return out


def load_grammars(source: Source) -> dict[str, Grammar]:
    """Load every grammar of ``x-stream-grammars`` (keyed by grammar name)."""
    doc = load_events_document(source)
    raw = doc.get("x-stream-grammars")
    if not isinstance(raw, Mapping) or not raw:
        raise GrammarError("the document has no `x-stream-grammars`")
    return {str(name): _grammar_from_data(str(name), data, doc) for name, data in raw.items()}


def load_grammar(source: Source, name: str) -> Grammar:
    """Load one grammar by name (an app mode, or ``workflow-events`` / ``advanced-chat-events``)."""
    grammars = load_grammars(source)
    if name not in grammars:
        raise KeyError(f"no stream grammar named {name!r}; known: {sorted(grammars)}")
    return grammars[name]


# -------------------------------------------------------------------------- checking


def _lookup(event: Mapping[str, Any], dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


@dataclass
class _Nesting:
    """Open container frames, counted per (rule, key value)."""

    grammar: Grammar
    open_frames: dict[tuple[int, str], int] = field(default_factory=dict)

    def feed(self, index: int, name: str, event: Mapping[str, Any], out: list[Violation]) -> None:
        for i, rule in enumerate(self.grammar.nesting):
            own = name in (rule.open, rule.close) or name in rule.step
            if own:
                self._own(i, rule, index, name, event, out)
            member = _lookup(event, rule.member)
            if (
                isinstance(member, str)
                and member
                and not (own and member == _lookup(event, rule.key))
                and self.open_frames.get((i, member), 0) <= 0
            ):
                out.append(
                    Violation(
                        rule.violation,
                        index,
                        f"`{name}` names `{rule.member}` {member!r}, but no `{rule.open}` for it is open",
                    )
                )

    def _own(
        self, i: int, rule: NestingRule, index: int, name: str, event: Mapping[str, Any], out: list[Violation]
    ) -> None:
        key = _lookup(event, rule.key)
        if not isinstance(key, str):
            out.append(Violation(rule.violation, index, f"`{name}` lacks the string `{rule.key}`"))
            return
        count = self.open_frames.get((i, key), 0)
        if name == rule.open:
            if count:
                out.append(Violation(rule.violation, index, f"`{name}` reopens {key!r}, which is still open"))
            self.open_frames[(i, key)] = count + 1
        elif count <= 0:
            out.append(
                Violation(rule.violation, index, f"`{name}` for {key!r} without a matching `{rule.open}`")
            )
        elif name == rule.close:
            if count == 1:
                del self.open_frames[(i, key)]
            else:
                self.open_frames[(i, key)] = count - 1

    def require_closed(self, index: int, reason: str, out: list[Violation]) -> None:
        for (i, key), count in sorted(self.open_frames.items()):
            if count > 0:
                rule = self.grammar.nesting[i]
                message = f"`{rule.open}` {key!r} has no `{rule.close}` {reason}"
                out.append(Violation(rule.violation, index, message))


def check_sequence(
    grammar: Grammar,
    events: Sequence[Mapping[str, Any]],
    *,
    complete: bool = True,
    times: Sequence[float] | None = None,
    keepalive_rule: Literal["idle", "stream-age"] = "idle",
    tolerance: float = 0.5,
    dify_compat: bool = False,
) -> list[Violation]:
    """Check one stream's parsed events (dicts with an ``event`` key; a ping is ``{"event": "ping"}``).

    ``complete``: the server closed the connection after the last event (``False`` if the reader
    gave up first; then ``terminal-missing`` is not reported). ``times``: optional arrival time of
    each event in seconds since the request was sent, which enables the keep-alive timing rule:
    ``idle`` (our server: a ping needs ``idle_seconds`` without any other frame) or ``stream-age``
    (Dify: pings come every ``idle_seconds`` counted from the request). ``tolerance`` loosens it.
    ``dify_compat``: accept the grammar's ``tolerated_after_terminal`` events after the terminal one.
    """
    if times is not None and len(times) != len(events):
        raise ValueError("`times` must have one entry per event")
    out: list[Violation] = []
    state = grammar.initial
    nesting = _Nesting(grammar)
    last_time = 0.0
    seen_non_keepalive = False
    for index, event in enumerate(events):
        name = event.get("event") if isinstance(event, Mapping) else None
        now = times[index] if times is not None else None
        if not isinstance(name, str) or name not in grammar.events:
            message = f"event {name!r} is not part of `{grammar.name}` streams"
            out.append(Violation("unknown-event", index, message))
            continue
        if state == END_STATE:
            if dify_compat and name in grammar.tolerated_after_terminal:
                continue
            vid = "terminal-multiple" if name in grammar.terminal else "after-terminal"
            message = f"`{name}` arrived after the terminal event; the stream should have closed"
            out.append(Violation(vid, index, message))
            continue
        if name == grammar.keepalive:
            if now is not None:
                since = now - (last_time if keepalive_rule == "idle" else 0.0)
                if since < grammar.idle_seconds - tolerance:
                    what = "the previous frame" if keepalive_rule == "idle" else "the request"
                    message = f"`{name}` came {since:.1f}s after {what}; {grammar.idle_seconds:g}s required"
                    out.append(Violation("keepalive-early", index, message))
                last_time = now
            continue
        if now is not None:
            last_time = now
        target = grammar.transitions[state].get(name)
        if target is None:
            vid = "order" if seen_non_keepalive else "opening"
            allowed = ", ".join(sorted(grammar.transitions[state])) or "nothing"
            out.append(Violation(vid, index, f"`{name}` not allowed in state `{state}` (allowed: {allowed})"))
            if name in grammar.terminal:
                state = END_STATE
        else:
            state = target
        seen_non_keepalive = True
        nesting.feed(index, name, event, out)
        if (
            name == grammar.closed_by_event
            and grammar.closed_by_field is not None
            and _lookup(event, grammar.closed_by_field) in grammar.closed_by_values
        ):
            nesting.require_closed(index, f"before the run's successful `{name}`", out)
    if complete and state not in grammar.accepting:
        out.append(
            Violation(
                "terminal-missing",
                len(events),
                f"the stream closed in state `{state}` without a terminal event "
                f"({', '.join(sorted(grammar.terminal))})",
            )
        )
    return out


IGNORED_IN_ENDINGS = frozenset({"tts_message", "tts_message_end"})


def endings_matched(grammar: Grammar, events: Sequence[Mapping[str, Any]]) -> list[str]:
    """Outcomes (``normal``, ``stopped``, ``failed``, ``paused``) whose tail matches how ``events`` end.

    Keepalives and TTS frames are ignored. Only the outcomes with the longest matching tail are
    returned (an advanced-chat ``workflow_finished(stopped)``, ``message_end`` is ``stopped``, not the
    bare ``message_end`` of an annotation reply). Several outcomes can remain (in chat apps a stopped
    run and a normal one both end with ``message_end``); none means the stream ended in no known way.
    """
    relevant = [
        e for e in events if e.get("event") != grammar.keepalive and e.get("event") not in IGNORED_IN_ENDINGS
    ]
    best: dict[str, int] = {}
    for outcome, tails in grammar.endings.items():
        for tail in tails:
            if len(tail) > len(relevant):
                continue
            suffix = relevant[len(relevant) - len(tail) :]
            if all(
                all(_lookup(event, path) == value for path, value in item.items())
                for item, event in zip(tail, suffix, strict=True)
            ):
                best[outcome] = max(best.get(outcome, 0), len(tail))
    longest = max(best.values(), default=0)
    return [outcome for outcome, length in best.items() if length == longest]


# ------------------------------------------------------------------------ validation


class EventValidator:
    """Validate single events against ``$defs/<event>`` or a ``$defs/stream_*`` union.

    Uses a JSON Schema 2020-12 validator whose registry holds the events document, so every
    ``$ref`` resolves; ``format`` (``uuid``) is asserted unless ``check_formats=False``.
    """

    def __init__(self, source: Source, *, check_formats: bool = True) -> None:
        self.document = load_events_document(source)
        base = str(self.document.get("$id") or "urn:dify-service:events.schema.json")
        self._base = base
        resource = Resource.from_contents(dict(self.document), default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(base, resource)
        self._format_checker = Draft202012Validator.FORMAT_CHECKER if check_formats else None
        self._cache: dict[str, Draft202012Validator] = {}

    def _validator(self, definition: str) -> Draft202012Validator:
        if definition not in self._cache:
            if definition not in self.document.get("$defs", {}):
                raise KeyError(f"no $defs/{definition} in the events document")
            schema = {"$ref": f"{self._base}#/$defs/{definition}"}
            self._cache[definition] = Draft202012Validator(
                schema, registry=self._registry, format_checker=self._format_checker
            )
        return self._cache[definition]

    def errors(self, event: Mapping[str, Any], definition: str | None = None) -> list[str]:
        """Messages for every schema error (empty if valid).

        ``definition`` defaults to the event's own ``$defs/<event>``; pass e.g. ``stream_chat`` to
        check membership of a mode's union. An event whose name has no definition is one error.
        """
        name = definition if definition is not None else event.get("event")
        if not isinstance(name, str) or name not in self.document.get("$defs", {}):
            return [f"no schema for event {name!r}"]
        found: list[str] = []
        for err in self._validator(name).iter_errors(dict(event)):
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            found.append(f"{where}: {err.message}")
        return sorted(found)

    def is_valid(self, event: Mapping[str, Any], definition: str | None = None) -> bool:
        """True when :meth:`errors` finds nothing."""
        return not self.errors(event, definition)
