"""A compiled check of JSON request bodies that never accepts what Connexion's validation rejects.

Connexion validates a JSON request body with jsonschema's Draft 4 validator, extended so that a
schema's OpenAPI `nullable: true` (or `x-nullable: true`) lets `null` through its `type` and `enum`
(`connexion.json_schema.Draft4RequestValidator`), with Draft 4's format checker.  Walking the schema
with `iter_errors` on every request is most of the body path's cost.  `compile_body_check` turns a
body schema into a function generated once by fastjsonschema (draft-04 rules, no default insertion)
that raises on a body it does not accept.  Only what both read the same way is compiled:

* the keywords in `_COMPILED` below, with plain values; any other keyword (`$ref`, `oneOf`, `not`,
  `multipleOf`, `uniqueItems`, `patternProperties`, tuple `items`, ...) gives no check at all, and the
  caller keeps Connexion's validator alone for that schema.  Annotations (`description`, `example`,
  `default`, `readOnly`, `writeOnly`, ...) and `x-` extensions are left out: Connexion's request
  validator ignores them too (it inserts no defaults and has no readOnly/writeOnly rule);
* `nullable` becomes what Connexion makes of it: `null` added to the same schema's `type` and `enum`;
* `format` calls the format checker Connexion's validator holds, for strings; fastjsonschema only
  checks strings, so a format is compiled only when that checker accepts every non-string;
* `pattern`: fastjsonschema searches with each unescaped `$` read as `\\Z`; a pattern is compiled
  only when it has no `$` or a single one as its last character, where `\\Z` is the stricter.

The check may reject a body Connexion accepts (a string ending in a newline before a final `$`):
a rejection only sends the body to Connexion's validator, whose answer (and error text) stands.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema
from jsonschema import FormatChecker

BodyCheck = Callable[[Any], object]

_DRAFT4 = "http://json-schema.org/draft-04/schema#"
_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})
_SIZES = frozenset({"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"})
_BOUNDS = frozenset({"minimum", "maximum"})
_EXCLUSIVE = frozenset({"exclusiveMinimum", "exclusiveMaximum"})
_COMPILED = (
    _SIZES
    | _BOUNDS
    | _EXCLUSIVE
    | {"type", "enum", "required", "pattern", "format", "properties", "additionalProperties", "items"}
)
# Words neither validator acts on in a request body.
_IGNORED = frozenset(
    {
        "description",
        "title",
        "example",
        "examples",
        "default",
        "readOnly",
        "writeOnly",
        "deprecated",
        "externalDocs",
        "nullable",
        "x-nullable",
    }
)
# Connexion's operation adds the spec's components to the body schema it hands the validator (for
# `$ref`s, which are not compiled here); they are not a keyword of the body's schema.
_ROOT_IGNORED = frozenset({"components"})
# What a format must accept for the string-only check to be the checker's answer.
_NON_STRINGS: tuple[object, ...] = (None, True, False, 0, -1, 1.5, 10**30, [], {}, ["x"], {"x": "y"})
# An unescaped `$`, as fastjsonschema finds it.
_DOLLAR = re.compile(r"(?<!\\)\$")


class _Unsupported(Exception):
    """The schema uses something the compiled check would not read as Connexion does."""


def compile_body_check(schema: Mapping[str, Any], format_checker: FormatChecker | None) -> BodyCheck | None:
    """The compiled check of `schema`, or None when it cannot be one that is never more lenient."""
    translator = _Translator(format_checker)
    try:
        definition = translator.schema(schema, frozenset(), root=True)
    except (_Unsupported, RecursionError):
        return None
    definition["$schema"] = _DRAFT4  # else fastjsonschema applies its newest draft's rules
    try:
        check: BodyCheck = fastjsonschema.compile(
            definition, formats=translator.formats, use_default=False, detailed_exceptions=False
        )
    except Exception:  # a definition it cannot compile: Connexion's validator alone answers
        return None
    return check


class _Translator:
    """A body schema → the fastjsonschema definition of the same acceptance (or `_Unsupported`)."""

    def __init__(self, format_checker: FormatChecker | None) -> None:
        self.format_checker = format_checker
        self.formats: dict[str, Callable[[str], bool]] = {}

    def schema(self, schema: Any, enclosing: frozenset[int], *, root: bool = False) -> dict[str, Any]:
        if not isinstance(schema, Mapping) or id(schema) in enclosing:
            raise _Unsupported  # a boolean schema or a cycle
        enclosing = enclosing | {id(schema)}
        nullable = bool(schema.get("nullable")) or schema.get("x-nullable") is True  # as Connexion reads them
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if not isinstance(key, str):
                raise _Unsupported(key)
            if key in _IGNORED or (root and key in _ROOT_IGNORED) or key.startswith("x-"):
                continue
            if key not in _COMPILED:
                raise _Unsupported(key)
            if key == "type":
                out[key] = _types(value, nullable)
            elif key == "enum":
                out[key] = _enum(value, nullable)
            elif key in _SIZES:
                out[key] = _count(value)
            elif key in _BOUNDS:
                out[key] = _number(value)
            elif key in _EXCLUSIVE:
                out[key] = _flag(value)
            elif key == "required":
                out[key] = _names(value)
            elif key == "pattern":
                out[key] = _pattern(value)
            elif key == "format":
                out[key] = self.format(value)
            elif key == "properties":
                if not isinstance(value, Mapping) or not all(isinstance(name, str) for name in value):
                    raise _Unsupported(key)
                out[key] = {name: self.schema(sub, enclosing) for name, sub in value.items()}
            elif key == "additionalProperties":
                out[key] = value if isinstance(value, bool) else self.schema(value, enclosing)
            else:  # items: one schema for every item (a list of schemas is not compiled)
                out[key] = self.schema(value, enclosing)
        return out

    def format(self, value: Any) -> str:
        if not isinstance(value, str):
            raise _Unsupported("format")
        checker = self.format_checker
        if checker is None or value not in checker.checkers:
            # Connexion passes it (no checker, or one that does not know the name); said so here,
            # else fastjsonschema would apply its own rule to names like `uri` or `hostname`.
            self.formats[value] = _any_string
            return value
        if not all(checker.conforms(instance, value) for instance in _NON_STRINGS):
            raise _Unsupported("format")  # fastjsonschema checks formats of strings only

        def conforms(instance: str) -> bool:
            return checker.conforms(instance, value)

        self.formats[value] = conforms
        return value


def _types(value: Any, nullable: bool) -> list[str]:
    types = list(value) if isinstance(value, list) else [value]
    if not types or not all(isinstance(name, str) and name in _TYPES for name in types):
        raise _Unsupported("type")
    if nullable and "null" not in types:
        types.append("null")
    return types


def _is_plain(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, bool, int))


def _enum(value: Any, nullable: bool) -> list[Any]:
    if not isinstance(value, list) or not value or not all(_is_plain(item) for item in value):
        raise _Unsupported("enum")
    return [*value, None] if nullable and None not in value else list(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Unsupported("size")
    return value


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _is_plain(value):
        raise _Unsupported("bound")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Unsupported("exclusive bound")
    return value


def _names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise _Unsupported("required")
    if len(set(value)) != len(value):
        raise _Unsupported("required")
    return list(value)


def _pattern(value: Any) -> str:
    if not isinstance(value, str):
        raise _Unsupported("pattern")
    try:
        re.compile(value)
    except re.error:
        raise _Unsupported("pattern") from None
    dollars = [found.start() for found in _DOLLAR.finditer(value)]
    if dollars and dollars != [len(value) - 1]:
        raise _Unsupported("pattern")
    return value


def _any_string(_instance: str) -> bool:
    return True
