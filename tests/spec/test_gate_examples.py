"""Gate: every example in the two spec files validates against the schema it illustrates.

openapi.yaml: schema-level `example`, media-type `example`/`examples` (`$ref`'d components/examples
included), parameter and header `example`/`examples`; validated with OpenAPI 3.0 semantics
(`nullable`, formats) and `$ref` resolution.  events.schema.json: every `examples` entry of every
subschema, validated with JSON Schema 2020-12 against that subschema.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012
from spec_gate import EVENTS, OPENAPI

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
SUBSCHEMA_LISTS = ("allOf", "oneOf", "anyOf", "prefixItems")
SUBSCHEMA_SINGLE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def esc(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# --------------------------------------------------------------------------- collection


def schema_examples(schema: Any, ptr: str, key: str) -> Iterator[tuple[str, str, Any]]:
    """(where, schema pointer, value) for `key` (`example` or `examples`) in a schema tree."""
    if not isinstance(schema, Mapping) or "$ref" in schema and len(schema) == 1:
        return
    if key == "example" and "example" in schema:
        yield f"{ptr}/example", ptr, schema["example"]
    if key == "examples" and isinstance(schema.get("examples"), list):
        for i, value in enumerate(schema["examples"]):
            yield f"{ptr}/examples/{i}", ptr, value
    for name in SUBSCHEMA_MAPS:
        for sub, child in (schema.get(name) or {}).items():
            yield from schema_examples(child, f"{ptr}/{name}/{esc(sub)}", key)
    for name in SUBSCHEMA_LISTS:
        for i, child in enumerate(schema.get(name) or []):
            yield from schema_examples(child, f"{ptr}/{name}/{i}", key)
    for name in SUBSCHEMA_SINGLE:
        if isinstance(schema.get(name), Mapping):
            yield from schema_examples(schema[name], f"{ptr}/{name}", key)


def resolve_local(doc: Mapping[str, Any], node: Any) -> Any:
    """Follow `#/...` refs until a non-ref node."""
    for _ in range(32):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            return node
        ref = node["$ref"]
        assert ref.startswith("#/"), f"external $ref {ref!r} in openapi.yaml: the gate expects local refs"
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    raise AssertionError("$ref chain too long")


def media_examples(doc: Mapping[str, Any], media: Any, ptr: str) -> Iterator[tuple[str, str, Any]]:
    if not isinstance(media, Mapping):
        return
    if "schema" in media:
        yield from schema_examples(media["schema"], f"{ptr}/schema", "example")
    yield from carrier_examples(doc, media, ptr)


def carrier_examples(
    doc: Mapping[str, Any], carrier: Mapping[str, Any], ptr: str
) -> Iterator[tuple[str, str, Any]]:
    """`example` / `examples` of a media type, parameter or header, checked against its `schema`."""
    schema_ptr = f"{ptr}/schema"
    if "example" in carrier:
        yield f"{ptr}/example", schema_ptr, carrier["example"]
    for name, example in (carrier.get("examples") or {}).items():
        where = f"{ptr}/examples/{esc(name)}"
        if isinstance(example, Mapping) and "$ref" in example:
            where += f" ({example['$ref']})"
        example = resolve_local(doc, example)
        if "externalValue" in example:
            yield where, schema_ptr, _ExternalValue(example["externalValue"])
        elif "value" in example:
            yield where, schema_ptr, example["value"]


class _ExternalValue:
    def __init__(self, url: str) -> None:
        self.url = url


def parameter_examples(doc: Mapping[str, Any], param: Any, ptr: str) -> Iterator[tuple[str, str, Any]]:
    if not isinstance(param, Mapping) or "$ref" in param:
        return  # components are walked on their own
    if "schema" in param:
        yield from schema_examples(param["schema"], f"{ptr}/schema", "example")
        yield from carrier_examples(doc, param, ptr)
    for media, body in (param.get("content") or {}).items():
        yield from media_examples(doc, body, f"{ptr}/content/{esc(media)}")


def response_examples(doc: Mapping[str, Any], response: Any, ptr: str) -> Iterator[tuple[str, str, Any]]:
    if not isinstance(response, Mapping) or "$ref" in response:
        return
    for media, body in (response.get("content") or {}).items():
        yield from media_examples(doc, body, f"{ptr}/content/{esc(media)}")
    for name, header in (response.get("headers") or {}).items():
        yield from parameter_examples(doc, header, f"{ptr}/headers/{esc(name)}")


def body_examples(doc: Mapping[str, Any], body: Any, ptr: str) -> Iterator[tuple[str, str, Any]]:
    if not isinstance(body, Mapping) or "$ref" in body:
        return
    for media, content in (body.get("content") or {}).items():
        yield from media_examples(doc, content, f"{ptr}/content/{esc(media)}")


def openapi_examples(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    components = doc.get("components") or {}
    for name, schema in (components.get("schemas") or {}).items():
        yield from schema_examples(schema, f"#/components/schemas/{esc(name)}", "example")
    for name, param in (components.get("parameters") or {}).items():
        yield from parameter_examples(doc, param, f"#/components/parameters/{esc(name)}")
    for name, header in (components.get("headers") or {}).items():
        yield from parameter_examples(doc, header, f"#/components/headers/{esc(name)}")
    for name, body in (components.get("requestBodies") or {}).items():
        yield from body_examples(doc, body, f"#/components/requestBodies/{esc(name)}")
    for name, response in (components.get("responses") or {}).items():
        yield from response_examples(doc, response, f"#/components/responses/{esc(name)}")
    for path, item in (doc.get("paths") or {}).items():
        base = f"#/paths/{esc(path)}"
        for i, param in enumerate(item.get("parameters") or []):
            yield from parameter_examples(doc, param, f"{base}/parameters/{i}")
        for method, op in item.items():
            if method not in METHODS:
                continue
            for i, param in enumerate(op.get("parameters") or []):
                yield from parameter_examples(doc, param, f"{base}/{method}/parameters/{i}")
            yield from body_examples(doc, op.get("requestBody"), f"{base}/{method}/requestBody")
            for status, response in (op.get("responses") or {}).items():
                yield from response_examples(doc, response, f"{base}/{method}/responses/{status}")


# --------------------------------------------------------------------------- validation


def _message(err: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in err.absolute_path) or "<value>"
    return f"{where}: {err.message}"


def openapi_example_failures(doc: Mapping[str, Any], base_uri: str) -> tuple[int, list[str]]:
    registry: Registry[Any] = Registry().with_resource(
        base_uri, Resource.from_contents(doc, default_specification=DRAFT4)
    )
    failures: list[str] = []
    count = 0
    for where, schema_ptr, value in openapi_examples(doc):
        count += 1
        if isinstance(value, _ExternalValue):
            failures.append(f"{where}: externalValue {value.url!r} cannot be checked; inline the value")
            continue
        validator = OAS30Validator(
            {"$ref": f"{base_uri}{schema_ptr}"}, registry=registry, format_checker=oas30_format_checker
        )
        err = best_match(validator.iter_errors(value))
        if err is not None:
            failures.append(f"{where} (schema {schema_ptr}): {_message(err)}")
    return count, failures


def events_example_failures(doc: Mapping[str, Any], base_uri: str) -> tuple[int, list[str]]:
    resource = Resource.from_contents(doc, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(base_uri, resource)
    if isinstance(doc.get("$id"), str):
        base_uri = doc["$id"].split("#")[0]
        registry = registry.with_resource(base_uri, resource)
    failures: list[str] = []
    count = 0
    for where, schema_ptr, value in schema_examples(doc, "#", "examples"):
        count += 1
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{base_uri}{schema_ptr}"},
            registry=registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        err = best_match(validator.iter_errors(value))
        if err is not None:
            failures.append(f"{where}: {_message(err)}")
    return count, failures


# --------------------------------------------------------------------------- tests


def test_every_openapi_example_matches_its_schema(openapi: dict[str, Any]) -> None:
    count, failures = openapi_example_failures(openapi, OPENAPI.as_uri())
    assert count > 0, "openapi.yaml holds no examples at all"
    assert not failures, f"{len(failures)} of {count} examples do not match their schema:\n" + "\n".join(
        failures
    )


def test_every_event_example_matches_its_definition(events: dict[str, Any]) -> None:
    count, failures = events_example_failures(events, EVENTS.as_uri())
    assert count > 0, "events.schema.json holds no examples at all"
    assert not failures, f"{len(failures)} of {count} event examples are invalid:\n" + "\n".join(failures)


def test_the_collector_finds_and_rejects_bad_examples() -> None:
    """The walker reaches every example position and the validator applies OAS 3.0 semantics."""
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "paths": {
            "/x/{id}": {
                "parameters": [
                    {"name": "id", "in": "path", "schema": {"type": "integer"}, "example": "nope"}
                ],
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Thing"},
                                "examples": {"bad": {"$ref": "#/components/examples/BadThing"}},
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
                                    "example": {"n": 1.5},
                                }
                            },
                        }
                    },
                },
            }
        },
        "components": {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "nullable": True},
                        "at": {"type": "string", "format": "date-time", "example": "yesterday"},
                    },
                    "example": {"name": None},
                }
            },
            "examples": {"BadThing": {"value": {"name": 3}}},
        },
    }
    count, failures = openapi_example_failures(doc, "urn:fixture")
    assert count == 5
    failed = sorted(f.split(" ")[0] for f in failures)
    assert failed == [
        "#/components/schemas/Thing/properties/at/example",
        "#/paths/~1x~1{id}/parameters/0/example",
        "#/paths/~1x~1{id}/post/requestBody/content/application~1json/examples/bad",
        "#/paths/~1x~1{id}/post/responses/200/content/application~1json/example",
    ], failures

    events_doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {
            "ping": {
                "type": "object",
                "properties": {"event": {"const": "ping"}},
                "examples": [{"event": "pong"}],
            },
            "message": {"$ref": "#/$defs/base", "examples": [{"event": "message", "answer": "hi"}]},
            "base": {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}},
        },
    }
    count, failures = events_example_failures(events_doc, "urn:events")
    assert count == 2
    assert [f.split(":")[0] for f in failures] == ["#/$defs/ping/examples/0"], failures
