"""Validate examples against the spec's schemas (OpenAPI 3.0 dialect or the events file)."""

from __future__ import annotations

from typing import Any

import jsonschema

from spectools.docs.spec import Loc, SpecBundle


def _to_jsonschema(bundle: SpecBundle, node: Any, loc: Loc, depth: int = 0) -> Any:
    """Inline `$ref`s and turn OpenAPI 3.0 `nullable` into JSON Schema types."""
    if depth > 40:
        return {}
    if isinstance(node, dict) and "$ref" in node:
        target, tloc = bundle.deref(node, loc)
        return _to_jsonschema(bundle, target, tloc, depth + 1)
    if isinstance(node, list):
        return [_to_jsonschema(bundle, v, loc.child(i), depth + 1) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("example", "examples", "x-sse-events", "discriminator", "xml", "externalDocs"):
            continue
        if key in ("properties", "patternProperties", "$defs", "definitions"):
            out[key] = {k: _to_jsonschema(bundle, v, loc.child(key, k), depth + 1) for k, v in value.items()}
        else:
            out[key] = _to_jsonschema(bundle, value, loc.child(key), depth + 1)
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    if node.get("nullable") and "type" not in out:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def validate(bundle: SpecBundle, value: Any, loc: Loc) -> None:
    """Raise `jsonschema.ValidationError` unless `value` satisfies the schema at `loc`."""
    if loc.doc == "events":
        schema = {**bundle.events, "$ref": "#" + loc.pointer}
        schema.pop("$id", None)
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(value)
        return
    schema = _to_jsonschema(bundle, bundle.get(loc), loc)
    jsonschema.Draft7Validator(schema).validate(value)
