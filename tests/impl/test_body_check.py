"""impl.body_check: the compiled check never accepts a body Connexion's request validator rejects,
and the body validator answers exactly as Connexion's does (accept, or the same 400 and text)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from connexion.exceptions import BadRequestProblem
from connexion.json_schema import Draft4RequestValidator
from connexion.operations import OpenAPIOperation
from connexion.resolver import Resolver
from connexion.spec import Specification
from connexion.validators import JSONRequestBodyValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from impl import body_check as body_check_module
from impl.auth import inject_bearer_func
from impl.body_check import body_check, compile_body_check
from impl.spec import load_spec
from impl.stack import CachedJSONRequestBodyValidator

SPEC = Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml"
FORMATS = Draft4Validator.FORMAT_CHECKER
Outcome = tuple[int, str] | None


def _connexion_accepts(schema: dict[str, Any], body: Any) -> bool:
    return bool(Draft4RequestValidator(schema, format_checker=FORMATS).is_valid(body))


def _fast_accepts(schema: dict[str, Any], body: Any) -> bool:
    check = compile_body_check(schema, FORMATS)
    assert check is not None, schema
    return _passes(check, body)


def _passes(check: Any, body: Any) -> bool:
    try:
        check(copy.deepcopy(body))
    except Exception:
        return False
    return True


def _outcome(validator: Any, body: Any) -> Outcome:
    try:
        validator._validate(body)
    except BadRequestProblem as exc:
        return int(exc.status), str(exc.detail)
    return None


# ---- keyword by keyword ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ({"type": "string", "nullable": True}, None),
        ({"type": "string", "x-nullable": True}, None),
        ({"type": "string", "enum": ["a"], "nullable": True}, None),
        ({"enum": ["a"], "nullable": True}, None),
        ({"type": ["integer", "string"], "nullable": True}, None),
        ({"type": "integer"}, 10**40),
        ({"type": "integer", "maximum": 10**40}, 10**40),
        ({"type": "number", "minimum": 0.5, "exclusiveMinimum": True}, 0.6),
        ({"type": "object", "additionalProperties": {"type": "string"}}, {"a": "b"}),
        ({"type": "object", "properties": {"a": {"readOnly": True}}}, {"a": 1}),
        ({"type": "object", "properties": {"a": {"writeOnly": True, "type": "string"}}}, {"a": "x"}),
        ({"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 2}, ["a", "b"]),
        ({"type": "string", "format": "uri"}, "not a uri"),  # no `uri` checker: Connexion accepts it
        ({"type": "string", "format": "uuid"}, "not a uuid"),
        ({"type": "string", "format": "ipv4"}, "127.0.0.1"),
        ({"type": "string", "format": "email"}, "a@b.c"),
        ({"type": "string", "pattern": "^[a-z]+$"}, "abc"),
        ({"type": "object", "x-extension": {"type": "integer"}}, {}),
    ],
)
def test_both_accept(schema: dict[str, Any], body: Any) -> None:
    assert _connexion_accepts(schema, body)
    assert _fast_accepts(schema, body)


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ({"type": "string"}, None),
        ({"type": "string", "nullable": False}, None),
        ({"type": "string", "x-nullable": "yes"}, None),  # Connexion wants `x-nullable: true` itself
        ({"type": "string", "enum": ["a"]}, None),
        ({"properties": {"a": {"type": "string", "nullable": True}}, "required": ["a"]}, {}),
        ({"type": "integer"}, True),
        ({"type": "integer"}, 1.0),
        ({"type": "integer"}, 1.5),
        ({"type": "number"}, False),
        ({"type": "number"}, "1"),
        ({"type": "integer", "maximum": 10**40}, 10**40 + 1),
        ({"type": "number", "minimum": 0.5, "exclusiveMinimum": True}, 0.5),
        ({"enum": [1]}, True),
        ({"enum": [True]}, 1),
        ({"enum": [0]}, False),
        ({"enum": ["1"]}, 1),
        ({"type": "object", "additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}),
        ({"type": "object", "additionalProperties": {"type": "string"}}, {"a": 1}),
        ({"type": "object", "required": ["a"]}, {"b": 1}),
        ({"type": "array"}, {"0": 1}),
        ({"type": "object"}, []),
        ({"type": "array", "items": {"type": "string", "minLength": 1}}, ["a", ""]),
        ({"type": "array", "minItems": 1}, []),
        ({"type": "string", "minLength": 2}, "é"),
        ({"type": "string", "maxLength": 1}, "ab"),
        ({"type": "string", "format": "ipv4"}, "999.1.1.1"),
        ({"type": "string", "format": "email"}, "no-at-sign"),
        ({"type": "string", "pattern": "^[a-z]+$"}, "ab1"),
        ({"type": "object", "properties": {"a": {"default": 1, "type": "string"}}}, {"a": 2}),
    ],
)
def test_both_reject(schema: dict[str, Any], body: Any) -> None:
    assert not _connexion_accepts(schema, body)
    assert not _fast_accepts(schema, body)


def test_a_pattern_ending_in_dollar_is_only_stricter() -> None:
    """fastjsonschema reads the final `$` as `\\Z`: a trailing newline it rejects Connexion accepts,
    and the validator then answers with Connexion's acceptance."""
    schema = {"type": "string", "pattern": "^[a-z]+$"}
    assert _connexion_accepts(schema, "abc\n") and not _fast_accepts(schema, "abc\n")
    validator = CachedJSONRequestBodyValidator(schema=schema, encoding="utf-8", strict_validation=False)
    assert validator._check is not None
    assert _outcome(validator, "abc\n") is None


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/components/schemas/X"},
        {"oneOf": [{"type": "string"}]},
        {"anyOf": [{"type": "string"}]},
        {"allOf": [{"type": "string"}]},
        {"not": {"type": "string"}},
        {"type": "number", "multipleOf": 0.1},
        {"type": "array", "uniqueItems": True},
        {"type": "array", "items": [{"type": "string"}]},
        {"type": "array", "items": True},
        {"type": "object", "patternProperties": {"^a": {}}},
        {"type": "object", "dependencies": {"a": ["b"]}},
        {"type": "object", "discriminator": {"propertyName": "kind"}},
        {"type": "object", "properties": {"a": {"$ref": "#/x"}}},
        {"type": "file"},
        {"type": "any"},
        {"enum": [{"a": 1}]},
        {"enum": []},
        {"type": "number", "maximum": float("inf")},
        {"type": "number", "maximum": True},
        {"type": "string", "minLength": 1.5},
        {"type": "string", "pattern": "^a$|^b$"},
        {"type": "string", "pattern": "^(?!x$).*"},
        {"type": "string", "pattern": "[$]"},
        {"type": "string", "pattern": "("},
        {"required": ["a", "a"]},
        {"required": "a"},
        {"$schema": "http://json-schema.org/draft-07/schema#"},
        {"id": "http://example.com/x"},
        {"type": "object", "properties": {"a": "not a schema"}},
    ],
)
def test_what_is_not_compiled(schema: dict[str, Any]) -> None:
    assert compile_body_check(schema, FORMATS) is None


def test_a_cycle_is_not_compiled() -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    schema["properties"]["self"] = schema
    assert compile_body_check(schema, FORMATS) is None


def test_a_format_checker_rejecting_non_strings_is_not_compiled() -> None:
    from jsonschema import FormatChecker

    strict = FormatChecker(formats=())
    strict.checks("strict")(lambda instance: isinstance(instance, str))
    assert compile_body_check({"format": "strict"}, strict) is None
    assert compile_body_check({"format": "ipv4"}, strict) is not None  # unknown to it: passes
    assert compile_body_check({"format": "ipv4"}, None) is not None


def test_no_format_checker_checks_no_format() -> None:
    check = compile_body_check({"type": "string", "format": "ipv4"}, None)
    assert check is not None
    check("999.1.1.1")


def test_property_names_that_are_not_identifiers() -> None:
    names = ["a-b", "ab", 'q"uote', "back\\slash", "{brace}", "", "é", "1", "$x", "a.b"]
    schema = {
        "type": "object",
        "properties": {name: {"type": "integer"} for name in names},
        "required": names[:3],
        "additionalProperties": False,
    }
    valid = {name: index for index, name in enumerate(names)}
    assert _connexion_accepts(schema, valid) and _fast_accepts(schema, valid)
    for name in names:
        wrong = {**valid, name: "x"}
        assert not _connexion_accepts(schema, wrong) and not _fast_accepts(schema, wrong), name
    extra = {**valid, "other": 1}
    assert not _connexion_accepts(schema, extra) and not _fast_accepts(schema, extra)


def test_the_body_is_not_changed() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "default": "x"}}}
    check = compile_body_check(schema, FORMATS)
    assert check is not None
    body: dict[str, Any] = {}
    check(body)
    assert body == {}


def test_an_empty_body_keeps_connexions_message() -> None:
    """A schema that is nullable by `x-nullable` lets `null` through its type, but Connexion still
    answers that an empty body is not allowed; so does the fast path."""
    schema = {"type": "object", "x-nullable": True}
    ours = CachedJSONRequestBodyValidator(schema=schema, encoding="utf-8", strict_validation=False)
    theirs = JSONRequestBodyValidator(schema=schema, encoding="utf-8", strict_validation=False)
    assert _outcome(ours, None) == _outcome(theirs, None) == (400, "Request body must not be empty")


def test_compiled_once_per_schema() -> None:
    schema = {"type": "object", "required": ["a"]}
    first = CachedJSONRequestBodyValidator(schema=schema, encoding="utf-8", strict_validation=False)
    second = CachedJSONRequestBodyValidator(schema=schema, encoding="latin-1", strict_validation=False)
    assert first._check is not None and first._check is second._check


def test_compiled_once_per_distinct_schema() -> None:
    first = body_check({"type": "object", "required": ["b"], "description": "one"}, FORMATS)
    again = body_check({"description": "two", "required": ["b"], "type": "object"}, FORMATS)
    other = body_check({"type": "object", "required": ["c"]}, FORMATS)
    assert first is not None and first is again and other is not first


def test_past_the_bound_no_check_is_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body_check_module, "_CHECKS", {})
    monkeypatch.setattr(body_check_module, "MAX_CHECKS", 1)
    kept = {"type": "string"}
    assert body_check(kept, FORMATS) is not None
    assert body_check({"type": "integer"}, FORMATS) is None
    assert body_check(dict(kept), FORMATS) is not None


# ---- random schemas of the compiled keywords ---------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.integers(-(10**30), 10**30)
    | st.sampled_from([0.0, 1.0, -1.5, 2.5, 1e300])
    | st.sampled_from(["", "a", "ab", "abc\n", "A1", "é", "127.0.0.1", "a@b.c", "1"])
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=6,
)
# Values each random schema is also tried on: the edges of types, bounds, enums and formats.
PROBES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    1.0,
    -1,
    0.5,
    2.5,
    10**30,
    10**30 + 1,
    "",
    "a",
    "ab",
    "abc\n",
    "1",
    "127.0.0.1",
    "a@b.c",
    [],
    [None],
    ["a", "b", "c"],
    [1, "a"],
    {},
    {"a": None},
    {"a": 1, "b": "x"},
    {"a": "", "b": [], "c": {}},
    {"d": 1},
]
TYPES = st.sampled_from(["null", "boolean", "integer", "number", "string", "array", "object"])


@st.composite
def _schemas(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    """A schema of one to three of the compiled keywords (and annotations), nested up to twice."""
    words: dict[str, st.SearchStrategy[Any]] = {
        "type": TYPES | st.lists(TYPES, min_size=1, max_size=3, unique=True),
        "enum": st.lists(SCALARS, min_size=1, max_size=3),
        "nullable": st.booleans(),
        "x-nullable": st.booleans(),
        "minLength": st.integers(0, 3),
        "maxLength": st.integers(0, 3),
        "minimum": st.integers(-2, 2) | st.sampled_from([0.5, 10**30]),
        "maximum": st.integers(-2, 2) | st.sampled_from([0.5, 10**30]),
        "exclusiveMinimum": st.booleans(),
        "exclusiveMaximum": st.booleans(),
        "minItems": st.integers(0, 2),
        "maxItems": st.integers(0, 2),
        "minProperties": st.integers(0, 2),
        "maxProperties": st.integers(0, 2),
        "required": st.lists(st.sampled_from("abc"), max_size=2, unique=True),
        "pattern": st.sampled_from(["^[a-z]+$", "[0-9]", "^$", "b"]),
        "format": st.sampled_from(["ipv4", "email", "uri", "date-time", "regex", "uuid"]),
        "default": SCALARS,
        "readOnly": st.booleans(),
        "description": st.just("d"),
    }
    if depth < 2:
        inner = _schemas(depth + 1)
        words["properties"] = st.dictionaries(st.sampled_from("abc"), inner, max_size=2)
        words["additionalProperties"] = st.booleans() | inner
        words["items"] = inner
    chosen = draw(st.lists(st.sampled_from(sorted(words)), min_size=1, max_size=3, unique=True))
    return {word: draw(words[word]) for word in chosen}


TYPE_NAMES = ["null", "boolean", "integer", "number", "string", "array", "object"]
GRID: list[dict[str, Any]] = [
    {**typed, **nullable}
    for typed in [
        *({"type": name} for name in TYPE_NAMES),
        {"type": ["integer", "string"]},
        {"type": ["boolean", "number"]},
        {"enum": [1, "a"]},
        {"enum": [True]},
        {"enum": [0.5, None]},
        {"type": "integer", "enum": [1, 2]},
        {"type": "integer", "minimum": 1},
        {"type": "number", "maximum": 10**30, "exclusiveMaximum": True},
        {"type": "string", "minLength": 1, "maxLength": 2},
        {"type": "string", "pattern": "^[a-z]+$"},
        {"type": "string", "format": "ipv4"},
        {"type": "string", "format": "email"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
        {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer", "nullable": True}}},
        {"type": "object", "properties": {"b": {"type": "string"}}, "additionalProperties": False},
        {"type": "object", "additionalProperties": {"type": ["string", "array"]}},
        {"type": "object", "maxProperties": 1},
    ]
    for nullable in [{}, {"nullable": True}, {"x-nullable": True}, {"nullable": False}]
]


@pytest.mark.parametrize("schema", GRID)
def test_grid_of_schemas_and_edge_values(schema: dict[str, Any]) -> None:
    check = compile_body_check(schema, FORMATS)
    assert check is not None
    answers = [(body, _passes(check, body), _connexion_accepts(schema, body)) for body in PROBES]
    assert [body for body, fast, connexion in answers if fast and not connexion] == []
    # No false rejections either, but for the strings a pattern ending in `$` reads more strictly.
    assert [body for body, fast, connexion in answers if connexion and not fast and body != "abc\n"] == []


def test_random_schemas_never_accept_more() -> None:
    seen = {"compiled": 0, "fast": 0}

    @settings(
        max_examples=250,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(schema=_schemas(0), bodies=st.lists(ANY_JSON, min_size=1, max_size=8))
    def check(schema: dict[str, Any], bodies: list[Any]) -> None:
        compiled = compile_body_check(schema, FORMATS)
        if compiled is None:  # e.g. `required` with `additionalProperties: false` fastjsonschema refuses
            return
        seen["compiled"] += 1
        for body in [*PROBES, *bodies]:
            if _passes(compiled, body):
                seen["fast"] += 1
                assert _connexion_accepts(schema, body), (schema, body)

    check()
    assert seen["compiled"] > 180 and seen["fast"] > 1000, seen


# ---- the spec's request bodies -----------------------------------------------------------------


def _body_validators() -> list[tuple[str, dict[str, Any], Any, Any]]:
    raw = inject_bearer_func(load_spec(SPEC))
    spec = Specification.from_dict(raw)
    resolver = Resolver(lambda _operation_id: _unused)
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            op = OpenAPIOperation.from_spec(spec, path=path, method=method, resolver=resolver)
            for mime_type in op.consumes:
                if "json" not in mime_type:
                    continue
                schema = op.body_schema(mime_type)
                kwargs = {
                    "schema": schema,
                    "required": op.request_body.get("required", False),
                    "nullable": bool(op.body_definition(mime_type)["schema"].get("nullable", False)),
                    "encoding": "utf-8",
                    "strict_validation": False,
                }
                found.append(
                    (
                        f"{method} {path} {mime_type}",
                        schema,
                        CachedJSONRequestBodyValidator(**kwargs),
                        JSONRequestBodyValidator(**kwargs),
                    )
                )
    return found


def _unused() -> None:
    raise AssertionError("not called")


BODY_VALIDATORS = _body_validators()


def test_every_json_body_of_the_spec_is_compiled() -> None:
    """All of today's body schemas get the fast path (a new keyword would silently lose it)."""
    assert len(BODY_VALIDATORS) >= 15
    assert [name for name, _schema, ours, _theirs in BODY_VALIDATORS if ours._check is None] == []


@st.composite
def _near(draw: st.DrawFn, schema: Any, depth: int = 0) -> Any:
    """A body close to `schema`: mostly what it describes, sometimes any JSON value in its place."""
    if not isinstance(schema, dict) or depth > 4 or draw(st.integers(0, 9)) == 0:
        return draw(ANY_JSON)
    candidates: list[Any] = []
    if "enum" in schema:
        candidates.append(st.sampled_from([*schema["enum"], None, "other"]))
    if "example" in schema:
        candidates.append(st.just(schema["example"]))
    if "pattern" in schema:
        candidates.append(st.from_regex(schema["pattern"]))
    types = schema.get("type", "object")
    for name in types if isinstance(types, list) else [types]:
        if name == "object":
            candidates.append(_objects(schema, depth))
        elif name == "array":
            candidates.append(st.lists(_near(schema.get("items", {}), depth + 1), max_size=3))
        elif name == "string":
            candidates.append(st.text(max_size=4) | st.sampled_from(["", " ", "x\n", "0c5b7f52-4f4e"]))
        elif name == "integer":
            candidates.append(st.integers() | st.sampled_from([True, 1.0, 10**40, -(10**40)]))
        elif name == "number":
            candidates.append(st.floats(allow_nan=False) | st.integers() | st.just(False))
        elif name == "boolean":
            candidates.append(st.booleans() | st.sampled_from([0, 1, "true"]))
    return draw(st.one_of(candidates)) if candidates else draw(ANY_JSON)


@st.composite
def _objects(draw: st.DrawFn, schema: dict[str, Any], depth: int) -> dict[str, Any]:
    required = set(schema.get("required", []))
    body: dict[str, Any] = {}
    for name, sub in (schema.get("properties") or {}).items():
        if draw(st.integers(0, 19)) > 0 if name in required else draw(st.booleans()):
            body[name] = draw(_near(sub, depth + 1))
    if draw(st.integers(0, 4)) == 0:
        body[draw(st.text(max_size=6))] = draw(ANY_JSON)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and draw(st.booleans()):
        body[draw(st.text(max_size=6))] = draw(_near(extra, depth + 1))
    return body


@pytest.mark.parametrize(
    ("schema", "ours", "theirs"),
    [pytest.param(schema, ours, theirs, id=name) for name, schema, ours, theirs in BODY_VALIDATORS],
)
def test_spec_bodies_answer_as_connexion(schema: dict[str, Any], ours: Any, theirs: Any) -> None:
    """Fast accept ⇒ Connexion accepts; and the validator's answer (none, or the 400 and its text)
    is Connexion's, for bodies near each schema: valid ones and ones with wrong types, nulls,
    missing or extra properties, huge numbers, junk in place of values."""
    seen = {"fast": 0, "connexion rejects": 0}

    @settings(
        max_examples=80,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=_near(schema))
    def check(body: Any) -> None:
        sent = json.loads(json.dumps(body))  # as it comes off the wire
        expected = _outcome(theirs, copy.deepcopy(sent))
        fast = _passes(ours._check, sent)
        if fast:
            assert expected is None, (sent, expected)
        seen["fast"] += fast
        seen["connexion rejects"] += expected is not None
        assert _outcome(ours, sent) == expected

    check()
    assert seen["fast"] > 0 and seen["connexion rejects"] > 0, seen
