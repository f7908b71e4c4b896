"""Turn (possibly nested, `$ref`-linked) schemas into flat field rows and example values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spectools.docs.spec import Loc, SpecBundle, text_key

MAX_DEPTH = 6
# (key, English) -> the text shown; the renderer passes a translator here.
Translate = Callable[[str, str], str]


@dataclass
class FieldRow:
    """One field of a parameter table, request body or response."""

    name: str
    depth: int
    type: str
    required: bool
    description: str = ""
    enum: list[str] = field(default_factory=list)
    default: str = ""
    constraints: str = ""


def _types(node: dict[str, Any]) -> list[str]:
    t = node.get("type")
    if isinstance(t, list):
        return [str(x) for x in t]
    if isinstance(t, str):
        return [t]
    if "properties" in node:
        return ["object"]
    if "items" in node:
        return ["array"]
    if "const" in node:
        return [type_name_of(node["const"])]
    return []


def type_name_of(value: Any) -> str:
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
    if value is None:
        return "null"
    return "object"


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class SchemaWalker:
    """Flattens schemas of one bundle; `translate` localizes descriptions by catalog key."""

    def __init__(self, bundle: SpecBundle, translate: Translate) -> None:
        self.bundle = bundle
        self.translate = translate

    def describe(self, node: dict[str, Any], loc: Loc, attr: str = "description") -> str:
        text = node.get(attr)
        if not isinstance(text, str) or not text.strip():
            return ""
        return self.translate(text_key(self.bundle, loc.child(attr)), text)

    def merged(self, node: Any, loc: Loc) -> tuple[dict[str, Any], Loc, list[tuple[str, Any, Loc]], set[str]]:
        """Resolve refs and allOf; returns the node, its loc, its (name, schema, loc) properties, required."""
        node, loc = self.bundle.deref(node, loc)
        if not isinstance(node, dict):
            return {}, loc, [], set()
        props: list[tuple[str, Any, Loc]] = []
        required: set[str] = {str(r) for r in node.get("required") or []}
        for i, part in enumerate(node.get("allOf") or []):
            _, _, sub_props, sub_req = self.merged(part, loc.child("allOf", i))
            props.extend(sub_props)
            required |= sub_req
        for name, sub in (node.get("properties") or {}).items():
            props.append((str(name), sub, loc.child("properties", name)))
        return node, loc, props, required

    def type_label(self, node: Any, loc: Loc, depth: int = 0) -> str:
        node, loc = self.bundle.deref(node, loc)
        if not isinstance(node, dict):
            return "any"
        for comb in ("oneOf", "anyOf"):
            alts = node.get(comb)
            if isinstance(alts, list) and alts and depth < 3:
                labels: list[str] = []
                for i, alt in enumerate(alts):
                    lab = self.type_label(alt, loc.child(comb, i), depth + 1)
                    if lab not in labels:
                        labels.append(lab)
                base = " | ".join(labels)
                return base + (" | null" if node.get("nullable") else "")
        types = _types(node)
        if not types and node.get("allOf"):
            types = ["object"]
        labels = []
        for t in types:
            if t == "array":
                items = node.get("items")
                inner = self.type_label(items, loc.child("items"), depth + 1) if items is not None else "any"
                labels.append(f"array[{inner}]")
            elif t == "null":
                continue
            else:
                fmt = node.get("format")
                labels.append(f"{t} ({fmt})" if fmt and t in ("string", "integer", "number") else t)
        label = " | ".join(labels) or "any"
        if node.get("nullable") or "null" in types:
            label += " | null"
        return label

    def _constraints(self, node: dict[str, Any]) -> str:
        parts = []
        for key, sym in (
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("minLength", "len ≥"),
            ("maxLength", "len ≤"),
            ("minItems", "items ≥"),
            ("maxItems", "items ≤"),
        ):
            if key in node:
                parts.append(f"{sym} {node[key]}")
        if "pattern" in node:
            parts.append(f"pattern {node['pattern']}")
        return ", ".join(parts)

    def row(self, name: str, sub: Any, loc: Loc, depth: int, required: bool) -> FieldRow:
        raw, raw_loc = sub, loc
        node, loc = self.bundle.deref(sub, loc)
        node = node if isinstance(node, dict) else {}
        desc = ""
        if isinstance(raw, dict) and "description" in raw and "$ref" not in raw:
            desc = self.describe(raw, raw_loc)
        if not desc:
            desc = self.describe(node, loc)
        enum = node.get("enum")
        if "const" in node:
            enum = [node["const"]]
        default = _literal(node["default"]) if "default" in node else ""
        return FieldRow(
            name=name,
            depth=depth,
            type=self.type_label(raw, raw_loc),
            required=required,
            description=desc,
            enum=[_literal(e) for e in enum] if isinstance(enum, list) else [],
            default=default,
            constraints=self._constraints(node),
        )

    def fields(
        self,
        schema: Any,
        loc: Loc,
        prefix: str = "",
        depth: int = 0,
        seen: frozenset[tuple[str, str]] = frozenset(),
    ) -> list[FieldRow]:
        """Rows for every property of `schema`, children after their parent (`a.b`, `a[].b`)."""
        node, loc = self.bundle.deref(schema, loc)
        if not isinstance(node, dict) or depth > MAX_DEPTH:
            return []
        ident = (loc.doc, loc.pointer)
        if ident in seen:
            return []
        seen = seen | {ident}
        if _types(node) == ["array"] or ("items" in node and "properties" not in node):
            items = node.get("items")
            if items is None:
                return []
            return (
                self.fields(items, loc.child("items"), prefix + "[].", depth, seen)
                if prefix
                else self.fields(items, loc.child("items"), "[].", depth, seen)
            )
        _, loc, props, required = self.merged(node, loc)
        rows: list[FieldRow] = []
        names = {p[0] for p in props}
        for comb in ("oneOf", "anyOf"):
            for i, alt in enumerate(node.get(comb) or []):
                _, _, alt_props, _ = self.merged(alt, loc.child(comb, i))
                for p in alt_props:
                    if p[0] not in names:
                        props.append(p)
                        names.add(p[0])
        for name, sub, sub_loc in props:
            rows.append(self.row(prefix + name, sub, sub_loc, depth, name in required))
            rows.extend(self._children(sub, sub_loc, prefix + name, depth + 1, seen))
        return rows

    def _children(
        self, sub: Any, loc: Loc, name: str, depth: int, seen: frozenset[tuple[str, str]]
    ) -> list[FieldRow]:
        node, loc = self.bundle.deref(sub, loc)
        if not isinstance(node, dict):
            return []
        types = _types(node)
        if "array" in types and isinstance(node.get("items"), dict):
            return self.fields(node["items"], loc.child("items"), name + "[].", depth, seen)
        if "object" in types or node.get("allOf") or node.get("oneOf") or node.get("anyOf"):
            return self.fields(node, loc, name + ".", depth, seen)
        return []

    def example(self, schema: Any, loc: Loc, depth: int = 0) -> Any:
        """An example value: the schema's own example, else one built from its structure."""
        node, loc = self.bundle.deref(schema, loc)
        if not isinstance(node, dict) or depth > MAX_DEPTH:
            return None
        if "example" in node:
            return node["example"]
        if isinstance(node.get("examples"), list) and node["examples"]:
            return node["examples"][0]
        if "const" in node:
            return node["const"]
        if "default" in node and node["default"] is not None:
            return node["default"]
        if isinstance(node.get("enum"), list) and node["enum"]:
            return node["enum"][0]
        for comb in ("oneOf", "anyOf"):
            if isinstance(node.get(comb), list) and node[comb]:
                return self.example(node[comb][0], loc.child(comb, 0), depth + 1)
        _, loc, props, required = self.merged(node, loc)
        types = [t for t in _types(node) if t != "null"] or (["object"] if props else [])
        t = types[0] if types else "string"
        if t == "object":
            return {
                name: self.example(sub, sub_loc, depth + 1)
                for name, sub, sub_loc in props
                if name in required or depth < 2
            }
        if t == "array":
            item = self.example(node.get("items", {}), loc.child("items"), depth + 1)
            return [] if item is None else [item]
        if t == "integer":
            return int(node.get("minimum", 1))
        if t == "number":
            return float(node.get("minimum", 1))
        if t == "boolean":
            return False
        fmt = node.get("format")
        if fmt == "uuid":
            return "3c90c3cc-0d44-4b50-8888-8dd25736052a"
        if fmt == "binary":
            return "<binary>"
        return "string"
