"""Load `spec/openapi.yaml` and `spec/events.schema.json` and resolve references between them.

Every node the renderer shows is addressed by a `Loc`: the document it lives in (`openapi` or
`events`) plus its JSON-pointer tokens.  Translation keys are derived from that location
(`text_key`), so a description keeps one key however many operations reach it through `$ref`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MODES: tuple[str, ...] = ("chat", "agent-chat", "advanced-chat", "workflow", "completion")
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
EVENTS_FILE = "events.schema.json"
OPENAPI_FILE = "openapi.yaml"

Json = Any


@dataclass(frozen=True)
class Loc:
    """Where a node lives: a document name and JSON-pointer tokens."""

    doc: str
    tokens: tuple[str, ...] = ()

    def child(self, *tokens: str | int) -> Loc:
        return Loc(self.doc, self.tokens + tuple(str(t) for t in tokens))

    @property
    def pointer(self) -> str:
        return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in self.tokens)


def parse_pointer(pointer: str) -> tuple[str, ...]:
    if not pointer or pointer == "/":
        return ()
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/"))


@dataclass
class Operation:
    """One operation of the spec, with the location of its object."""

    operation_id: str
    method: str
    path: str
    node: dict[str, Any]
    loc: Loc
    order: int

    @property
    def modes(self) -> list[str]:
        return [str(m) for m in self.node.get("x-app-modes", [])]

    @property
    def tags(self) -> list[str]:
        return [str(t) for t in self.node.get("tags", [])]


@dataclass
class SpecBundle:
    """Both spec documents, loaded once; tolerant of a missing or partial events file."""

    openapi: dict[str, Any]
    events: dict[str, Any]
    operations: list[Operation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def doc(self, name: str) -> dict[str, Any]:
        return self.openapi if name == "openapi" else self.events

    def get(self, loc: Loc) -> Json:
        node: Json = self.doc(loc.doc)
        for tok in loc.tokens:
            if isinstance(node, list):
                node = node[int(tok)]
            elif isinstance(node, dict):
                node = node[tok]
            else:
                raise KeyError(loc.pointer)
        return node

    def resolve_ref(self, ref: str, base: Loc) -> Loc:
        """The location a `$ref` (local, or into the other file) points to."""
        target, _, pointer = ref.partition("#")
        if not target:
            doc = base.doc
        elif target.endswith(EVENTS_FILE):
            doc = "events"
        elif target.endswith((OPENAPI_FILE, "openapi.json")):
            doc = "openapi"
        else:
            raise KeyError(f"unsupported $ref target {ref!r}")
        return Loc(doc, parse_pointer(pointer))

    def deref(self, node: Json, loc: Loc, limit: int = 20) -> tuple[Json, Loc]:
        """Follow `$ref` chains; returns the target node and where it lives."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and limit > 0:
            loc = self.resolve_ref(node["$ref"], loc)
            try:
                node = self.get(loc)
            except (KeyError, IndexError, ValueError):
                self.problems.append(f"unresolvable $ref {loc.doc}#{loc.pointer}")
                return {}, loc
            limit -= 1
        return node, loc

    def operation(self, operation_id: str) -> Operation | None:
        for op in self.operations:
            if op.operation_id == operation_id:
                return op
        return None

    def operations_for(self, mode: str) -> list[Operation]:
        return [op for op in self.operations if mode in op.modes]

    @property
    def error_codes(self) -> dict[str, dict[str, Any]]:
        codes = self.openapi.get("x-error-codes") or {}
        return {str(k): v for k, v in codes.items() if isinstance(v, dict)}

    @property
    def grammars(self) -> dict[str, Any]:
        grammars = self.events.get("x-stream-grammars") or {}
        return grammars if isinstance(grammars, dict) else {}

    @property
    def event_defs(self) -> dict[str, Any]:
        defs = self.events.get("$defs") or {}
        return {k: v for k, v in defs.items() if isinstance(v, dict) and not k.startswith("stream_")}


def _iter_operations(openapi: dict[str, Any]) -> Iterator[Operation]:
    order = 0
    for path, item in (openapi.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            node = item.get(method)
            if not isinstance(node, dict):
                continue
            op_id = str(node.get("operationId") or f"{method}_{path}")
            yield Operation(
                op_id, method.upper(), str(path), node, Loc("openapi", ("paths", path, method)), order
            )
            order += 1


def load_bundle(spec_dir: Path) -> SpecBundle:
    """Read whatever of the two spec files exists; a missing file is an empty document."""
    problems: list[str] = []
    openapi: dict[str, Any] = {}
    events: dict[str, Any] = {}
    oa_path = spec_dir / OPENAPI_FILE
    ev_path = spec_dir / EVENTS_FILE
    if oa_path.exists():
        try:
            loaded = yaml.safe_load(oa_path.read_text(encoding="utf-8"))
            openapi = loaded if isinstance(loaded, dict) else {}
        except yaml.YAMLError as exc:
            problems.append(f"{oa_path}: {exc}")
    else:
        problems.append(f"{oa_path} does not exist")
    if ev_path.exists():
        try:
            loaded = json.loads(ev_path.read_text(encoding="utf-8"))
            events = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError as exc:
            problems.append(f"{ev_path}: {exc}")
    bundle = SpecBundle(openapi, events, problems=problems)
    bundle.operations = list(_iter_operations(openapi))
    return bundle


def text_key(bundle: SpecBundle, loc: Loc) -> str:
    """Stable catalog key for the text at `loc`.

    Text inside an operation is keyed `<operationId>#<pointer inside the operation>`, with
    parameters addressed by name (`/parameters/user/description`) instead of position, so
    reordering parameters or operations never renumbers keys.  Everything else is keyed
    `openapi#<pointer>` or `events#<pointer>`.
    """
    toks = loc.tokens
    if loc.doc == "openapi" and len(toks) >= 3 and toks[0] == "paths" and toks[2] in HTTP_METHODS:
        node = bundle.openapi.get("paths", {}).get(toks[1], {}).get(toks[2], {})
        op_id = node.get("operationId") if isinstance(node, dict) else None
        if op_id:
            rest = list(toks[3:])
            if len(rest) >= 2 and rest[0] == "parameters" and rest[1].isdigit():
                params = node.get("parameters") or []
                idx = int(rest[1])
                if idx < len(params) and isinstance(params[idx], dict) and "name" in params[idx]:
                    rest[1] = str(params[idx]["name"])
            return f"{op_id}#{Loc('x', tuple(rest)).pointer}"
    return f"{loc.doc}#{loc.pointer}"


def event_name(defn: dict[str, Any], fallback: str) -> str:
    """The `event` field value an event definition pins (const or single enum)."""
    prop = (defn.get("properties") or {}).get("event")
    if isinstance(prop, dict):
        if "const" in prop:
            return str(prop["const"])
        enum = prop.get("enum")
        if isinstance(enum, list) and len(enum) == 1:
            return str(enum[0])
    return fallback


def union_members(bundle: SpecBundle, mode: str) -> list[str]:
    """`$defs` names of the events in `stream_<mode>`, in the union's order."""
    node = (bundle.events.get("$defs") or {}).get(f"stream_{mode}")
    out: list[str] = []
    if not isinstance(node, dict):
        return out
    loc = Loc("events", ("$defs", f"stream_{mode}"))
    stack: list[tuple[Json, Loc]] = [(node, loc)]
    while stack:
        cur, cur_loc = stack.pop(0)
        if isinstance(cur, dict) and "$ref" in cur:
            target = bundle.resolve_ref(str(cur["$ref"]), cur_loc)
            if (
                len(target.tokens) == 2
                and target.tokens[0] == "$defs"
                and not target.tokens[1].startswith("stream_")
            ):
                if target.tokens[1] not in out:
                    out.append(target.tokens[1])
                continue
            try:
                stack.insert(0, (bundle.get(target), target))
            except (KeyError, IndexError, ValueError):
                bundle.problems.append(f"unresolvable $ref in stream_{mode}: {cur['$ref']}")
            continue
        if isinstance(cur, dict):
            for comb in ("oneOf", "anyOf", "allOf"):
                items = cur.get(comb)
                if isinstance(items, list):
                    stack[0:0] = [(it, cur_loc.child(comb, i)) for i, it in enumerate(items)]
    return out


def modes_of(ops: Sequence[Operation]) -> list[str]:
    seen = {m for op in ops for m in op.modes}
    return [m for m in MODES if m in seen]
