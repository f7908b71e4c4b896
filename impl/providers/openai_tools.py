"""Function calling against an OpenAI-style `/chat/completions` endpoint (`tools` / `tool_calls`),
streamed: text deltas pass through as they arrive; tool-call fragments are put together by their
`index` and reported once the stream ends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx

from impl.providers.base import (
    CompletionRequestError,
    ProviderError,
    ProviderNotInitializeError,
    TextDelta,
    Usage,
)
from impl.providers.function_calling import AgentItem, AgentTurn, ToolCall, ToolCalls, ToolSpec
from impl.providers.openai_compatible import FORWARDED_PARAMS, error_for_status


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


def _error_text(body: bytes, status: int) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:500] or f"HTTP {status}"
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return f"HTTP {status}"


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
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [turn_json(t) for t in turns],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = [tool_json(t) for t in tools]
        for key in FORWARDED_PARAMS:
            if params.get(key) is not None:
                body[key] = params[key]
        return body

    async def stream_tools(
        self, turns: Sequence[AgentTurn], tools: Sequence[ToolSpec], params: Mapping[str, Any]
    ) -> AsyncIterator[AgentItem]:
        if not self.api_key:
            raise ProviderNotInitializeError("No API key is configured for the OpenAI-compatible provider.")
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "text/event-stream"}
        buffer = _CallBuffer()
        usage: Usage | None = None
        chars = 0
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout, transport=self._transport) as client,
                client.stream(
                    "POST",
                    f"{self.base_url}/chat/completions",
                    json=self.payload(turns, tools, params),
                    headers=headers,
                ) as response,
            ):
                if response.status_code >= 400:
                    raise error_for_status(
                        response.status_code, _error_text(await response.aread(), response.status_code)
                    )
                done = False
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError as exc:
                        raise CompletionRequestError(f"Malformed stream chunk: {exc}") from exc
                    if isinstance(chunk.get("error"), dict):
                        raise CompletionRequestError(str(chunk["error"].get("message", "provider error")))
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        text = delta.get("content")
                        if text:
                            chars += len(text)
                            yield TextDelta(text)
                        for fragment in delta.get("tool_calls") or []:
                            if isinstance(fragment, Mapping):
                                buffer.add(fragment)
                    raw = chunk.get("usage")
                    if isinstance(raw, dict):
                        usage = Usage(
                            int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0)
                        )
                if not done:
                    raise CompletionRequestError("The provider closed the stream before it finished.")
        except ProviderError:
            raise
        except httpx.TimeoutException as exc:
            raise CompletionRequestError(f"The provider timed out: {exc.__class__.__name__}") from exc
        except httpx.HTTPError as exc:
            raise CompletionRequestError(f"The provider connection failed: {exc}") from exc
        calls = buffer.calls()
        if calls:
            yield ToolCalls(calls)
        if usage is None:
            prompt_chars = sum(len(t.content) for t in turns)
            usage = Usage(max(1, prompt_chars // 4), max(0, chars // 4))
        yield usage
