"""A small OpenAI-style `/chat/completions` server for provider and app tests, run under uvicorn in a thread.

The model name picks the behaviour: `ok`, `unauthorized`, `rate-limited`, `quota`, `broken`
(HTTP 500), `cut` (the stream stops mid-way without `[DONE]`), `missing` (404), `garbage`,
`json` (the reply is the JSON object `JSON_REPLY`, streamed in pieces).
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

API_KEY = "sk-test"
REPLY = ["Hello", " from", " the", " fake", " server", "."]
JSON_REPLY = ['{"items": [', '"from", "the fake"', '], "count": 2', ', "done": "true"}']


def sse(body: dict[str, Any]) -> bytes:
    """One server-sent `data:` frame carrying `body` as JSON."""
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _chunk(content: str | None, usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [] if content is None else [{"index": 0, "delta": {"content": content}}],
    }
    if usage is not None:
        body["usage"] = usage
    return sse(body)


async def completions(request: Request) -> Response:
    received: list[dict[str, Any]] = request.app.state.received
    if request.headers.get("authorization") != f"Bearer {API_KEY}":
        return JSONResponse({"error": {"message": "Incorrect API key provided", "type": "auth"}}, 401)
    payload = await request.json()
    received.append(payload)
    model = payload.get("model")
    if model == "rate-limited":
        return JSONResponse({"error": {"message": "Rate limit reached for requests"}}, 429)
    if model == "quota":
        return JSONResponse(
            {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}, 429
        )
    if model == "broken":
        return Response("upstream exploded", 500)
    if model == "missing":
        return JSONResponse({"error": {"message": "The model `missing` does not exist"}}, 404)

    async def body() -> AsyncIterator[bytes]:
        if model == "garbage":
            yield b"data: {not json\n\n"
            return
        for i, piece in enumerate(JSON_REPLY if model == "json" else REPLY):
            if model == "cut" and i == 3:
                return
            yield _chunk(piece)
            await asyncio.sleep(0)
        if payload.get("stream_options", {}).get("include_usage"):
            yield _chunk(
                None, {"prompt_tokens": 11, "completion_tokens": len(REPLY), "total_tokens": 11 + len(REPLY)}
            )
        yield b"data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")


def make_app(routes: list[Route] | None = None) -> Starlette:
    """The fake's app (`routes`: other fakes' routes instead of this one's); bodies are
    recorded in `app.state.received`."""
    app = Starlette(routes=routes or [Route("/v1/chat/completions", completions, methods=["POST"])])
    app.state.received = []
    return app


@contextmanager
def running_fake_openai(routes: list[Route] | None = None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Start the fake (or one made of `routes`) on a free loopback port; yield (base_url, received bodies)."""
    app = make_app(routes)
    with serve_in_thread(app, name="fake OpenAI server") as base_url:
        yield base_url, app.state.received
