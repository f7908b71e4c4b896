"""A small Anthropic Messages API server (`POST /v1/messages`, streamed) for provider and app
tests, run under uvicorn in a thread like `support.fake_openai`.

The model name picks the behaviour: `ok` (text), `tools` (a `tool_use` block whose JSON input
arrives in fragments while the last user message holds no `tool_result`, then a text answer
quoting the result), `rate-limited` (429), `overloaded` (529), `credit` (400, credit balance),
`missing` (404), `cut` (no `message_stop`), `stream-error` (an `error` event mid-stream).  A
wrong `x-api-key` gets 401.  Request bodies are recorded in `app.state.received`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from support.threaded_server import serve_in_thread

API_KEY = "sk-ant-test"
REPLY = ["Bonjour", " from", " Claude", "."]


def event(kind: str, body: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **body})}\n\n".encode()


def _error(status: int, kind: str, message: str) -> Response:
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status)


def _tool_result(messages: list[dict[str, Any]]) -> str | None:
    last = messages[-1] if messages else {}
    content = last.get("content")
    if last.get("role") == "user" and isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                return str(block.get("content"))
    return None


async def messages(request: Request) -> Response:
    if request.headers.get("x-api-key") != API_KEY:
        return _error(401, "authentication_error", "invalid x-api-key")
    if request.headers.get("anthropic-version") is None:
        return _error(400, "invalid_request_error", "anthropic-version header is required")
    payload = await request.json()
    request.app.state.received.append(payload)
    model = payload.get("model")
    if "max_tokens" not in payload:
        return _error(400, "invalid_request_error", "max_tokens: Field required")
    failures = {
        "rate-limited": (429, "rate_limit_error", "Number of request tokens has exceeded your rate limit"),
        "overloaded": (529, "overloaded_error", "Overloaded"),
        "credit": (400, "invalid_request_error", "Your credit balance is too low to access the API"),
        "missing": (404, "not_found_error", "model: missing"),
    }
    if model in failures:
        return _error(*failures[model])
    result = _tool_result(payload["messages"])
    tools = payload.get("tools") or []

    async def body() -> AsyncIterator[bytes]:
        yield event(
            "message_start", {"message": {"id": "msg_1", "usage": {"input_tokens": 17, "output_tokens": 1}}}
        )
        if model == "tools" and tools and result is None:
            tool = tools[0]
            yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            yield event(
                "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Let me check."}}
            )
            yield event("content_block_stop", {"index": 0})
            block = {"type": "tool_use", "id": "toolu_01", "name": tool["name"], "input": {}}
            yield event("content_block_start", {"index": 1, "content_block": block})
            arguments = json.dumps(request.app.state.tool_input)
            for i in range(0, len(arguments), 5):
                delta = {"type": "input_json_delta", "partial_json": arguments[i : i + 5]}
                yield event("content_block_delta", {"index": 1, "delta": delta})
            yield event("content_block_stop", {"index": 1})
            yield event(
                "message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}
            )
            yield event("message_stop", {})
            return
        pieces = REPLY if result is None else ["The tool said: ", result]
        yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        for i, piece in enumerate(pieces):
            if model == "cut" and i == 2:
                return
            if model == "stream-error" and i == 2:
                yield event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})
                return
            yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
            await asyncio.sleep(0)
        yield event("content_block_stop", {"index": 0})
        yield event(
            "message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": len(pieces)}}
        )
        yield event("message_stop", {})

    return StreamingResponse(body(), media_type="text/event-stream")


@contextmanager
def running_fake_anthropic(
    tool_input: dict[str, Any] | None = None,
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Start the fake on a free loopback port; yield (base_url, received bodies).  `tool_input`
    is the input of the tool call model `tools` makes."""
    app = Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])
    app.state.received = []
    app.state.tool_input = tool_input or {"expression": "6*7"}
    with serve_in_thread(app, name="fake Anthropic server") as base_url:
        yield base_url.removesuffix("/v1"), app.state.received
