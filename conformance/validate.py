"""Validate any response the suite receives against the operation the spec declares for it.

`ResponseValidator.problems(method, url, status, content_type, body)` finds the operation by its path
template, then checks that the status is declared, that the content type is one declared for it and that
a JSON body matches the declared schema (OpenAPI 3.0 schemas, `nullable` included, checked with
jsonschema). Streams are left to the `sse.*` checks and binary bodies to the scenarios.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from conformance.spec import Operation, Spec

_REF = "$ref"


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema object -> JSON Schema draft 4 (`nullable`, and no OpenAPI-only keywords)."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _to_json_schema(v)
        for k, v in node.items()
        if k not in ("nullable", "example", "examples", "discriminator", "xml", "externalDocs", "readOnly")
        and not k.startswith("x-")
    }
    if "properties" in node and isinstance(node["properties"], dict):
        out["properties"] = {k: _to_json_schema(v) for k, v in node["properties"].items()}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str) and _REF not in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class ResponseValidator:
    def __init__(self, spec: Spec, base_path: str) -> None:
        self.spec = spec
        self.base_path = base_path.rstrip("/")
        self._templates = sorted(
            (
                (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(op.path)) + "$"), op)
                for op in spec.operations.values()
            ),
            key=lambda pair: pair[1].path.count("{"),
        )

    @cached_property
    def _registry(self) -> Registry[Any]:
        doc = {"components": {"schemas": _to_json_schema(self.spec.openapi["components"]["schemas"])}}
        resource = Resource.from_contents(doc, default_specification=DRAFT4)
        registry: Registry[Any] = Registry().with_resource("urn:openapi", resource)
        return registry

    def operation(self, method: str, url: str) -> Operation | None:
        path = urlsplit(url).path
        if self.base_path and path.startswith(self.base_path):
            path = path[len(self.base_path) :] or "/"
        for pattern, op in self._templates:
            if op.method == method.lower() and pattern.match(path):
                return op
        return None

    def _response(self, op: Operation, status: int) -> dict[str, Any] | None:
        responses = op.definition.get("responses", {})
        found = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        if not isinstance(found, dict):
            return None
        if _REF in found:
            name = found[_REF].rsplit("/", 1)[-1]
            resolved = self.spec.openapi.get("components", {}).get("responses", {}).get(name)
            return resolved if isinstance(resolved, dict) else None
        return found

    def problems(self, op: Operation, status: int, content_type: str, body: bytes) -> list[str]:
        response = self._response(op, status)
        if response is None:
            return [f"status {status} is not declared for {op.operation_id} ({', '.join(op.statuses)})"]
        content = response.get("content") or {}
        media = content_type.split(";")[0].strip().lower()
        if not content:
            return [f"{status} declares no body, got {len(body)} bytes"] if body.strip() else []
        declared = {m.lower(): v for m, v in content.items()}
        match = declared.get(media) or next(
            (v for m, v in declared.items() if m == "*/*" or (m.endswith("/*") and media.startswith(m[:-1]))),
            None,
        )
        if match is None:
            return [f"{status} Content-Type {media or '(none)'!r} is not one of {', '.join(declared)}"]
        if media != "application/json" or not isinstance(match, dict) or "schema" not in match:
            return []
        try:
            value = json.loads(body)
        except ValueError:
            return [f"{status} body is not JSON: {body[:80]!r}"]
        schema = dict(_to_json_schema(match["schema"]))
        schema = json.loads(json.dumps(schema).replace('"#/components/', '"urn:openapi#/components/'))
        validator = Draft4Validator(schema, registry=self._registry)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        out = []
        for err in errors[:3]:
            where = "/".join(str(p) for p in err.absolute_path) or "(body)"
            out.append(f"{status} body at {where}: {err.message[:160]}")
        return out
