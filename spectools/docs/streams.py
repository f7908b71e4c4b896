"""Stream grammars (`x-stream-grammars`) as readable rules, and a sample stream walked from them.

A grammar is a small state machine: `initial` state, `states/<s>/on/<event> -> next state`,
the state `end`, plus `terminal`, `endings`, `keepalive`, `nesting` and
`tolerated_after_terminal`.  The sample stream is the canonical happy path: the shortest
walk from `initial` to `end` that passes the events of `endings.normal` in order, with a few
typical content events looped in where a state allows them.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from spectools.docs.spec import Loc, SpecBundle, event_name, union_members

# Content events shown in a sample stream, by group; the first one a state allows is used.
_TYPICAL_GROUPS: tuple[tuple[str, ...], ...] = (
    ("node_started",),
    ("agent_thought",),
    ("agent_message", "message", "text_chunk"),
    ("node_finished",),
)
_REPEATED = frozenset({"agent_message", "message", "text_chunk"})


@dataclass
class Grammar:
    """One `x-stream-grammars/<name>` entry."""

    name: str
    node: dict[str, Any]
    loc: Loc

    @property
    def modes(self) -> list[str]:
        return [str(m) for m in self.node.get("modes") or []]

    @property
    def operations(self) -> list[str]:
        return [str(m) for m in self.node.get("operations") or []]

    @property
    def union(self) -> str:
        return str(self.node.get("union") or "")

    @property
    def states(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for name, st in (self.node.get("states") or {}).items():
            if isinstance(st, dict):
                out[str(name)] = {str(k): str(v) for k, v in (st.get("on") or {}).items()}
        return out

    def accepts(self, events: list[str]) -> bool:
        """Whether the state machine accepts this event sequence (ending in `end`)."""
        state = str(self.node.get("initial", ""))
        states = self.states
        for ev in events:
            if state == "end" or ev not in states.get(state, {}):
                return False
            state = states[state][ev]
        return state == "end"


@dataclass
class GrammarView:
    """What a page shows about a grammar."""

    name: str
    description: str
    operations: list[str]
    opening: list[str]
    terminal: list[str]
    endings: list[tuple[str, list[list[tuple[str, str]]]]]  # kind -> alternative tails of (event, pins)
    keepalive: dict[str, Any]
    nesting: list[dict[str, Any]]
    tolerated: list[str]
    states: list[tuple[str, list[tuple[str, str]]]]
    sample_events: list[str] = field(default_factory=list)


def grammars(bundle: SpecBundle) -> list[Grammar]:
    return [
        Grammar(str(k), v, Loc("events", ("x-stream-grammars", str(k))))
        for k, v in bundle.grammars.items()
        if isinstance(v, dict)
    ]


def grammar_for_union(bundle: SpecBundle, union_ref: str, mode: str) -> Grammar | None:
    """The grammar governing `union_ref` (a pointer like `events.schema.json#/$defs/stream_chat`)."""
    pointer = union_ref.partition("#")[2]
    for g in grammars(bundle):
        if g.union.partition("#")[2] == pointer and (not g.modes or mode in g.modes):
            return g
    for g in grammars(bundle):
        if g.union.partition("#")[2] == pointer:
            return g
    return None


def endings(node: dict[str, Any]) -> list[tuple[str, list[list[tuple[str, dict[str, Any]]]]]]:
    """`endings` normalized to kind -> alternative tails -> (event, field pins).

    Accepts both the flat form (`normal: [ev, ev]`) and tails of pinned events
    (`normal: [[{"event": ev, "data.status": "succeeded"}, …], …]`).
    """
    out: list[tuple[str, list[list[tuple[str, dict[str, Any]]]]]] = []
    for kind, value in (node.get("endings") or {}).items():
        if not isinstance(value, list):
            continue
        tails_raw = value if value and all(isinstance(v, list) for v in value) else [value]
        tails: list[list[tuple[str, dict[str, Any]]]] = []
        for tail in tails_raw:
            steps: list[tuple[str, dict[str, Any]]] = []
            for step in tail:
                if isinstance(step, dict) and "event" in step:
                    steps.append((str(step["event"]), {k: v for k, v in step.items() if k != "event"}))
                elif isinstance(step, str):
                    steps.append((step, {}))
            tails.append(steps)
        out.append((str(kind), tails))
    return out


def _normal_tail(g: Grammar) -> list[tuple[str, dict[str, Any]]]:
    for kind, tails in endings(g.node):
        if kind == "normal" and tails:
            return max(tails, key=len)
    return []


def happy_path(g: Grammar) -> list[str]:
    """Event names of a normal run, accepted by the grammar; empty if none is found."""
    states = g.states
    normal = [ev for ev, _ in _normal_tail(g)]
    initial = str(g.node.get("initial", ""))
    if not states or initial not in states:
        return []
    start = (initial, 0)
    prev: dict[tuple[str, int], tuple[tuple[str, int], str]] = {}
    queue: deque[tuple[str, int]] = deque([start])
    seen = {start}
    goal: tuple[str, int] | None = None
    while queue:
        state, idx = queue.popleft()
        if state == "end":
            if idx == len(normal):
                goal = (state, idx)
                break
            continue
        for ev, nxt in states.get(state, {}).items():
            if ev in ("error", "ping"):
                continue
            nidx = idx + 1 if idx < len(normal) and ev == normal[idx] else idx
            if nxt == "end" and nidx != len(normal):
                continue
            node = (nxt, nidx)
            if node not in seen:
                seen.add(node)
                prev[node] = ((state, idx), ev)
                queue.append(node)
    if goal is None:
        return []
    path: list[tuple[str, str]] = []  # (state the event is sent in, event)
    cur = goal
    while cur != start:
        before, ev = prev[cur]
        path.append((before[0], ev))
        cur = before
    path.reverse()
    out: list[str] = []
    visited: set[str] = set()
    for state, ev in path:
        if state not in visited:
            visited.add(state)
            loops = {e for e, n in states.get(state, {}).items() if n == state}
            for group in _TYPICAL_GROUPS:
                pick = next((e for e in group if e in loops), None)
                if pick:
                    out.extend([pick, pick] if pick in _REPEATED else [pick])
        out.append(ev)
    return out if g.accepts(out) else [ev for _, ev in path]


def view(bundle: SpecBundle, g: Grammar, translate: Any) -> GrammarView:
    from spectools.docs.spec import text_key

    node = g.node
    desc = node.get("description")
    description = ""
    if isinstance(desc, str):
        description = translate(text_key(bundle, g.loc.child("description")), desc)
    shown = [
        (
            kind,
            [[(ev, ", ".join(f"{k} = {v}" for k, v in pins.items())) for ev, pins in tail] for tail in tails],
        )
        for kind, tails in endings(node)
    ]
    nesting = [n for n in node.get("nesting") or [] if isinstance(n, dict)]
    keepalive = node.get("keepalive")
    return GrammarView(
        name=g.name,
        description=description,
        operations=g.operations,
        opening=[str(e) for e in node.get("opening") or []],
        terminal=[str(e) for e in node.get("terminal") or []],
        endings=shown,
        keepalive=keepalive if isinstance(keepalive, dict) else {},
        nesting=nesting,
        tolerated=[str(e) for e in node.get("tolerated_after_terminal") or []],
        states=[(s, sorted(on.items())) for s, on in g.states.items()],
        sample_events=happy_path(g),
    )


def event_examples(bundle: SpecBundle) -> dict[str, list[Any]]:
    """Examples of every event definition, keyed by event name."""
    out: dict[str, list[Any]] = {}
    for def_name, defn in bundle.event_defs.items():
        name = event_name(defn, def_name)
        exs = defn.get("examples")
        if isinstance(exs, list) and exs:
            out[name] = list(exs)
        elif "example" in defn:
            out[name] = [defn["example"]]
    return out


def sample_stream(bundle: SpecBundle, g: Grammar) -> list[Any]:
    """Event objects of the happy path, taking successive examples for repeated events."""
    examples = event_examples(bundle)
    envelope = envelope_fields(bundle, g)
    for ev, exs in examples.items():
        if ev not in ("error", "ping"):
            examples[ev] = [e for e in exs if isinstance(e, dict) and envelope <= set(e)] or exs
    pins = {ev: p for ev, p in _normal_tail(g) if p}
    used: dict[str, int] = {}
    out: list[Any] = []
    for ev in happy_path(g):
        exs = examples.get(ev) or [{"event": ev}]
        if ev in pins:
            exs = [e for e in exs if all(_field(e, k) == v for k, v in pins[ev].items())] or exs
        i = used.get(ev, 0)
        out.append(exs[min(i, len(exs) - 1)])
        used[ev] = i + 1
    return out


def envelope_fields(bundle: SpecBundle, g: Grammar) -> set[str]:
    """Fields the union requires of every (non-error, non-ping) event, via its `else` branch."""
    pointer = g.union.partition("#")[2]
    try:
        node = bundle.get(Loc("events", tuple(pointer.lstrip("/").split("/"))))
    except (KeyError, IndexError, ValueError):
        return set()
    branch = node.get("else") if isinstance(node, dict) else None
    if not isinstance(branch, dict):
        return set()
    target, _ = bundle.deref(branch, Loc("events", tuple(pointer.lstrip("/").split("/")) + ("else",)))
    return {str(r) for r in target.get("required") or []} if isinstance(target, dict) else set()


def _field(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def union_events(bundle: SpecBundle, union_ref: str) -> list[str]:
    """`$defs` names in a union given as a pointer (`events.schema.json#/$defs/stream_chat`)."""
    pointer = union_ref.partition("#")[2]
    name = pointer.rsplit("/", 1)[-1]
    if not name.startswith("stream_"):
        return []
    return union_members(bundle, name[len("stream_") :])


_ENVELOPE_IDS = ("task_id", "message_id", "conversation_id", "workflow_run_id")
_MESSAGE_EVENTS = ("message", "agent_message", "message_end")
_TEXT_FIELDS = {"message": ("answer",), "agent_message": ("answer",), "text_chunk": ("data", "text")}


def stitch(events: list[Any], answer: Any, request: Any) -> list[Any]:
    """One coherent stream out of per-event examples.

    Events taken from separate examples carry different ids and repeat the same text; a reader
    expects one run: the ids of the blocking answer (or of the first event) on every event, the
    answer text split over the chunk events, and the request's `inputs` in `workflow_started`.
    """
    out = [json.loads(json.dumps(e)) for e in events]
    ids: dict[str, Any] = {}
    source = answer if isinstance(answer, dict) else {}
    for key in _ENVELOPE_IDS:
        if key in source:
            ids[key] = source[key]
    for e in out:
        for key in _ENVELOPE_IDS:
            if isinstance(e, dict) and key in e:
                ids.setdefault(key, e[key])
    text = _answer_text(source)
    chunks = [e for e in out if isinstance(e, dict) and e.get("event") in _TEXT_FIELDS]
    pieces = _split(text, len(chunks)) if text and chunks else []
    for e in out:
        if not isinstance(e, dict):
            continue
        for key, value in ids.items():
            if key in e:
                e[key] = value
        if (
            "id" in e
            and "message_id" in ids
            and e.get("event") in ("message", "agent_message", "message_end")
        ):
            e["id"] = ids["message_id"]
        if e.get("event") == "workflow_started" and isinstance(e.get("data"), dict):
            inputs = request.get("inputs") if isinstance(request, dict) else None
            if isinstance(inputs, dict):
                e["data"]["inputs"] = {
                    **inputs,
                    **{k: v for k, v in (e["data"].get("inputs") or {}).items() if str(k).startswith("sys.")},
                }
            if "workflow_run_id" in ids and "id" in e["data"]:
                e["data"]["id"] = ids["workflow_run_id"]
    for e, piece in zip(chunks, pieces, strict=False):
        path = _TEXT_FIELDS[e["event"]]
        target: dict[str, Any] = e
        for part in path[:-1]:
            nested = target.get(part)
            target = nested if isinstance(nested, dict) else {}
        if path[-1] in target:
            target[path[-1]] = piece
    return out


def _answer_text(answer: dict[str, Any]) -> str:
    if isinstance(answer.get("answer"), str):
        return str(answer["answer"])
    data = answer.get("data")
    outputs = data.get("outputs") if isinstance(data, dict) else None
    if isinstance(outputs, dict):
        texts = [v for v in outputs.values() if isinstance(v, str)]
        if texts:
            return str(texts[0])
    return ""


def _split(text: str, n: int) -> list[str]:
    """`text` in `n` consecutive pieces, cut at spaces where possible (pieces keep their spaces)."""
    if n <= 1:
        return [text]
    words = text.split(" ")
    size = max(1, -(-len(words) // n))
    groups = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    pieces = [g if i == 0 else " " + g for i, g in enumerate(groups)]
    while len(pieces) < n:
        pieces.append("")
    return pieces[: n - 1] + ["".join(pieces[n - 1 :])]
