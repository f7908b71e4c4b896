"""Function calling against an OpenAI-style `/chat/completions` endpoint (`tools` / `tool_calls`),
streamed: text deltas pass through as they arrive; tool-call fragments are put together by their
`index` and reported once the stream ends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx

from impl.providers.base import TextDelta, Usage
from impl.providers.function_calling import AgentItem, AgentTurn, ToolCall, ToolCalls, ToolSpec
from impl.providers.openai_compatible import chat_payload, chunk_usage, stream_chunks


def turn_json(turn: AgentTurn) -> dict[str, Any]:
    if turn.role == "tool":
        return {"role": "tool", "tool_call_id": turn.tool_call_id or "", "content": turn.content}
    body: dict[str, Any] = {"role": turn.role, "content": turn.content}
    if turn.tool_calls:
        body["content"] = turn.content or None
        body["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in turn.tool_calls
        ]
    return body


def tool_json(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": dict(tool.parameters)},
    }


class _CallBuffer:
    """Tool-call fragments keyed by their stream index."""

    def __init__(self) -> None:
        self.parts: dict[int, dict[str, str]] = {}

    def add(self, fragment: Mapping[str, Any]) -> None:
        index = int(fragment.get("index") or 0)
        slot = self.parts.setdefault(index, {"id": "", "name": "", "arguments": ""})
        if fragment.get("id"):
            slot["id"] = str(fragment["id"])
        function = fragment.get("function") or {}
        if function.get("name"):
            slot["name"] += str(function["name"])
        if function.get("arguments"):
            slot["arguments"] += str(function["arguments"])

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(slot["id"] or f"call_{i}", slot["name"], slot["arguments"] or "{}")
            for i, slot in sorted(self.parts.items())
            if slot["name"]
        )


class OpenAIToolModel:
    """Streams `/chat/completions` with `tools`."""

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._transport = transport

    def payload(
        self, turns: Sequence[AgentTurn], tools: Sequence[ToolSpec], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return chat_payload(self.name, [turn_json(t) for t in turns], params, [tool_json(t) for t in tools])

    async def stream_tools(
        self, turns: Sequence[AgentTurn], tools: Sequence[ToolSpec], params: Mapping[str, Any]
    ) -> AsyncIterator[AgentItem]:
        buffer = _CallBuffer()
        usage: Usage | None = None
        chars = 0
        chunks = stream_chunks(
            self.base_url,
            self.api_key,
            self.payload(turns, tools, params),
            timeout=self.timeout,
            transport=self._transport,
            top_level_message=False,  # this model never read a top-level `message` (kept as it was)
        )
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    if text:
                        chars += len(text)
                        yield TextDelta(text)
                    for fragment in delta.get("tool_calls") or []:
                        if isinstance(fragment, Mapping):
                            buffer.add(fragment)
                usage = chunk_usage(chunk) or usage  # a Usage is always truthy
        calls = buffer.calls()
        if calls:
            yield ToolCalls(calls)
        if usage is None:
            prompt_chars = sum(len(t.content) for t in turns)
            usage = Usage(max(1, prompt_chars // 4), max(0, chars // 4))
        yield usage
