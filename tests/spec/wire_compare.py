"""Compare our contract (spec/openapi.yaml + spec/events.schema.json) with Dify's wire contract.

`wire_differences(ours, events, wire)` walks what Dify puts on the wire (the reference file
`dify-wire-contract.json`) and returns the set of keys naming every place where our spec lacks a
field or describes it with an incompatible type.  Key format (fixed in .notes/COMMON.md):

    <operationId> query <name>            query parameter missing ( :type / :enum suffixes as below)
    <operationId> path <name>             path parameter missing
    <operationId> request <path>          request body field missing
    <operationId> response <status> <path>
    event <event_name> <path>

`<path>` is dotted; `[]` marks array items (`data[].id`), `*` marks the values of a map
(`additionalProperties`).  An empty path means the body itself: `<op> response 204` says the
status is not declared at all, `<op> response 200:type` that the body's media type or root type
differs, `event <name>` that the event has no `$defs/<name>`.  A key ends in `:type` when the field
exists but its type is incompatible, in `:enum` when our enum lacks values Dify sends or accepts.

What is compared, and the rules used:

* Operations are matched by operationId; parameters by (location, name), path-item-level
  parameters included.  Request bodies per media type (multipart fields are compared like JSON
  fields).  Responses per status: every status Dify declares with a body schema, plus every 2xx.
  Non-JSON media types (`text/event-stream`, `audio/mpeg`, `application/octet-stream`) are only
  checked for presence, because their schema is not a field list (our streams use an SSE envelope).
* Events: Dify names its event schemas `StreamEvent<Name>`, `StreamEventChat<Name>`,
  `WorkflowStreamEvent<Name>` and `CompletionStreamEvent<Name>` (one per stream flavour); the
  `event` property is an enum of *every* event name, so the event is identified by the schema name
  (CamelCase to snake_case, checked to be a member of that enum).  `*Base` and `Chunk*` schemas are
  the building blocks and unions, not events.  All flavours of one event are compared with our single
  `$defs/<event>`; the `event` property's enum is not compared (ours is a `const`).
* `$ref` is resolved on both sides (local pointers and `<file>#/pointer` between our two files);
  `allOf`, `oneOf` and `anyOf` are merged: a property, type or enum value present in any branch counts.
  A schema with no `type` and no branches accepts anything and is compatible with every type.
* `nullable` (and `"null"` in a 2020-12 type list) is ignored: presence and type are what count.
* Types: Dify `integer` against our `number` is compatible (ours accepts more).  Dify `number`
  against our `integer` only is a difference: every `number` in Dify's contract is a measured
  float (latency, elapsed_time, score, total_price), so an integer-only schema rejects valid values.
* Formats matter only where they change the wire shape: `binary` (file parts and file bodies) and
  `date-time` (an ISO string, where our convention is integer Unix seconds; a type change shows up
  as `:type` anyway).  `uuid`, `url`, `decimal`, `int64`, `float`, `double`, `byte` are descriptive.
* Enums: a difference when our schema restricts the field to an enum that lacks some of Dify's
  values.  A field without an enum on our side accepts every value.
* A missing field produces one key; its children are not reported separately.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

Schema = Mapping[str, Any]
Docs = Mapping[str, Any]  # file name -> parsed document

_JSON_MEDIA = re.compile(
    r"^application/(.+\+)?json$|^multipart/form-data$|^application/x-www-form-urlencoded$"
)
_FORMATS_THAT_MATTER = {"binary", "date-time"}
_EVENT_PREFIXES = ("WorkflowStreamEvent", "CompletionStreamEvent", "StreamEventChat", "StreamEvent")


# --------------------------------------------------------------------------- schema views


class View:
    """A merged view of one schema: refs resolved, allOf/oneOf/anyOf folded together.

    `types` is empty when nothing constrains the type (the schema accepts any value).  `enum` is
    None when some contributing schema declares a type without restricting its values.
    """

    def __init__(self, docs: Docs, doc: str, schema: Any) -> None:
        self.types: set[str] = set()
        self.formats: set[str] = set()
        self.enum: set[Any] | None = set()
        self.props: dict[str, list[tuple[str, Any]]] = {}
        self.items: list[tuple[str, Any]] = []
        self.additional: list[tuple[str, Any]] = []
        self._active: list[int] = []
        self._absorb(docs, doc, schema)
        if not self.types or not self.enum:
            self.enum = None

    def _absorb(self, docs: Docs, doc: str, schema: Any) -> None:
        if not isinstance(schema, Mapping) or id(schema) in self._active:
            return  # booleans accept or reject everything; a ref cycle adds nothing new
        self._active.append(id(schema))
        if "$ref" in schema:
            target_doc, target = resolve_ref(docs, doc, schema["$ref"])
            self._absorb(docs, target_doc, target)
        for key in ("allOf", "oneOf", "anyOf"):
            for branch in schema.get(key, []):
                self._absorb(docs, doc, branch)
        declared = schema.get("type")
        if isinstance(declared, str):
            declared = [declared]
        declared = [t for t in (declared or []) if t != "null"]
        if not declared and ("properties" in schema or "additionalProperties" in schema):
            declared = ["object"]
        if not declared and "items" in schema:
            declared = ["array"]
        values = list(schema.get("enum", [])) + ([schema["const"]] if "const" in schema else [])
        values = [v for v in values if v is not None]
        if not declared and values:
            declared = sorted({_json_type(v) for v in values})
        self.types.update(declared)
        if "format" in schema:
            self.formats.add(schema["format"])
        if values:
            if self.enum is not None:
                self.enum.update(values)
        elif declared:
            self.enum = None
        for name, sub in (schema.get("properties") or {}).items():
            self.props.setdefault(name, []).append((doc, sub))
        if isinstance(schema.get("items"), Mapping):
            self.items.append((doc, schema["items"]))
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            self.additional.append((doc, extra))
        self._active.pop()


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def resolve_ref(docs: Docs, doc: str, ref: str) -> tuple[str, Any]:
    """Resolve `#/a/b` within `doc` or `file.json#/a/b` against the other loaded documents."""
    file_part, _, pointer = ref.partition("#")
    target_doc = doc
    if file_part:
        target_doc = file_part.rsplit("/", 1)[-1]
        if target_doc not in docs:
            raise KeyError(f"$ref {ref!r} (in {doc}) points to a document that is not loaded")
    node: Any = docs[target_doc]
    for part in pointer.split("/")[1:] if pointer else []:
        part = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            raise KeyError(f"$ref {ref!r} (in {doc}) does not resolve")
    return target_doc, node


def _merge(docs: Docs, parts: Iterable[tuple[str, Any]]) -> View | None:
    parts = list(parts)
    if not parts:
        return None
    return _multi(docs, parts)


def _multi(docs: Docs, parts: list[tuple[str, Any]]) -> View:
    view = View(docs, parts[0][0], parts[0][1])
    for doc, schema in parts[1:]:
        other = View(docs, doc, schema)
        view.types |= other.types
        view.formats |= other.formats
        view.enum = None if view.enum is None or other.enum is None else view.enum | other.enum
        for name, subs in other.props.items():
            view.props.setdefault(name, []).extend(subs)
        view.items.extend(other.items)
        view.additional.extend(other.additional)
    return view


# --------------------------------------------------------------------------- comparison


def _join(path: str, segment: str) -> str:
    if segment == "[]":
        return path + "[]"
    return f"{path}.{segment}" if path else segment


def _key(prefix: str, path: str, suffix: str = "") -> str:
    return (f"{prefix} {path}" if path else prefix) + suffix


def compare_schema(
    theirs_docs: Docs,
    theirs: tuple[str, Any],
    ours_docs: Docs,
    ours: tuple[str, Any],
    prefix: str,
    path: str = "",
    skip_enum: frozenset[str] = frozenset(),
) -> set[str]:
    """Differences of our schema against Dify's, as keys `<prefix> <path>[:type|:enum]`."""
    their_view = View(theirs_docs, *theirs)
    our_view = View(ours_docs, *ours)
    return _compare_views(theirs_docs, their_view, ours_docs, our_view, prefix, path, skip_enum)


def _compare_views(
    theirs_docs: Docs,
    theirs: View,
    ours_docs: Docs,
    ours: View,
    prefix: str,
    path: str,
    skip_enum: frozenset[str],
) -> set[str]:
    out: set[str] = set()
    if not _types_compatible(theirs, ours):
        out.add(_key(prefix, path, ":type"))
        return out
    if path not in skip_enum and theirs.enum and ours.enum is not None and not theirs.enum <= ours.enum:
        out.add(_key(prefix, path, ":enum"))
    for name in sorted(theirs.props):
        sub_path = _join(path, name)
        their_sub = _merge(theirs_docs, theirs.props[name])
        our_parts = ours.props.get(name) or ours.additional
        if not our_parts:
            out.add(_key(prefix, sub_path))
            continue
        our_sub = _merge(ours_docs, our_parts)
        assert their_sub is not None and our_sub is not None
        out |= _compare_views(theirs_docs, their_sub, ours_docs, our_sub, prefix, sub_path, skip_enum)
    if theirs.items and ours.items:
        their_items = _merge(theirs_docs, theirs.items)
        our_items = _merge(ours_docs, ours.items)
        assert their_items is not None and our_items is not None
        out |= _compare_views(
            theirs_docs, their_items, ours_docs, our_items, prefix, _join(path, "[]"), skip_enum
        )
    if theirs.additional and ours.additional:
        their_extra = _merge(theirs_docs, theirs.additional)
        our_extra = _merge(ours_docs, ours.additional)
        assert their_extra is not None and our_extra is not None
        out |= _compare_views(
            theirs_docs, their_extra, ours_docs, our_extra, prefix, _join(path, "*"), skip_enum
        )
    return out


def _types_compatible(theirs: View, ours: View) -> bool:
    if not ours.types or not theirs.types:
        return True
    for their_type in theirs.types:
        if their_type in ours.types:
            continue
        if their_type == "integer" and "number" in ours.types:
            continue
        return False
    for fmt in theirs.formats & _FORMATS_THAT_MATTER:
        if "string" in theirs.types and "string" in ours.types and fmt not in ours.formats:
            return False
    return True


# --------------------------------------------------------------------------- operations


def _our_operations(openapi: Schema) -> dict[str, tuple[str, Schema, list[Any]]]:
    found: dict[str, tuple[str, Schema, list[Any]]] = {}
    for path, item in (openapi.get("paths") or {}).items():
        shared = list(item.get("parameters", []))
        for method, op in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}:
                found[op.get("operationId", f"{method.upper()} {path}")] = (path, op, shared)
    return found


def _deref(docs: Docs, doc: str, node: Any) -> Any:
    seen = 0
    while isinstance(node, Mapping) and "$ref" in node and seen < 32:
        doc, node = resolve_ref(docs, doc, node["$ref"])
        seen += 1
    return node


def operation_differences(openapi: Schema, events: Schema, wire: Schema) -> set[str]:
    ours_docs = {"openapi.yaml": openapi, "events.schema.json": events}
    theirs_docs = {"wire": wire}
    ours_ops = _our_operations(openapi)
    out: set[str] = set()
    for op in wire["operations"]:
        op_id = op["operationId"]
        if op_id not in ours_ops:
            out.add(op_id)
            continue
        _path, our_op, shared = ours_ops[op_id]
        out |= _parameter_differences(ours_docs, op, our_op, shared)
        out |= _request_differences(theirs_docs, ours_docs, op, our_op)
        out |= _response_differences(theirs_docs, ours_docs, op, our_op)
    return out


def _parameter_differences(ours_docs: Docs, op: Schema, our_op: Schema, shared: list[Any]) -> set[str]:
    op_id = op["operationId"]
    ours: dict[tuple[str, str], Any] = {}
    for raw in [*shared, *our_op.get("parameters", [])]:
        param = _deref(ours_docs, "openapi.yaml", raw)
        ours[(param["in"], param["name"])] = param
    out: set[str] = set()
    for param in op.get("parameters", []):
        prefix = f"{op_id} {param['in']} {param['name']}"
        mine = ours.get((param["in"], param["name"]))
        if mine is None:
            out.add(prefix)
            continue
        our_schema = mine.get("schema")
        if our_schema is None:
            content = mine.get("content") or {}
            our_schema = next(iter(content.values()), {}).get("schema", {})
        out |= compare_schema(
            {"wire": {}}, ("wire", param.get("schema", {})), ours_docs, ("openapi.yaml", our_schema), prefix
        )
    return out


def _request_differences(theirs_docs: Docs, ours_docs: Docs, op: Schema, our_op: Schema) -> set[str]:
    their_body = op.get("requestBody") or {}
    if not their_body:
        return set()
    op_id = op["operationId"]
    our_body = _deref(ours_docs, "openapi.yaml", our_op.get("requestBody") or {})
    our_content = our_body.get("content") or {}
    out: set[str] = set()
    for media, schema in their_body.items():
        if media not in our_content:
            out.add(f"{op_id} request:type")
            continue
        out |= compare_schema(
            theirs_docs,
            ("wire", schema),
            ours_docs,
            ("openapi.yaml", our_content[media].get("schema", {})),
            f"{op_id} request",
        )
    return out


def _response_differences(theirs_docs: Docs, ours_docs: Docs, op: Schema, our_op: Schema) -> set[str]:
    op_id = op["operationId"]
    our_responses = our_op.get("responses") or {}
    out: set[str] = set()
    for status, content in op.get("responses", {}).items():
        has_body = any(bool(s) for s in content.values())
        if not (status.startswith("2") or has_body):
            continue
        prefix = f"{op_id} response {status}"
        if status not in our_responses:
            out.add(prefix)
            continue
        our_content = _deref(ours_docs, "openapi.yaml", our_responses[status]).get("content") or {}
        for media, schema in content.items():
            if media not in our_content:
                out.add(prefix + ":type")
                continue
            if not _JSON_MEDIA.match(media) or not schema:
                continue
            out |= compare_schema(
                theirs_docs,
                ("wire", schema),
                ours_docs,
                ("openapi.yaml", our_content[media].get("schema", {})),
                prefix,
            )
    return out


# --------------------------------------------------------------------------- events


def dify_event_name(schema_name: str) -> str | None:
    """`StreamEventChatAgentMessage` -> `agent_message`; building blocks and unions -> None."""
    if schema_name.startswith("Chunk") or schema_name.endswith("Base"):
        return None
    for prefix in _EVENT_PREFIXES:
        if schema_name.startswith(prefix):
            rest = schema_name[len(prefix) :]
            return re.sub(r"(?<!^)(?=[A-Z])", "_", rest).lower()
    return None


def dify_events(wire: Schema) -> Iterator[tuple[str, str, Schema]]:
    """(event name, Dify schema name, schema) for every event flavour in the wire contract."""
    docs = {"wire": wire}
    for schema_name, schema in wire["event_schemas"].items():
        name = dify_event_name(schema_name)
        if name is None:
            continue
        event_prop = _merge(docs, View(docs, "wire", schema).props.get("event", []))
        if event_prop is not None and event_prop.enum is not None and name not in event_prop.enum:
            raise ValueError(f"{schema_name}: derived event name {name!r} is not in its event enum")
        yield name, schema_name, schema


def event_differences(openapi: Schema, events: Schema, wire: Schema) -> set[str]:
    ours_docs = {"openapi.yaml": openapi, "events.schema.json": events}
    theirs_docs = {"wire": wire}
    defs = events.get("$defs") or {}
    out: set[str] = set()
    for name, _schema_name, schema in dify_events(wire):
        prefix = f"event {name}"
        if name not in defs:
            out.add(prefix)
            continue
        out |= compare_schema(
            theirs_docs,
            ("wire", schema),
            ours_docs,
            ("events.schema.json", defs[name]),
            prefix,
            skip_enum=frozenset({"event"}),
        )
    return out


def wire_differences(openapi: Schema, events: Schema, wire: Schema) -> set[str]:
    return operation_differences(openapi, events, wire) | event_differences(openapi, events, wire)


# --------------------------------------------------------------------------- DEVIATIONS.md

_KEYS_LINE = re.compile(r"^\s*(?:[-*+]\s+)?(?:\*\*|__)?Keys:(?:\*\*|__)?(.*)$")
_BACKTICKED = re.compile(r"`([^`]+)`")


def deviation_keys(markdown: str) -> set[str]:
    """Every backticked key on a line starting with `Keys:` (optionally a list item or bold)."""
    keys: set[str] = set()
    for line in markdown.splitlines():
        match = _KEYS_LINE.match(line)
        if match:
            keys.update(k.strip() for k in _BACKTICKED.findall(match.group(1)))
    return keys
