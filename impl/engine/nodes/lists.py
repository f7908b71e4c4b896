"""list-operator: filter, extract one item, sort and limit an array; first and last record.

Rules from Dify's `api/core/workflow/nodes/list_operator/node.py` and `entities.py`:

* the input must be an array of strings, numbers, files (or booleans); an empty or missing-value
  array gives `result: []` and null first/last records; any other array fails the node;
* the steps run in the order filter → extract → order → limit, each only when enabled;
* string filters: contains, start with, end with, is, is not, in / not in (a substring test when
  the value is text, as in Dify), empty, not empty, not contains; the value is a template;
* number filters: = ≠ < ≤ > ≥ against the value read as a float;
* file filters pick a key: name, extension, mime_type, url (string filters), type and
  transfer_method (in / not in a list), size (number filters);
* extract takes the 1-based `serial` (a template): below 1 or past the end fails the node;
* limit keeps the first `size` items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from impl.engine.graph import Node
from impl.engine.runner import NodeError, NodeResult, Scope, WorkflowRunner, handles
from impl.engine.variables import MISSING, as_mapping, selector_of

ERROR = "ListOperatorError"
STRING_KEYS = {"name": "filename", "extension": "extension", "mime_type": "mime_type", "url": "remote_url"}
CHOICE_KEYS = {"type": "type", "transfer_method": "transfer_method"}


def _is_file(value: Any) -> bool:
    return isinstance(value, Mapping) and "transfer_method" in value


def kind_of(items: Sequence[Any]) -> str | None:
    """`string`, `number`, `boolean` or `file` when every item is one; None otherwise."""
    if all(isinstance(i, str) for i in items):
        return "string"
    if all(isinstance(i, bool) for i in items):
        return "boolean"
    if all(isinstance(i, int | float) and not isinstance(i, bool) for i in items):
        return "number"
    if all(_is_file(i) for i in items):
        return "file"
    return None


def string_test(operator: str, value: str) -> Callable[[str], bool]:
    tests: dict[str, Callable[[str], bool]] = {
        "contains": lambda x: value in x,
        "not contains": lambda x: value not in x,
        "start with": lambda x: x.startswith(value),
        "end with": lambda x: x.endswith(value),
        "is": lambda x: x == value,
        "is not": lambda x: x != value,
        "in": lambda x: x in value,
        "not in": lambda x: x not in value,
        "empty": lambda x: x == "",
        "not empty": lambda x: x != "",
    }
    if operator not in tests:
        raise NodeError(f"Invalid condition: {operator}", "InvalidConditionError")
    return tests[operator]


def number_test(operator: str, value: float) -> Callable[[float], bool]:
    tests: dict[str, Callable[[float], bool]] = {
        "=": lambda x: x == value,
        "≠": lambda x: x != value,
        "<": lambda x: x < value,
        "≤": lambda x: x <= value,
        ">": lambda x: x > value,
        "≥": lambda x: x >= value,
    }
    if operator not in tests:
        raise NodeError(f"Invalid condition: {operator}", "InvalidConditionError")
    return tests[operator]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise NodeError(f"could not convert string to float: {text!r}", ERROR) from None


def _file_field(key: str) -> Callable[[Mapping[str, Any]], Any]:
    if key in STRING_KEYS:
        return lambda f: str(f.get(STRING_KEYS[key]) or "")
    if key in CHOICE_KEYS:
        return lambda f: str(f.get(CHOICE_KEYS[key]) or "")
    if key == "size":
        return lambda f: f.get("size") if isinstance(f.get("size"), int | float) else -1
    raise NodeError(f"Invalid key: {key}", "InvalidKeyError")


def file_test(key: str, operator: str, value: Any) -> Callable[[Mapping[str, Any]], bool]:
    field = _file_field(key)
    if key in STRING_KEYS and isinstance(value, str):
        text_test = string_test(operator, value)
        return lambda f: text_test(field(f))
    if key in CHOICE_KEYS and isinstance(value, str | list):
        if operator not in ("in", "not in"):
            raise NodeError(f"Invalid condition: {operator}", "InvalidConditionError")
        inside = operator == "in"
        return lambda f: (field(f) in value) is inside
    if key == "size" and isinstance(value, str):
        size_test = number_test(operator, _number(value))
        return lambda f: size_test(field(f))
    raise NodeError(f"Invalid key: {key}", "InvalidKeyError")


def _filter(runner: WorkflowRunner, items: list[Any], kind: str, conditions: Any) -> list[Any]:
    for cond in conditions if isinstance(conditions, list) else []:
        if not isinstance(cond, Mapping):
            continue
        operator = str(cond.get("comparison_operator") or "contains")
        raw = cond.get("value", "")
        test: Callable[[Any], bool]
        if kind == "boolean":
            if not isinstance(raw, bool) or operator not in ("is", "is not"):
                raise NodeError(f"Invalid filter value: {raw}", "InvalidFilterValueError")
            wanted = (operator == "is") is raw  # `is true` keeps True items, `is not true` keeps False

            def test(x: Any, wanted: bool = wanted) -> bool:
                return x is wanted
        elif kind in ("string", "number"):
            if not isinstance(raw, str):
                raise NodeError(f"Invalid filter value: {raw}", "InvalidFilterValueError")
            text = runner.pool.render(raw)
            test = string_test(operator, text) if kind == "string" else number_test(operator, _number(text))
        else:
            value = runner.pool.render(raw) if isinstance(raw, str) else raw
            test = file_test(str(cond.get("key") or ""), operator, value)
        items = [i for i in items if test(i)]
    return items


def _extract(runner: WorkflowRunner, items: list[Any], serial: Any) -> list[Any]:
    text = runner.pool.render(str(serial if serial is not None else "1")).strip()
    try:
        position = int(text)
    except ValueError:
        raise NodeError(f"invalid literal for int() with base 10: {text!r}", ERROR) from None
    if position < 1:
        raise NodeError(f"Invalid serial index: must be >= 1, got {position}", ERROR)
    if position > len(items):
        raise NodeError(f"Invalid serial index: must be <= {len(items)}, got {position}", "InvalidKeyError")
    return [items[position - 1]]


def _order(items: list[Any], kind: str, order: Mapping[str, Any]) -> list[Any]:
    descending = order.get("value") == "desc"
    if kind != "file":
        return sorted(items, reverse=descending)
    key = str(order.get("key") or "")
    if key not in STRING_KEYS and key not in CHOICE_KEYS and key != "size":
        raise NodeError(f"Invalid order key: {key}", "InvalidKeyError")
    field = _file_field(key)
    return sorted(items, key=field, reverse=descending)


@handles("list-operator")
async def list_operator_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    data = node.data
    selector = selector_of(data.get("variable")) or []
    found = runner.pool.get(selector)
    if found is MISSING:
        raise NodeError(f"Variable not found for selector: {selector}", ERROR)
    if not found:
        return NodeResult(
            outputs={"result": [], "first_record": None, "last_record": None},
            inputs={"variable": []},
            process_data={"variable": []},
        )
    kind = kind_of(found) if isinstance(found, list) else None
    if kind is None:
        raise NodeError(
            f"Variable {selector} is not an ArrayFileSegment, ArrayNumberSegment or ArrayStringSegment", ERROR
        )
    items = list(found)
    inputs = {"variable": list(found)}
    if as_mapping(data.get("filter_by")).get("enabled"):
        items = _filter(runner, items, kind, as_mapping(data.get("filter_by")).get("conditions"))
    extract = as_mapping(data.get("extract_by"))
    if extract.get("enabled"):
        items = _extract(runner, items, extract.get("serial"))
    order = as_mapping(data.get("order_by"))
    if order.get("enabled"):
        items = _order(items, kind, order)
    limit = as_mapping(data.get("limit"))
    if limit.get("enabled"):
        size = limit.get("size")
        items = items[: size if isinstance(size, int) and not isinstance(size, bool) else -1]
    return NodeResult(
        outputs={
            "result": items,
            "first_record": items[0] if items else None,
            "last_record": items[-1] if items else None,
        },
        inputs=inputs,
        process_data={"variable": list(found)},
    )
