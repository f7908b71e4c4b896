"""Tiny fake Dify servers for the suite's unit tests: one in-memory app, one behaviour flag per fault.

`FakeDify(**flags)` serves a chat app and a completion app on loopback; each flag breaks one behaviour
so a test can show that the check naming it notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from support.threaded_server import serve_in_thread

KEYS = {"chat": "app-fakechatkey000000000000", "completion": "app-fakecompletionkey000000"}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclasses.dataclass
class Flags:
    sse_content_type: str = "text/event-stream"
    cache_control: bool = True
    accel_buffering: bool = True
    ping_as_data: bool = False
    comment_keepalive: bool = False
    drop_message_end: bool = False
    event_after_terminal: bool = False
    never_close: bool = False
    bad_event_field: bool = False
    accept_bad_key: bool = False
    envelope_without_code: bool = False
    has_more_always_true: bool = False
    first_id_ignored: bool = False
    leak_other_user: bool = False
    stop_ignored: bool = False
    reject_trace_header: bool = False
    data_without_space: bool = False  # `data:{...}`: standard SSE, but the SDKs cut six characters
    event_lines: bool = False  # an `event:` line on every data frame
    buffered: bool = False  # the whole stream held back and written at once
    tokens: int = 3
    token_delay: float = 0.0


def err(status: int, code: str, message: str, flags: Flags) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if flags.envelope_without_code:
        del body["code"]
    return JSONResponse(body, status)


class FakeDify:
    def __init__(self, **flags: Any) -> None:
        self.flags = Flags(**flags)
        self.conversations: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.feedbacks: list[dict[str, Any]] = []
        self.stopped: set[str] = set()
        self.clock = 1_700_000_000
        routes = [
            Route("/v1/info", self.info),
            Route("/v1/parameters", self.parameters),
            Route("/v1/chat-messages", self.chat, methods=["POST"]),
            Route("/v1/completion-messages", self.chat, methods=["POST"]),
            Route("/v1/chat-messages/{task_id}/stop", self.stop, methods=["POST"]),
            Route("/v1/completion-messages/{task_id}/stop", self.stop, methods=["POST"]),
            Route("/v1/messages", self.list_messages),
            Route("/v1/conversations", self.list_conversations),
            Route("/v1/conversations/{cid}/name", self.rename, methods=["POST"]),
            Route("/v1/conversations/{cid}", self.delete, methods=["DELETE"]),
            Route("/v1/messages/{mid}/feedbacks", self.feedback, methods=["POST"]),
            Route("/v1/app/feedbacks", self.list_feedbacks),
        ]
        self.app = Starlette(routes=routes)

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def mode(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        for mode, key in KEYS.items():
            if header == f"Bearer {key}":
                return mode
        if self.flags.accept_bad_key:
            return "chat"
        return None

    async def info(self, request: Request) -> Response:
        mode = self.mode(request)
        if mode is None:
            return err(401, "unauthorized", "bad key", self.flags)
        return JSONResponse(
            {"name": f"fake {mode}", "description": "", "tags": [], "mode": mode, "author_name": "tests"}
        )

    async def parameters(self, request: Request) -> Response:
        if self.mode(request) is None:
            return err(401, "unauthorized", "bad key", self.flags)
        return JSONResponse({"user_input_form": []})

    async def chat(self, request: Request) -> Response:
        mode = self.mode(request)
        if mode is None:
            return err(401, "unauthorized", "bad key", self.flags)
        if self.flags.reject_trace_header and "x-trace-id" in request.headers:
            return err(400, "invalid_param", "trace id rejected", self.flags)
        body = await request.json()
        user = body.get("user")
        if not isinstance(user, str) or not user:
            return err(400, "invalid_param", "Arg user must be provided.", self.flags)
        cid = body.get("conversation_id") or None
        if mode == "chat":
            if cid is None:
                cid = str(uuid.uuid4())
                self.conversations[cid] = {
                    "id": cid,
                    "name": "New conversation",
                    "user": user,
                    "created_at": self.tick(),
                    "updated_at": self.clock,
                    "inputs": {},
                    "status": "normal",
                    "introduction": "",
                }
            elif cid not in self.conversations or self.conversations[cid]["user"] != user:
                return err(404, "not_found", "Conversation Not Exists.", self.flags)
            self.conversations[cid]["updated_at"] = self.tick()
        mid, tid = str(uuid.uuid4()), str(uuid.uuid4())
        msg = {
            "id": mid,
            "conversation_id": cid,
            "query": body.get("query", ""),
            "answer": "",
            "created_at": self.tick(),
            "user": user,
            "mode": mode,
            "feedback": None,
        }
        self.messages[mid] = msg
        words = [f"w{i} " for i in range(self.flags.tokens)]
        if body.get("response_mode") != "streaming":
            msg["answer"] = "".join(words)
            out = {
                "event": "message",
                "task_id": tid,
                "id": mid,
                "message_id": mid,
                "mode": mode,
                "answer": msg["answer"],
                "metadata": {},
                "created_at": msg["created_at"],
            }
            if mode == "chat":
                out["conversation_id"] = cid
            return JSONResponse(out)
        envelope: dict[str, Any] = {"task_id": tid, "message_id": mid, "created_at": msg["created_at"]}
        if mode == "chat":
            envelope["conversation_id"] = cid
        headers = {
            k: v
            for k, v in SSE_HEADERS.items()
            if (k != "Cache-Control" or self.flags.cache_control)
            and (k != "X-Accel-Buffering" or self.flags.accel_buffering)
        }
        stream = self.stream(envelope, msg, words, tid)
        if self.flags.buffered:
            stream = _held_back(stream)
        return StreamingResponse(stream, media_type=self.flags.sse_content_type, headers=headers)

    async def stream(
        self, envelope: dict[str, Any], msg: dict[str, Any], words: list[str], tid: str
    ) -> AsyncIterator[bytes]:
        f = self.flags

        def frame(payload: dict[str, Any]) -> bytes:
            head = f"event: {payload['event']}\n" if f.event_lines else ""
            sep = "data:" if f.data_without_space else "data: "
            return f"{head}{sep}{json.dumps(payload)}\n\n".encode()

        if f.ping_as_data:
            yield frame({"event": "ping"})
        if f.comment_keepalive:
            yield b": keep-alive\n\n"
        for word in words:
            if tid in self.stopped and not f.stop_ignored:
                break
            msg["answer"] += word
            event = {"event": "message", "id": msg["id"], "answer": word, **envelope}
            if f.bad_event_field:
                event["created_at"] = "yesterday"
            yield frame(event)
            if f.token_delay:
                await asyncio.sleep(f.token_delay)
        if not f.drop_message_end:
            yield frame(
                {
                    "event": "message_end",
                    "id": msg["id"],
                    "metadata": {"usage": {"total_tokens": 3}},
                    **envelope,
                }
            )
        if f.event_after_terminal:
            yield frame({"event": "message", "id": msg["id"], "answer": "late", **envelope})
        if f.never_close:
            while True:
                await asyncio.sleep(0.2)
                yield b"event: ping\n\n"

    async def stop(self, request: Request) -> Response:
        if self.mode(request) is None:
            return err(401, "unauthorized", "bad key", self.flags)
        self.stopped.add(request.path_params["task_id"])
        return JSONResponse({"result": "success"})

    def visible(self, cid: str, user: str | None) -> bool:
        conv = self.conversations.get(cid)
        return conv is not None and (self.flags.leak_other_user or conv["user"] == user)

    async def list_messages(self, request: Request) -> Response:
        if self.mode(request) is None:
            return err(401, "unauthorized", "bad key", self.flags)
        q = request.query_params
        cid, user, limit = q.get("conversation_id", ""), q.get("user"), int(q.get("limit", "20"))
        if not self.visible(cid, user):
            return err(404, "not_found", "Conversation Not Exists.", self.flags)
        rows = sorted(
            (m for m in self.messages.values() if m["conversation_id"] == cid),
            key=lambda m: m["created_at"],
            reverse=True,
        )
        first_id = q.get("first_id")
        if first_id and not self.flags.first_id_ignored:
            anchor = self.messages[first_id]
            rows = [m for m in rows if m["created_at"] < anchor["created_at"]]
        page, has_more = rows[:limit], len(rows) > limit
        data = [{k: v for k, v in m.items() if k not in ("user", "mode")} for m in reversed(page)]
        return JSONResponse(
            {
                "limit": limit,
                "has_more": has_more or self.flags.has_more_always_true and bool(page),
                "data": data,
            }
        )

    async def list_conversations(self, request: Request) -> Response:
        if self.mode(request) is None:
            return err(401, "unauthorized", "bad key", self.flags)
        q = request.query_params
        user, limit = q.get("user"), int(q.get("limit", "20"))
        rows = sorted(
            (c for c in self.conversations.values() if c["user"] == user),
            key=lambda c: c["updated_at"],
            reverse=True,
        )
        last_id = q.get("last_id")
        if last_id:
            anchor = self.conversations[last_id]
            rows = [c for c in rows if c["updated_at"] < anchor["updated_at"]]
        page = rows[:limit]
        data = [{k: v for k, v in c.items() if k != "user"} for c in page]
        return JSONResponse({"limit": limit, "has_more": len(rows) > limit, "data": data})

    async def rename(self, request: Request) -> Response:
        if self.mode(request) is None:
            return err(401, "unauthorized", "bad key", self.flags)
        body = await request.json()
        cid = request.path_params["cid"]
        if not self.visible(cid, body.get("user")):
            return err(404, "not_found", "Conversation Not Exists.", self.flags)
        self.conversations[cid]["name"] = body.get("name")
        return JSONResponse({k: v for k, v in self.conversations[cid].items() if k != "user"})

    async def delete(self, request: Request) -> Response:
        if self.mode(request) is None:
            return err(401, "unauthorized", "bad key", self.flags)
        body = await request.json()
        cid = request.path_params["cid"]
        if not self.visible(cid, body.get("user")):
            return err(404, "not_found", "Conversation Not Exists.", self.flags)
        del self.conversations[cid]
        return Response(status_code=204)

    async def feedback(self, request: Request) -> Response:
        mode = self.mode(request)
        if mode is None:
            return err(401, "unauthorized", "bad key", self.flags)
        body = await request.json()
        msg = self.messages.get(request.path_params["mid"])
        if msg is None or msg["user"] != body.get("user") or msg["mode"] != mode:
            return err(404, "not_found", "Message Not Exists.", self.flags)
        msg["feedback"] = {"rating": body.get("rating")}
        self.feedbacks.append(
            {"id": str(uuid.uuid4()), "message_id": msg["id"], "rating": body.get("rating"), "mode": mode}
        )
        return JSONResponse({"result": "success"})

    async def list_feedbacks(self, request: Request) -> Response:
        mode = self.mode(request)
        if mode is None:
            return err(401, "unauthorized", "bad key", self.flags)
        return JSONResponse({"data": [f for f in reversed(self.feedbacks) if f["mode"] == mode]})


async def _held_back(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield b"".join([frame async for frame in frames])


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a thread; yields the base URL (ending in /v1)."""
    with serve_in_thread(
        app, join_timeout=5, log_level="error", timeout_graceful_shutdown=1, loop="asyncio", http="h11"
    ) as base_url:
        yield base_url
