"""Validation of `inputs` against an app's `user_input_form`, with Dify's messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from impl.errors import ApiError, invalid_param
from impl.services.apps.chat_config import InputVariable
from impl.services.apps.store import copy_json

STRING_TYPES = ("text-input", "paragraph", "select")
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _strip_nul(value: str) -> str:
    return value.replace("\x00", "")


def _number(var: InputVariable, value: Any) -> int | float | None:
    if isinstance(value, bool):
        raise invalid_param(f"{var.variable} in input form must be a valid number")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                pass
    raise invalid_param(f"{var.variable} in input form must be a valid number")


def _one(var: InputVariable, value: Any) -> Any:
    if var.type in STRING_TYPES:
        if not isinstance(value, str):
            raise invalid_param(f"(type '{var.type}') {var.variable} in input form must be a string")
        value = _strip_nul(value)
        if var.type == "select" and var.options and value not in var.options:
            raise invalid_param(
                f"{var.variable} in input form must be one of the following: {list(var.options)}"
            )
        if var.max_length is not None and len(value) > var.max_length:
            raise invalid_param(f"{var.variable} in input form must be less than {var.max_length} characters")
        return value
    if var.type == "number":
        return _number(var, value)
    if var.type == "file":
        if not isinstance(value, Mapping):
            raise invalid_param(f"{var.variable} in input form must be a file")
        return dict(value)
    if var.type == "file-list":
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise invalid_param(f"{var.variable} in input form must be a list of files")
        return [dict(v) for v in value]
    if var.type == "checkbox":
        if not isinstance(value, bool):
            raise invalid_param(f"{var.variable} in input form must be a boolean")
        return value
    return _strip_nul(value) if isinstance(value, str) else value


def validate_inputs(form: tuple[InputVariable, ...], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only declared variables, apply defaults, enforce required/type/length rules."""
    clean: dict[str, Any] = {}
    for var in form:
        value = raw.get(var.variable)
        empty = value is None or (isinstance(value, str) and value == "")
        if empty:
            if var.required:
                raise invalid_param(f"{var.variable} is required in input form")
            if var.default not in (None, ""):
                clean[var.variable] = copy_json(var.default)  # the parsed config is shared
            continue
        clean[var.variable] = _one(var, value)
    return clean


def render_template(template: str, inputs: Mapping[str, Any]) -> str:
    """Substitute `{{var}}` placeholders; unknown variables become empty text."""

    def sub(match: re.Match[str]) -> str:
        value = inputs.get(match.group(1))
        return "" if value is None else str(value)

    return _VAR.sub(sub, template)


__all__ = ["ApiError", "render_template", "validate_inputs"]
