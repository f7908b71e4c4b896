"""Dify's comparison operators (if-else cases, loop break conditions).

After `api/core/workflow/utils/condition/processor.py`: `empty` / `not empty` test falsiness
(0, false, "", [], {} and null are empty); `is`, `is not`, the number comparisons, `start with`,
`end with`, `in` and `all of` are false when the variable is null or missing; `not in` and
`not contains` are true for an empty variable; an unknown operator fails the node with
"Unsupported operator: …". Where Dify raises on a value of the wrong type, this engine compares
the value's text (numbers read from text) instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from impl.engine.variables import MISSING, VariablePool, selector_of, to_text


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _is_empty(value: Any) -> bool:
    return value is MISSING or not value


def _expected(raw: Any, pool: VariablePool) -> Any:
    if isinstance(raw, str):
        return pool.render(raw)
    return raw


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return parsed
        return [part.strip() for part in text.split(",")] if text else []
    return [value]


def compare(operator: str, actual: Any, expected: Any) -> bool:
    """One comparison. Unknown operators are a ValueError (the node fails)."""
    op = operator.strip()
    if op in ("empty",):
        return _is_empty(actual)
    if op in ("not empty",):
        return not _is_empty(actual)
    if op in ("null",):
        return actual is None or actual is MISSING
    if op in ("not null",):
        return not (actual is None or actual is MISSING)
    if op in ("exists",):
        return not (actual is None or actual is MISSING)
    if op in ("not exists",):
        return actual is None or actual is MISSING
    if op in ("is true", "is false"):
        return bool(actual) is (op == "is true")
    absent = actual is None or actual is MISSING
    if absent and op in (
        "start with",
        "end with",
        "is",
        "is not",
        "in",
        "all of",
        "=",
        "≠",
        ">",
        "<",
        "≥",
        "≤",
    ):
        return False
    if op in ("contains", "not contains"):
        if _is_empty(actual):
            found = False
        elif isinstance(actual, list | tuple):
            found = any(to_text(item) == to_text(expected) or item == expected for item in actual)
        else:
            found = to_text(expected) in to_text(actual)
        return found if op == "contains" else not found
    if op == "start with":
        return to_text(actual).startswith(to_text(expected))
    if op == "end with":
        return to_text(actual).endswith(to_text(expected))
    if op in ("is", "is not"):
        same = (
            to_text(actual) == to_text(expected)
            if not isinstance(actual, bool)
            else (to_text(actual) == to_text(expected).lower())
        )
        return same if op == "is" else not same
    if op in ("in", "not in"):
        options = [to_text(o) for o in _as_list(expected)]
        inside = to_text(actual) in options
        return inside if op == "in" else not inside
    if op == "all of":
        have = [to_text(v) for v in _as_list(actual)] if actual not in (None, MISSING) else []
        return all(to_text(o) in have for o in _as_list(expected))
    if op in ("=", "≠", ">", "<", "≥", "≤", "==", "!=", ">=", "<="):
        left, right = _number(actual), _number(expected)
        if left is None or right is None:
            return op in ("≠", "!=")
        if op in ("=", "=="):
            return left == right
        if op in ("≠", "!="):
            return left != right
        if op == ">":
            return left > right
        if op == "<":
            return left < right
        if op in ("≥", ">="):
            return left >= right
        return left <= right
    raise ValueError(f"Unsupported operator: {operator}")


def check_conditions(
    conditions: Sequence[Mapping[str, Any]], logical_operator: str, pool: VariablePool
) -> tuple[bool, list[dict[str, Any]]]:
    """Evaluate a condition list joined by `and`/`or`; also returns what was compared."""
    results: list[bool] = []
    trace: list[dict[str, Any]] = []
    for cond in conditions:
        selector = selector_of(cond.get("variable_selector"))
        actual = pool.get(selector) if selector else MISSING
        operator = str(cond.get("comparison_operator") or "")
        expected = _expected(cond.get("value"), pool)
        outcome = compare(operator, actual, expected)
        results.append(outcome)
        trace.append(
            {
                "actual_value": None if actual is MISSING else actual,
                "expected_value": expected,
                "comparison_operator": operator,
                "result": outcome,
            }
        )
    if not results:
        return True, trace
    joined = any(results) if str(logical_operator).lower() == "or" else all(results)
    return joined, trace
