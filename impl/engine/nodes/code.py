"""code: run the node's Python 3 or JavaScript `main` in the sandbox and check what it returns.

The contract is Dify's (api/core/workflow/nodes/code/code_node.py, limits from
api/configs/feature/__init__.py `CodeExecutionSandboxConfig`): `main` receives the node's
`variables` (Python: keyword arguments; JavaScript: one object) and returns a dict; each
declared output is checked against its type (string, number, boolean, object,
array[string|number|boolean|object]) and the limits below, with Dify's messages and error
types. Every failure (user code, a sandbox limit, a validation) is a NodeError, so the
node's retry and error strategy apply to it like to any other node.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from impl import sandbox
from impl.engine.graph import Node
from impl.engine.runner import NodeError, NodeResult, Scope, WorkflowRunner, handles
from impl.engine.variables import selector_of

# Dify's CodeExecutionSandboxConfig defaults.
CODE_MAX_NUMBER = 9223372036854775807
CODE_MIN_NUMBER = -9223372036854775807
CODE_MAX_DEPTH = 5
CODE_MAX_PRECISION = 20
CODE_MAX_STRING_LENGTH = 80000
CODE_MAX_STRING_ARRAY_LENGTH = 30
CODE_MAX_OBJECT_ARRAY_LENGTH = 30
CODE_MAX_NUMBER_ARRAY_LENGTH = 1000

LANGUAGES = ("python3", "javascript")


class OutputValidationError(NodeError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "OutputValidationError")


class DepthLimitError(NodeError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "DepthLimitError")


def _name(prefix: str, name: str, separator: str = ".") -> str:
    return f"{prefix}{separator}{name}" if prefix else name


def check_string(value: Any, variable: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise OutputValidationError(f"Output variable `{variable}` must be a string")
    if len(value) > CODE_MAX_STRING_LENGTH:
        raise OutputValidationError(
            f"The length of output variable `{variable}` must be"
            f" less than {CODE_MAX_STRING_LENGTH} characters"
        )
    return value.replace("\x00", "")


def check_number(value: Any, variable: str) -> int | float | None:
    if value is None:
        return None
    if not isinstance(value, int | float):
        raise OutputValidationError(f"Output variable `{variable}` must be a number")
    if value > CODE_MAX_NUMBER or value < CODE_MIN_NUMBER:
        raise OutputValidationError(
            f"Output variable `{variable}` is out of range,"
            f" it must be between {CODE_MIN_NUMBER} and {CODE_MAX_NUMBER}."
        )
    if isinstance(value, float):
        exponent = Decimal(str(value)).normalize().as_tuple().exponent
        digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if digits > CODE_MAX_PRECISION:
            raise OutputValidationError(
                f"Output variable `{variable}` has too high precision,"
                f" it must be less than {CODE_MAX_PRECISION} digits."
            )
    return value


def _as_int(value: Any) -> Any:
    """A boolean declared as a number becomes 0/1, as Dify keeps older workflows working."""
    return int(value) if isinstance(value, bool) else value


def _check_untyped(result: Mapping[str, Any], prefix: str, depth: int) -> None:
    """An object output without declared children: every value must be of a known kind."""
    if depth > CODE_MAX_DEPTH:
        raise DepthLimitError(f"Depth limit {CODE_MAX_DEPTH} reached, object too deep.")
    for name, value in result.items():
        where = _name(prefix, name)
        if isinstance(value, dict):
            _check_untyped(value, where, depth + 1)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int | float):
            check_number(value, where)
        elif isinstance(value, str):
            check_string(value, where)
        elif isinstance(value, list):
            _check_untyped_list(value, name, prefix, depth)
        else:
            raise OutputValidationError(f"Output {prefix}.{name} is not a valid type.")


def _check_untyped_list(items: list[Any], name: str, prefix: str, depth: int) -> None:
    if not items or items[0] is None:
        return
    first = items[0]

    def each(kind: type | tuple[type, ...]) -> bool:
        return isinstance(first, kind) and all(v is None or isinstance(v, kind) for v in items)

    if each((int, float)):
        for i, value in enumerate(items):
            check_number(value, f"{_name(prefix, name)}[{i}]")
    elif each(str):
        for i, value in enumerate(items):
            check_string(value, f"{_name(prefix, name)}[{i}]")
    elif each(dict) or each(list):
        for i, value in enumerate(items):
            if isinstance(value, dict):
                _check_untyped(value, f"{_name(prefix, name)}[{i}]", depth + 1)
    else:
        raise OutputValidationError(
            f"Output {prefix}.{name} is not a valid array. make sure all elements are of the same type."
        )


def _array(result: Mapping[str, Any], name: str, where: str, limit: int | None) -> list[Any] | None:
    value = result[name]
    if value is None:
        return None
    if not isinstance(value, list):
        raise OutputValidationError(f"Output {where} is not an array, got {type(value)} instead.")
    if limit is not None and len(value) > limit:
        raise OutputValidationError(
            f"The length of output variable `{where}` must be less than {limit} elements."
        )
    return value


def transform(
    result: Mapping[str, Any], schema: Mapping[str, Any] | None, prefix: str = "", depth: int = 1
) -> dict[str, Any]:
    """Check `result` against the declared outputs `schema` ({name: {type, children}})."""
    if depth > CODE_MAX_DEPTH:
        raise DepthLimitError(f"Depth limit {CODE_MAX_DEPTH} reached, object too deep.")
    if schema is None:
        _check_untyped(result, prefix, depth)
        return dict(result)
    checked: dict[str, Any] = {}
    for name, declared in schema.items():
        where = _name(prefix, name)
        if name not in result:
            raise OutputValidationError(f"Output {where} is missing.")
        spec = declared if isinstance(declared, Mapping) else {}
        kind = str(spec.get("type") or "")
        children = spec.get("children") if isinstance(spec.get("children"), Mapping) else None
        value = result[name]
        if kind == "object":
            if value is None:
                checked[name] = None
            elif not isinstance(value, dict):
                raise OutputValidationError(f"Output {where} is not an object, got {type(value)} instead.")
            else:
                checked[name] = transform(value, children, f"{prefix}.{name}", depth + 1)
        elif kind == "number":
            if value is not None and not isinstance(value, int | float):
                raise OutputValidationError(f"Output {where} is not a number, got {type(value)} instead.")
            checked[name] = _as_int(check_number(value, where))
        elif kind == "string":
            if value is not None and not isinstance(value, str):
                raise OutputValidationError(
                    f"Output {where} must be a string, got {type(value).__name__} instead"
                )
            checked[name] = check_string(value, where)
        elif kind == "boolean":
            checked[name] = value
        elif kind == "array[number]":
            items = _array(result, name, where, CODE_MAX_NUMBER_ARRAY_LENGTH)
            if items is not None:
                for i, item in enumerate(items):
                    if not isinstance(item, int | float):
                        raise OutputValidationError(
                            f"The element at index {i} of output variable `{where}` must be a number."
                        )
                    check_number(item, f"{where}[{i}]")
                checked[name] = [_as_int(item) for item in items]
            else:
                checked[name] = None
        elif kind == "array[string]":
            items = _array(result, name, where, CODE_MAX_STRING_ARRAY_LENGTH)
            checked[name] = (
                None if items is None else [check_string(v, f"{where}[{i}]") for i, v in enumerate(items)]
            )
        elif kind == "array[object]":
            items = _array(result, name, where, CODE_MAX_OBJECT_ARRAY_LENGTH)
            if items is None:
                checked[name] = None
            else:
                for i, item in enumerate(items):
                    if item is not None and not isinstance(item, dict):
                        raise OutputValidationError(
                            f"Output {where}[{i}] is not an object, got {type(item)} instead at index {i}."
                        )
                checked[name] = [
                    None if item is None else transform(item, children, f"{where}[{i}]", depth + 1)
                    for i, item in enumerate(items)
                ]
        elif kind == "array[boolean]":
            items = _array(result, name, where, None)
            if items is not None:
                for i, item in enumerate(items):
                    if item is not None and not isinstance(item, bool):
                        raise OutputValidationError(
                            f"Output {where}[{i}] is not a boolean, got {type(item)} instead."
                        )
            checked[name] = items
        else:
            raise OutputValidationError(f"Output type {kind} is not supported.")
    if len(checked) != len(result):
        raise NodeError("Not all output parameters are validated.", "CodeNodeError")
    return checked


def _inputs(runner: WorkflowRunner, node: Node) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in node.data.get("variables") or []:
        if isinstance(item, Mapping) and item.get("variable"):
            found[str(item["variable"])] = runner.pool.value(selector_of(item.get("value_selector")))
    return found


@handles("code")
async def code_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    language = str(node.data.get("code_language") or "python3")
    variables = _inputs(runner, node)
    if language not in LANGUAGES:
        raise NodeError(f"Unsupported language {language}", "CodeExecutionError")
    runner.check_stop()
    try:
        result = await sandbox.run_code(language, str(node.data.get("code") or ""), variables)
    except sandbox.CodeExecutionError as exc:
        raise NodeError(exc.message, "CodeExecutionError") from exc
    raw_schema = node.data.get("outputs")
    schema = raw_schema if isinstance(raw_schema, Mapping) else None
    return NodeResult(outputs=transform(result, schema), inputs=variables)
