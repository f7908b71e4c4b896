"""The builtin model's JSON answers: a deterministic instance of a JSON schema.

When an LLM node asks for structured output (Dify's `json_schema` model parameter) the builtin
model answers with an object that conforms to the schema, built from the schema alone plus one
text (the prompt's last user message):

- strings are that text (an `enum` gives its first value, `const` its value; `minLength` pads,
  `maxLength` cuts; the formats `date-time`, `date`, `time`, `email`, `uri`/`url` and `uuid` give
  a fixed valid value);
- numbers and integers are 0, moved into `minimum`/`maximum` (and the exclusive bounds);
- booleans are `false`, null is `null`;
- arrays hold `max(1, minItems)` items of the item schema (never more than `maxItems`);
- objects hold every property the schema lists, required or not, each built recursively;
- a schema without a type is an object at the top and a string below it;
- `anyOf`/`oneOf` take their first branch, `allOf` merges its branches' properties, a type list
  takes its first non-null type, local `$ref`s (`#/$defs/…`, `#/definitions/…`) are followed.

Without any schema, JSON mode (`response_format: json_object`) answers `{"answer": <reply>}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 12
MAX_TEXT = 2000
_FORMATS = {
    "date-time": "1970-01-01T00:00:00Z",
    "date": "1970-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while isinstance(schema.get("$ref"), str) and seen < MAX_DEPTH:
        ref = str(schema["$ref"])
        if not ref.startswith("#/"):
            return {}
        target: Any = root
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            target = target.get(key) if isinstance(target, Mapping) else None
        schema = target if isinstance(target, Mapping) else {}
        seen += 1
    return schema


def _type_of(schema: Mapping[str, Any], depth: int) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [str(k) for k in kind if k != "null"]
        return kinds[0] if kinds else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "object" if depth == 0 else "string"


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    value: float = 0
    step = 1 if integer else 0.5
    low, high = schema.get("minimum"), schema.get("maximum")
    x_low, x_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(low, int | float) and not isinstance(low, bool) and value < low:
        value = low
    if isinstance(x_low, int | float) and not isinstance(x_low, bool) and value <= x_low:
        value = x_low + step
    if isinstance(high, int | float) and not isinstance(high, bool) and value > high:
        value = high
    if isinstance(x_high, int | float) and not isinstance(x_high, bool) and value >= x_high:
        value = x_high - step
    if integer:
        return int(value)
    return int(value) if float(value).is_integer() else value


def _string(schema: Mapping[str, Any], text: str) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    value = text[:MAX_TEXT] or "text"
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(value) < low:
        value = value + "." * (low - len(value))
    if isinstance(high, int) and high >= 0 and len(value) > high:
        value = value[:high]
    return value


def instance(
    schema: Mapping[str, Any], text: str, root: Mapping[str, Any] | None = None, depth: int = 0
) -> Any:
    """A value conforming to `schema`, its strings made of `text`."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf"):
        branches = [b for b in schema.get(key) or [] if isinstance(b, Mapping)]
        if branches:
            return instance(branches[0], text, root, depth + 1)
    merged = dict(schema)
    for branch in schema.get("allOf") or []:
        if isinstance(branch, Mapping):
            branch = _resolve(branch, root)
            props = {**dict(merged.get("properties") or {}), **dict(branch.get("properties") or {})}
            merged = {**branch, **merged, "properties": props}
    schema = merged
    kind = _type_of(schema, depth)
    if kind == "object":
        if depth >= MAX_DEPTH:
            return {}
        listed = schema.get("properties")
        return {
            str(name): instance(sub if isinstance(sub, Mapping) else {}, text, root, depth + 1)
            for name, sub in (listed.items() if isinstance(listed, Mapping) else [])
        }
    if kind == "array":
        items = schema.get("items")
        item_schema = items if isinstance(items, Mapping) else {}
        count = max(1, int(schema.get("minItems") or 0))
        most = schema.get("maxItems")
        if isinstance(most, int):
            count = min(count, most)
        if depth >= MAX_DEPTH:
            return []
        return [instance(item_schema, text, root, depth + 1) for _ in range(count)]
    if kind in ("number", "integer"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string(schema, text)
