"""A fake OpenAI-style server for the chat-extras tests, run under uvicorn in a thread.

* `POST /v1/chat/completions` with `tools`: streams one tool call (arguments split over several
  chunks) while the last message is the user's, and a text answer quoting the tool result once
  the last message is a `tool` message.  Model `loop` calls a tool whenever tools are offered.
  Without `tools` but with ReAct instructions in the system message: a ReAct action for the
  calculator, then `Final Answer:` quoting the `Observation:`.
* `POST /v1/audio/transcriptions`: `{"text": ...}` naming the received file; model `broken` → 500.
* `POST /v1/audio/speech`: fake MP3 bytes in two chunks; voice `broken` → 500.
Every request body (JSON, or the multipart form fields) is recorded in `received`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from support.fake_openai import running_fake_openai, sse

API_KEY = "sk-extras"
SPEECH = [b"ID3\x04\x00\x00\x00\x00\x00\x00", b"\xff\xfb\x90\x00" * 64]


def _authorised(request: Request) -> bool:
    return request.headers.get("authorization") == f"Bearer {API_KEY}"


def _delta(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return sse(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def _pick_tool(tools: list[dict[str, Any]], text: str) -> dict[str, Any]:
    for tool in tools:
        if tool["function"]["name"] in text:
            return tool
    return tools[0]


async def completions(request: Request) -> Response:
    if not _authorised(request):
        return JSONResponse({"error": {"message": "Incorrect API key provided"}}, 401)
    payload = await request.json()
    request.app.state.received.append(payload)
    tools = payload.get("tools") or []
    last = payload["messages"][-1]
    model = payload.get("model")

    system = " ".join(str(m.get("content") or "") for m in payload["messages"] if m["role"] == "system")
    react = not tools and "Final Answer:" in system

    async def body() -> AsyncIterator[bytes]:
        if react:
            content = str(last.get("content") or "")
            if content.startswith("Observation:"):
                text = f"Thought: I know it now.\nFinal Answer: The tool said: {content[12:].strip()}."
            else:
                blob = json.dumps({"action": "calculator", "action_input": {"expression": "6*7"}})
                text = f"Thought: I should use the calculator.\nAction:\n```\n{blob}\n```"
            for i in range(0, len(text), 7):
                yield _delta({"content": text[i : i + 7]})
            yield _delta({}, "stop")
        elif tools and (last["role"] == "user" or model == "loop"):
            tool = _pick_tool(tools, str(last.get("content") or ""))
            name = tool["function"]["name"]
            args = {"expression": "6*7"} if name == "calculator" else {}
            text = json.dumps(args)
            yield _delta(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ],
                }
            )
            for i in range(0, len(text), 4):
                yield _delta({"tool_calls": [{"index": 0, "function": {"arguments": text[i : i + 4]}}]})
                await asyncio.sleep(0)
            yield _delta({}, "tool_calls")
        else:
            observed = last.get("content") if last["role"] == "tool" else "nothing"
            for piece in ["The tool", " said: ", str(observed), "."]:
                yield _delta({"content": piece})
                await asyncio.sleep(0)
            yield _delta({}, "stop")
        yield sse({"id": "c1", "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 7}})
        yield b"data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")


async def transcriptions(request: Request) -> Response:
    if not _authorised(request):
        return JSONResponse({"error": {"message": "Incorrect API key provided"}}, 401)
    async with request.form() as form:
        upload = form.get("file")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        request.app.state.received.append(fields)
        if fields.get("model") == "broken":
            return Response("transcriber exploded", 500)
        if upload is None or isinstance(upload, str):
            return JSONResponse({"error": {"message": "file is required"}}, 400)
        data = await upload.read()
        return JSONResponse({"text": f"heard {len(data)} bytes of {upload.filename} ({upload.content_type})"})


async def speech(request: Request) -> Response:
    if not _authorised(request):
        return JSONResponse({"error": {"message": "Incorrect API key provided"}}, 401)
    payload = await request.json()
    request.app.state.received.append(payload)
    if payload.get("voice") == "broken":
        return JSONResponse({"error": {"message": "voice exploded"}}, 500)

    async def body() -> AsyncIterator[bytes]:
        for chunk in SPEECH:
            yield chunk
            await asyncio.sleep(0)

    return StreamingResponse(body(), media_type="audio/mpeg")


ROUTES = [
    Route("/v1/chat/completions", completions, methods=["POST"]),
    Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
    Route("/v1/audio/speech", speech, methods=["POST"]),
]


def running_fake_openai_extras() -> AbstractContextManager[tuple[str, list[dict[str, Any]]]]:
    """Start the fake on a free loopback port; yield (base_url, received bodies)."""
    return running_fake_openai(ROUTES)
