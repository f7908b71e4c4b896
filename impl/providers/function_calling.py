"""Function calling: what an agent's model sees (tools, tool calls, tool results) and yields.

A `FunctionCallingModel` streams text deltas (or, for ReAct, one `ThoughtText` that is not part
of the answer), then at most one `ToolCalls` (every call the model made in this turn, arguments
complete), then exactly one `Usage`.  The conversation it is given
is a list of `AgentTurn`s in the OpenAI shape: system/user/assistant text, assistant turns that
carry tool calls, and `tool` turns that carry one call's result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from impl.providers.base import TextDelta, Usage

TurnRole = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model: its name, what it does, its arguments as JSON Schema."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass(frozen=True)
class ToolCalls:
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class ThoughtText:
    """What the model said about a step, when it is not part of the answer (ReAct)."""

    text: str


@dataclass(frozen=True)
class AgentTurn:
    role: TurnRole
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


AgentItem = TextDelta | ToolCalls | ThoughtText | Usage


@runtime_checkable
class FunctionCallingModel(Protocol):
    name: str

    def stream_tools(
        self, turns: Sequence[AgentTurn], tools: Sequence[ToolSpec], params: Mapping[str, Any]
    ) -> AsyncIterator[AgentItem]: ...
