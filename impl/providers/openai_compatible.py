"""Any OpenAI-style `/chat/completions` endpoint, streamed over httpx."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import httpx

from impl.providers.base import (
    CompletionRequestError,
    ModelCurrentlyNotSupportError,
    ModelRequest,
    PromptMessage,
    ProviderError,
    ProviderNotInitializeError,
    ProviderQuotaExceededError,
    RateLimitError,
    StreamItem,
    TextDelta,
    Usage,
)

# DSL completion_params forwarded to the endpoint as they are.
FORWARDED_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "seed",
    "response_format",
)


def _message_json(message: PromptMessage, vision: bool) -> dict[str, Any]:
    if not (vision and message.images):
        return {"role": message.role, "content": message.content}
    content: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    for image in message.images:
        content.append({"type": "image_url", "image_url": {"url": image.url, "detail": image.detail}})
    return {"role": message.role, "content": content}


def error_text(status: int, body: bytes, *, top_level_message: bool = True) -> str:
    """The message of an upstream error body: OpenAI's `error.message` (or a string `error`),
    else a top-level `message` (only where `top_level_message`), else the start of a non-JSON
    body, else `HTTP <status>`."""
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or f"HTTP {status}"
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if top_level_message and isinstance(data.get("message"), str):
            return str(data["message"])
    return f"HTTP {status}"


def error_for_status(status: int, message: str) -> ProviderError:
    """Map an upstream HTTP status to the Dify error it surfaces as."""
    if status in (401, 403):
        return ProviderNotInitializeError(message)
    if status == 429:
        lowered = message.lower()
        if "quota" in lowered or "insufficient" in lowered:
            return ProviderQuotaExceededError(message)
        return RateLimitError(message)
    if status == 404:
        return ModelCurrentlyNotSupportError(message)
    return CompletionRequestError(f"[{status}] {message}")


def response_format_json(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The body's `response_format` from the DSL's params, as Dify's OpenAI-style providers build
    it: `json_schema` takes the `json_schema` parameter (JSON text) as the schema object, any other
    name becomes `{"type": name}`, an object passes as it is."""
    fmt = params.get("response_format")
    if not fmt:
        return None
    if isinstance(fmt, Mapping):
        return dict(fmt)
    if fmt == "json_schema":
        raw = params.get("json_schema")
        if not raw:
            raise CompletionRequestError("Must define JSON Schema when the response format is json_schema")
        try:
            schema = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            schema = None
        if not isinstance(schema, Mapping):
            raise CompletionRequestError(f"not correct json_schema format: {raw}")
        return {"type": "json_schema", "json_schema": dict(schema)}
    return {"type": str(fmt)}


def chat_payload(
    model: str,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
    tools: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A streamed `/chat/completions` body asking for usage in the last chunk; `tools` when
    given, then the DSL's `FORWARDED_PARAMS` that are set."""
    payload: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if tools:
        payload["tools"] = tools
    for key in FORWARDED_PARAMS:
        if params.get(key) is not None:
            payload[key] = params[key]
    response_format = response_format_json(params)
    if response_format is not None:
        payload["response_format"] = response_format
    else:
        payload.pop("response_format", None)
    return payload


async def stream_chunks(
    base_url: str,
    api_key: str | None,
    payload: dict[str, Any],
    *,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
    top_level_message: bool = True,
) -> AsyncGenerator[dict[str, Any], None]:
    """POST `payload` to `<base_url>/chat/completions` and yield each SSE `data:` chunk as JSON
    until `[DONE]`.  Every failure is a `ProviderError`: no key, an HTTP error status (through
    `error_for_status`; `top_level_message` as in `error_text`), an error chunk, a malformed
    chunk, a stream that ends without `[DONE]`, a timeout or a broken connection.  Iterate it
    under `contextlib.aclosing` so that stopping early closes the connection at once."""
    if not api_key:
        raise ProviderNotInitializeError("No API key is configured for the OpenAI-compatible provider.")
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"}
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, transport=transport) as client,
            client.stream("POST", f"{base_url}/chat/completions", json=payload, headers=headers) as response,
        ):
            if response.status_code >= 400:
                body = await response.aread()
                status = response.status_code
                raise error_for_status(status, error_text(status, body, top_level_message=top_level_message))
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
                yield chunk
            if not done:
                raise CompletionRequestError("The provider closed the stream before it finished.")
    except ProviderError:
        raise
    except httpx.TimeoutException as exc:
        raise CompletionRequestError(f"The provider timed out: {exc.__class__.__name__}") from exc
    except httpx.HTTPError as exc:
        raise CompletionRequestError(f"The provider connection failed: {exc}") from exc


def chunk_usage(chunk: Mapping[str, Any]) -> Usage | None:
    """The token usage a chunk reports (the last one, with `include_usage`), if any."""
    raw = chunk.get("usage")
    if not isinstance(raw, dict):
        return None
    return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))


class OpenAICompatibleModel:
    """Streams `/chat/completions` with `stream_options.include_usage`.  Structured output is
    native: the schema goes out as `response_format: {type: json_schema, ...}`."""

    structured_output = "native"

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
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.supports_vision = vision
        self.timeout = timeout
        self._transport = transport

    def _payload(self, request: ModelRequest) -> dict[str, Any]:
        messages = [_message_json(m, self.supports_vision) for m in request.messages]
        return chat_payload(self.name, messages, request.params)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        usage: Usage | None = None
        chars = 0
        payload = self._payload(request)
        chunks = stream_chunks(
            self.base_url, self.api_key, payload, timeout=self.timeout, transport=self._transport
        )
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        chars += len(text)
                        yield TextDelta(text)
                usage = chunk_usage(chunk) or usage  # a Usage is always truthy
        if usage is None:
            prompt_chars = sum(len(m.content) for m in request.messages)
            usage = Usage(prompt_tokens=max(1, prompt_chars // 4), completion_tokens=max(0, chars // 4))
        yield usage
