"""Any OpenAI-style `/chat/completions` endpoint, streamed over httpx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
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


def _error_text(response: httpx.Response, body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or f"HTTP {response.status_code}"
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return f"HTTP {response.status_code}"


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


class OpenAICompatibleModel:
    """Streams `/chat/completions` with `stream_options.include_usage`."""

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
        params: Mapping[str, Any] = request.params
        payload: dict[str, Any] = {
            "model": self.name,
            "messages": [_message_json(m, self.supports_vision) for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for key in FORWARDED_PARAMS:
            if params.get(key) is not None:
                payload[key] = params[key]
        return payload

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        if not self.api_key:
            raise ProviderNotInitializeError("No API key is configured for the OpenAI-compatible provider.")
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "text/event-stream"}
        url = f"{self.base_url}/chat/completions"
        usage: Usage | None = None
        chars = 0
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout, transport=self._transport) as client,
                client.stream("POST", url, json=self._payload(request), headers=headers) as response,
            ):
                if response.status_code >= 400:
                    body = await response.aread()
                    raise error_for_status(response.status_code, _error_text(response, body))
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
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            chars += len(text)
                            yield TextDelta(text)
                    raw_usage = chunk.get("usage")
                    if isinstance(raw_usage, dict):
                        usage = Usage(
                            prompt_tokens=int(raw_usage.get("prompt_tokens") or 0),
                            completion_tokens=int(raw_usage.get("completion_tokens") or 0),
                        )
                if not done:
                    raise CompletionRequestError("The provider closed the stream before it finished.")
        except ProviderError:
            raise
        except httpx.TimeoutException as exc:
            raise CompletionRequestError(f"The provider timed out: {exc.__class__.__name__}") from exc
        except httpx.HTTPError as exc:
            raise CompletionRequestError(f"The provider connection failed: {exc}") from exc
        if usage is None:
            prompt_chars = sum(len(m.content) for m in request.messages)
            usage = Usage(prompt_tokens=max(1, prompt_chars // 4), completion_tokens=max(0, chars // 4))
        yield usage
