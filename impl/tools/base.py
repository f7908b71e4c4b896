"""What every tool is: Dify's parameter forms in, Dify's tool messages (text, json, files) out.

A Dify tool declares parameters with a `form`: `llm` parameters are filled by the model (agent
nodes, agent-chat apps) or by the workflow tool node's `tool_parameters`; `form` parameters are
fixed in the DSL (`tool_configurations` of a tool node, `tool_parameters` of an agent-chat tool).
A run yields a `ToolResult`: text, JSON objects and files, which the tool node exposes as its
`text`, `json` and `files` outputs and an agent reads as the observation text.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from impl.providers.function_calling import ToolSpec

JSON_TYPES = {"string": "string", "number": "number", "boolean": "boolean", "select": "string"}


class ToolError(Exception):
    """A tool could not do its job; the message becomes the observation or the node's error."""


@dataclass(frozen=True)
class ToolFile:
    filename: str
    mime_type: str
    data: bytes
    type: str = "image"  # Dify's file type: image, audio, video, document, custom


@dataclass(frozen=True)
class ToolResult:
    text: str = ""
    json: tuple[Mapping[str, Any], ...] = ()
    files: tuple[ToolFile, ...] = ()

    def observation(self) -> str:
        """What an agent's model reads: the text, else the JSON, plus a note per file."""
        parts = [self.text] if self.text else [json.dumps(j, ensure_ascii=False) for j in self.json]
        parts += [f"(file {f.filename} was created)" for f in self.files]
        return "\n".join(p for p in parts if p) or "(the tool returned nothing)"


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "string"  # string, number, boolean, select, file, files, secret-input
    required: bool = False
    form: str = "llm"  # llm | form
    description: str = ""
    default: Any = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ToolContext:
    """What a tool may use: the outbound allow-list and a timeout."""

    allowed_hosts: tuple[str, ...] = ()
    timeout: float = 30.0


Runner = Callable[[dict[str, Any], ToolContext], Awaitable[ToolResult]]


@dataclass(frozen=True)
class Tool:
    provider: str
    name: str
    label: str
    description: str
    params: tuple[Param, ...]
    run: Runner
    input_schema: Mapping[str, Any] | None = None  # MCP tools bring their own JSON Schema
    origin: str = "builtin"  # builtin | mcp:<server>

    def spec(self) -> ToolSpec:
        """The function the model sees: the `llm`-form parameters as JSON Schema."""
        if self.input_schema is not None:
            return ToolSpec(self.name, self.description, dict(self.input_schema))
        properties: dict[str, Any] = {}
        required: list[str] = []
        for p in self.params:
            if p.form != "llm" or p.type in ("file", "files"):
                continue
            prop: dict[str, Any] = {"type": JSON_TYPES.get(p.type, "string"), "description": p.description}
            if p.options:
                prop["enum"] = list(p.options)
            properties[p.name] = prop
            if p.required:
                required.append(p.name)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return ToolSpec(self.name, self.description, schema)

    def arguments(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments a run gets: defaults, then the given values (empty ones skipped),
        numbers and booleans converted as Dify converts them; a missing required one fails."""
        args: dict[str, Any] = {p.name: p.default for p in self.params if p.default is not None}
        args.update({k: v for k, v in given.items() if v is not None and v != ""})
        for p in self.params:
            value = args.get(p.name)
            if value is None:
                if p.required:
                    raise ToolError(f"the parameter {p.name!r} is required")
                continue
            try:
                if p.type == "number" and isinstance(value, str):
                    args[p.name] = float(value) if "." in value else int(value)
                elif p.type == "boolean" and isinstance(value, str):
                    args[p.name] = value.strip().lower() in ("1", "true", "yes", "on")
            except ValueError:
                raise ToolError(f"the parameter {p.name!r} must be a number, got {value!r}") from None
        return args


def param(name: str, description: str = "", **kw: Any) -> Param:
    return Param(name, description=description, **kw)


def text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
