"""Anthropic's native Messages API (`POST /v1/messages`), streamed over httpx.

It differs from the OpenAI shape in ways that matter here: the system prompt is a top-level
field, `max_tokens` is required, images are `image` blocks, a tool call is a `tool_use` content
block whose JSON input arrives as `input_json_delta` fragments, a tool result is a `tool_result`
block inside a user message, and the stream is a sequence of typed events (`message_start`,
`content_block_start|delta|stop`, `message_delta`, `message_stop`, `error`).  One class serves
both `ChatModel.stream` and `FunctionCallingModel.stream_tools`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

import httpx

from impl.providers.base import (
    CompletionRequestError,
    ModelRequest,
    PromptMessage,
    ProviderError,
    ProviderNotInitializeError,
    ProviderQuotaExceededError,
    StreamItem,
    TextDelta,
    Usage,
)
from impl.providers.function_calling import AgentItem, AgentTurn, ToolCall, ToolCalls, ToolSpec
from impl.providers.openai_compatible import error_for_status, error_text

API_VERSION = "2023-06-01"
# Dify's code-block mode for `response_format` (JSON or XML) on Claude: the answer is asked
# for inside a fenced block that the assistant turn already opens, and the fence ends it.
BLOCK_STOPS = ("```\n", "\n```")
DEFAULT_MAX_TOKENS = 4096
FORWARDED = ("temperature", "top_p", "top_k")


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": head or "image/png", "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _message(message: PromptMessage, vision: bool) -> dict[str, Any]:
    if not (vision and message.images):
        return {"role": message.role, "content": message.content}
    blocks = [_image_block(i.url) for i in message.images]
    return {"role": message.role, "content": [*blocks, {"type": "text", "text": message.content}]}


def _turn(turn: AgentTurn) -> dict[str, Any]:
    if turn.role == "tool":
        block = {"type": "tool_result", "tool_use_id": turn.tool_call_id or "", "content": turn.content}
        return {"role": "user", "content": [block]}
    if turn.tool_calls:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": turn.content}] if turn.content else []
        for call in turn.tool_calls:
            try:
                arguments = json.loads(call.arguments or "{}")
            except ValueError:
                arguments = {"input": call.arguments}
            blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
        return {"role": "assistant", "content": blocks}
    return {"role": turn.role, "content": turn.content}


def _merge(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive messages of one role joined (the API wants user/assistant alternating;
    several tool results of one round form one user message)."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        if merged and merged[-1]["role"] == message["role"]:
            last = merged[-1]
            blocks = _blocks(last["content"]) + _blocks(message["content"])
            merged[-1] = {"role": message["role"], "content": blocks}
        else:
            merged.append(message)
    return merged


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return list(content)
    return [{"type": "text", "text": str(content)}] if content else []


def error_for(status: int, body: bytes) -> ProviderError:
    """Anthropic's error types onto Dify's codes (`overloaded_error` 529 is a request error)."""
    message = error_text(status, body)
    if status == 400 and "credit balance" in message.lower():
        return ProviderQuotaExceededError(message)
    if status in (401, 403):
        return ProviderNotInitializeError(message)
    return error_for_status(status, message)


def block_mode_system(instructions: str, block: str) -> str:
    """The system prompt of code-block mode around the app's own instructions."""
    return (
        f"Answer only with a {block} code block: everything you write goes inside one fenced "
        f"block tagged {block}, with no words before or after it, and the content must be valid "
        f"{block}.\nFollow these instructions for the content:\n<instructions>\n{instructions}\n"
        "</instructions>"
    )


class AnthropicModel:
    """Claude over the Messages API, as a chat model and as a function-calling model.

    A `response_format` parameter (Dify's `JSON` / `XML` options for Claude) switches on Dify's
    code-block mode: the system prompt asks for one fenced block, the assistant turn is
    pre-filled with the opening fence and the closing fence is a stop sequence.  Structured
    output goes by instruction (`prompt` mode) with `response_format: JSON`."""

    json_response_format = "JSON"

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        *,
        vision: bool = True,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        base = base_url.rstrip("/")
        self.url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        self.api_key = api_key
        self.supports_vision = vision
        self.timeout = timeout
        self._transport = transport

    def payload(
        self,
        system: str,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        tools: Sequence[ToolSpec],
    ) -> dict[str, Any]:
        max_tokens = params.get("max_tokens") or params.get("max_tokens_to_sample") or DEFAULT_MAX_TOKENS
        body: dict[str, Any] = {
            "model": self.name,
            "max_tokens": int(max_tokens),
            "messages": _merge(messages),
            "stream": True,
        }
        if system:
            body["system"] = system
        if tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
                for t in tools
            ]
        for key in FORWARDED:
            if params.get(key) is not None:
                body[key] = params[key]
        stop = params.get("stop")
        if stop:
            body["stop_sequences"] = list(stop) if isinstance(stop, list | tuple) else [str(stop)]
        return body

    async def events(self, body: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """The stream's events as JSON; every failure a `ProviderError`."""
        if not self.api_key:
            raise ProviderNotInitializeError("No API key is configured for the Anthropic provider.")
        headers = {"x-api-key": self.api_key, "anthropic-version": API_VERSION, "accept": "text/event-stream"}
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout, transport=self._transport) as client,
                client.stream("POST", self.url, json=body, headers=headers) as response,
            ):
                if response.status_code >= 400:
                    raise error_for(response.status_code, await response.aread())
                stopped = False
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    try:
                        event = json.loads(line[5:].strip())
                    except ValueError as exc:
                        raise CompletionRequestError(f"Malformed stream event: {exc}") from exc
                    if event.get("type") == "error":
                        error = event.get("error") or {}
                        kind = str(error.get("type") or "")
                        status = {
                            "rate_limit_error": 429,
                            "authentication_error": 401,
                            "not_found_error": 404,
                        }
                        raise error_for_status(status.get(kind, 500), str(error.get("message") or kind))
                    yield event
                    if event.get("type") == "message_stop":
                        stopped = True
                        break
                if not stopped:
                    raise CompletionRequestError("The provider closed the stream before it finished.")
        except ProviderError:
            raise
        except httpx.TimeoutException as exc:
            raise CompletionRequestError(f"The provider timed out: {exc.__class__.__name__}") from exc
        except httpx.HTTPError as exc:
            raise CompletionRequestError(f"The provider connection failed: {exc}") from exc

    async def _run(self, body: dict[str, Any]) -> AsyncIterator[AgentItem]:
        prompt_tokens = completion_tokens = 0
        calls: dict[int, dict[str, str]] = {}
        events = self.events(body)
        async with contextlib.aclosing(events):
            async for event in events:
                kind = event.get("type")
                if kind == "message_start":
                    usage = (event.get("message") or {}).get("usage") or {}
                    prompt_tokens = int(usage.get("input_tokens") or 0)
                    completion_tokens = int(usage.get("output_tokens") or 0)
                elif kind == "content_block_start":
                    block = event.get("content_block") or {}
                    if block.get("type") == "tool_use":
                        index = int(event.get("index") or 0)
                        calls[index] = {
                            "id": str(block.get("id") or ""),
                            "name": str(block.get("name") or ""),
                            "json": "",
                        }
                elif kind == "content_block_delta":
                    delta = event.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        yield TextDelta(str(delta["text"]))
                    elif delta.get("type") == "input_json_delta":
                        slot = calls.get(int(event.get("index") or 0))
                        if slot is not None:
                            slot["json"] += str(delta.get("partial_json") or "")
                elif kind == "message_delta":
                    usage = event.get("usage") or {}
                    completion_tokens = int(usage.get("output_tokens") or completion_tokens)
        found = tuple(
            ToolCall(slot["id"] or f"toolu_{i}", slot["name"], slot["json"] or "{}")
            for i, slot in sorted(calls.items())
            if slot["name"]
        )
        if found:
            yield ToolCalls(found)
        yield Usage(prompt_tokens, completion_tokens)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system" and m.content)
        messages = [_message(m, self.supports_vision) for m in request.messages if m.role != "system"]
        params = dict(request.params)
        block = params.pop("response_format", None)
        if isinstance(block, str) and block:
            system = block_mode_system(system or f"Please output a valid {block} object.", block)
            messages.append({"role": "assistant", "content": f"\n```{block}"})
            stop = params.get("stop") or []
            stop = list(stop) if isinstance(stop, list | tuple) else [str(stop)]
            params["stop"] = stop + [s for s in BLOCK_STOPS if s not in stop]
        items = self._run(self.payload(system, messages, params, ()))
        async with contextlib.aclosing(items):  # type: ignore[type-var]
            async for item in items:
                if isinstance(item, TextDelta | Usage):
                    yield item

    async def stream_tools(
        self, turns: Sequence[AgentTurn], tools: Sequence[ToolSpec], params: Mapping[str, Any]
    ) -> AsyncIterator[AgentItem]:
        system = "\n\n".join(t.content for t in turns if t.role == "system" and t.content)
        messages = [_turn(t) for t in turns if t.role != "system"]
        items = self._run(self.payload(system, messages, params, tools))
        async with contextlib.aclosing(items):  # type: ignore[type-var]
            async for item in items:
                yield item
