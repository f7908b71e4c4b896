"""Structured output of LLM nodes (Dify 1.x): the schema, how the model is asked, the parsing.

An LLM node with `structured_output_enabled: true` and `structured_output: {schema: {...}}` asks
its model for one JSON object conforming to the schema and outputs the parsed object as
`structured_output` next to `text` (rules of Dify's `nodes/llm/node.py` and
`llm_generator/output_parser/structured_output.py`):

- a model that takes schemas natively gets them in its parameters: `response_format:
  json_schema` plus `json_schema` = `{"name": "llm_response", "schema": ...}` as JSON text, with
  boolean types asked as strings (Dify's preparation for such models; the builtin model takes the
  schema as declared); any other model gets an instruction carrying the schema put in front of
  the first system message (the other system messages are dropped, as Dify does);
- the answer streams as usual; at the end it is parsed: strict JSON first, else a tolerant
  reading (reasoning `<think>` blocks and code fences skipped, text around the JSON ignored,
  trailing commas dropped, an answer cut short closed, Python-style literals read); a JSON array
  gives its first object (or `{}`); nothing usable fails the node with Dify's message.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from impl.engine.graph import Node
from impl.engine.runner import NodeError
from impl.providers import PromptMessage, StructuredOutputMode

SCHEMA_NAME = "llm_response"
_THINK = re.compile(r"<think[^>]*>.*?</think>", re.IGNORECASE | re.DOTALL)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def node_schema(node: Node) -> dict[str, Any] | None:
    """The node's output schema, or None when structured output is off (the switch, spelled
    `structured_output_enabled` in DSL files or `structured_output_switch_on` as Dify's field is
    named, and a `structured_output` section both needed).
    A section without a usable schema fails the node with Dify's messages."""
    data = node.data
    section = data.get("structured_output")
    switch = data.get("structured_output_enabled", data.get("structured_output_switch_on"))
    if not switch or section is None:
        return None
    if not section or not isinstance(section, Mapping):
        raise NodeError("Please provide a valid structured output schema", "LLMNodeError")
    schema = section.get("schema", {})
    if not isinstance(schema, Mapping):  # a schema written as JSON text too, as in Dify
        raise NodeError("structured_output_schema must be a JSON object", "LLMNodeError")
    return dict(schema)


def _booleans_as_strings(value: Any) -> None:
    if isinstance(value, dict):
        if value.get("type") == "boolean":
            value["type"] = "string"
        for item in value.values():
            _booleans_as_strings(item)
    elif isinstance(value, list):
        for item in value:
            _booleans_as_strings(item)


def schema_params(schema: Mapping[str, Any], mode: StructuredOutputMode) -> dict[str, str]:
    """The model parameters that carry `schema` to a model taking it natively."""
    prepared = copy.deepcopy(dict(schema))
    if mode == "native":
        _booleans_as_strings(prepared)
    wrapped = {"schema": prepared, "name": SCHEMA_NAME}
    return {"response_format": "json_schema", "json_schema": json.dumps(wrapped, ensure_ascii=False)}


def instruction(schema: Mapping[str, Any]) -> str:
    """The system instruction for a model without native schema support."""
    return (
        "Reply with a single JSON object and nothing else: no prose, no code fence. "
        "The object must conform to the JSON schema below. Write yes/no values as strings "
        "and every numeric value as a plain JSON number.\n"
        f"JSON schema:\n{json.dumps(schema, ensure_ascii=False)}\n"
    )


def with_instruction(messages: list[PromptMessage], schema: Mapping[str, Any]) -> list[PromptMessage]:
    """The prompt with the schema instruction as its one system message, in front."""
    first = next((m for m in messages if m.role == "system"), None)
    text = instruction(schema) + ("\n\n" + first.content if first is not None else "")
    return [PromptMessage("system", text), *(m for m in messages if m.role != "system")]


def _close(text: str) -> str:
    """`text` with unbalanced strings and brackets closed and a dangling `,` or `:` dropped."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]" and stack and stack[-1] == char:
            stack.pop()
    if in_string:
        text += '"'
    text = text.rstrip()
    if text.endswith(":"):
        text = text[:-1].rstrip()
    if text.endswith('"') and stack and stack[-1] == "}":
        start = text.rfind('"', 0, len(text) - 1)
        before = text[:start].rstrip() if start >= 0 else ""
        if before.endswith(("{", ",")):  # a key without its value: drop it
            text = before
    if text.endswith(","):
        text = text[:-1].rstrip()
    return text + "".join(reversed(stack))


def _attempts(candidate: str) -> list[str]:
    fixed = _TRAILING_COMMA.sub(r"\1", candidate)
    return [candidate, fixed, _close(fixed)]


def _decode(candidate: str) -> Any:
    decoder = json.JSONDecoder()
    for attempt in _attempts(candidate):
        try:
            return decoder.raw_decode(attempt)[0]
        except ValueError:
            pass
    for attempt in _attempts(candidate):
        try:
            return ast.literal_eval(attempt)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            pass
    raise ValueError("no JSON value")


def _tolerant(text: str) -> Any:
    body = _THINK.sub("", text)
    fence = _FENCE.search(body)
    if fence:
        body = fence.group(1)
    for match in re.finditer(r"[{\[]", body):
        try:
            return _decode(body[match.start() :].strip())
        except ValueError:
            continue
    raise ValueError("no JSON value")


def parse(text: str) -> dict[str, Any]:
    """The object a structured answer holds; NodeError with Dify's message when it holds none."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    failure = NodeError(
        f"Failed to parse structured output: Failed to parse structured output: {text}", "LLMNodeError"
    )
    try:
        value = _tolerant(text)
    except ValueError:
        raise failure from None
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, dict)), {})
    if not isinstance(value, dict):
        raise failure
    return value
