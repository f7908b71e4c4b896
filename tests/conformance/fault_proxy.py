"""A fault-injecting reverse proxy: put it in front of a conforming server to break one behaviour.

`FaultProxy(upstream, fault)` is an ASGI app. Every request is forwarded with httpx; the fault (one of
FAULTS) rewrites the request, the response or the event stream on the way. The mutation test asserts
that the check named next to each fault notices it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

# fault -> (check id that must report it, outcome it must reach at least)
FAULTS: dict[str, str] = {
    "drop-message-end": "sse.grammar",
    "event-after-terminal": "sse.grammar",
    "ping-as-data": "sse.keepalive",
    "never-close": "sse.terminates",
    "no-accel-buffering": "sse.accel-buffering",
    "no-cache-control": "sse.cache-control",
    "event-field-wrong-type": "sse.event-schema",
    "crlf-framing": "sse.client-framing",
    "data-without-space": "sse.client-framing",
    "extra-event-lines": "sse.client-framing",
    "buffered-stream": "sse.incremental",
    "sse-as-text-plain": "sse.content-type",
    "has-more-always-true": "pagination.messages",
    "first-id-ignored": "pagination.messages",
    "duplicate-page-item": "pagination.conversations",
    "ok-on-bad-key": "auth.required",
    "leak-other-user": "isolation.user",
    "json-as-text-plain": "contract.content-type",
    "required-field-missing": "contract.response-schema",
    "envelope-without-code": "contract.error-envelope",
    "500-on-bad-input": "contract.no-server-error",
    "stop-ignored": "scenario.stop",
    "rename-not-persisted": "scenario.rename-delete",
    "delete-ignored": "scenario.rename-delete",
    "feedback-dropped": "scenario.feedback",
    "conversation-split": "scenario.continuity",
    "trace-header-rejected": "trace.header",
    "deleted-still-listed": "scenario.rename-delete",
    "iso-timestamps-in-list": "contract.observed",
    "iso-timestamp-on-rename": "contract.observed",
    "upload-200": "scenario.files",
    "run-stays-running": "scenario.workflow-run",
    "files-null-refused": "sdk.files-null",
    "absent-response-mode-streams": "sdk.default-blocking",
    "delete-user-from-query-only": "sdk.user-placement",
    "annotation-update-dropped": "scenario.annotations",
}
# The app mode whose key a fault is tested with (chat unless named here).
FAULT_MODES: dict[str, str] = {"run-stays-running": "workflow"}
ISO = "2024-01-16T12:20:29Z"
HOP = {"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}


class FaultProxy:
    def __init__(self, upstream: str, fault: str | None) -> None:
        assert fault is None or fault in FAULTS, fault
        self.upstream = upstream.rstrip("/")
        self.fault = fault
        self.owners: dict[str, str] = {}  # conversation id -> user, learnt from traffic
        self.deleted: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        f = self.fault
        path = request.url.path  # /v1/...
        method = request.method
        params = list(request.query_params.multi_items())
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP | {"host"}}
        body = await request.body()
        api = path[3:] if path.startswith("/v1") else path
        json_body = _json(body)

        if f == "trace-header-rejected" and "x-trace-id" in request.headers:
            return _error(400, "invalid_param", "trace id not accepted")
        if f == "first-id-ignored" and api == "/messages":
            params = [(k, v) for k, v in params if k != "first_id"]
        if f == "leak-other-user" and api == "/messages":
            cid = request.query_params.get("conversation_id", "")
            if cid in self.owners:
                params = [(k, self.owners[cid] if k == "user" else v) for k, v in params]
        if f == "conversation-split" and api in ("/chat-messages",) and isinstance(json_body, dict):
            json_body.pop("conversation_id", None)
            body = json.dumps(json_body).encode()
        if f == "stop-ignored" and method == "POST" and api.endswith("/stop"):
            return JSONResponse({"result": "success"})
        if f == "rename-not-persisted" and api.endswith("/name") and isinstance(json_body, dict):
            cid = api.split("/")[2]
            return JSONResponse(
                {
                    "id": cid,
                    "name": json_body.get("name"),
                    "inputs": {},
                    "status": "normal",
                    "introduction": "",
                    "created_at": 0,
                    "updated_at": 0,
                }
            )
        if f == "delete-ignored" and method == "DELETE" and api.startswith("/conversations/"):
            return Response(status_code=204)
        if f == "feedback-dropped" and api.endswith("/feedbacks") and method == "POST":
            return JSONResponse({"result": "success"})
        if f == "files-null-refused" and isinstance(json_body, dict) and json_body.get("files", 0) is None:
            return _error(400, "invalid_param", "files must be a list")
        generation = api in ("/chat-messages", "/completion-messages", "/workflows/run")
        if f == "absent-response-mode-streams" and generation and isinstance(json_body, dict):
            json_body.setdefault("response_mode", "streaming")
            body = json.dumps(json_body).encode()
        if f == "delete-user-from-query-only" and method == "DELETE" and api.startswith("/conversations/"):
            body = b""
            headers.pop("content-type", None)
        if f == "annotation-update-dropped" and method == "PUT" and api.startswith("/apps/annotations/"):
            annotation = {"id": api.rsplit("/", 1)[-1], **(json_body or {}), "hit_count": 0, "created_at": 0}
            return JSONResponse(annotation)
        if f == "deleted-still-listed" and method == "DELETE" and api.startswith("/conversations/"):
            self.deleted.append(api.rsplit("/", 1)[-1])

        # One client per request, closed with the response, so nothing outlives the test's server.
        client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=60.0))
        upstream_req = client.build_request(
            method, self.upstream + api, params=params, headers=headers, content=body
        )
        upstream = await client.send(upstream_req, stream=True)
        ctype = upstream.headers.get("content-type", "")
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP}

        if "text/event-stream" in ctype:
            if f == "no-accel-buffering":
                out_headers = {k: v for k, v in out_headers.items() if k.lower() != "x-accel-buffering"}
            if f == "no-cache-control":
                out_headers = {k: v for k, v in out_headers.items() if k.lower() != "cache-control"}
            if f == "sse-as-text-plain":
                out_headers["content-type"] = "text/plain; charset=utf-8"
            return StreamingResponse(
                self.stream(client, upstream), status_code=upstream.status_code, headers=out_headers
            )

        content = await upstream.aread()
        await upstream.aclose()
        await client.aclose()
        status = upstream.status_code
        data = _json(content)
        learn = api == "/chat-messages" and isinstance(data, dict) and isinstance(json_body, dict)
        if learn and data.get("conversation_id") and json_body.get("user"):
            self.owners.setdefault(str(data["conversation_id"]), str(json_body["user"]))
        if f == "ok-on-bad-key" and status == 401:
            return JSONResponse({"result": "success"})
        if f == "500-on-bad-input" and status == 400:
            return _error(500, "internal_server_error", "boom")
        if f == "envelope-without-code" and status >= 400 and isinstance(data, dict):
            data.pop("code", None)
            return JSONResponse(data, status)
        if f == "json-as-text-plain" and "application/json" in ctype and api == "/info":
            out_headers["content-type"] = "text/plain"
        if f == "required-field-missing" and api == "/info" and isinstance(data, dict):
            data.pop("name", None)
            return JSONResponse(data, status)
        if f == "upload-200" and api == "/files/upload" and status == 201:
            return Response(content, status_code=200, headers=out_headers)
        if f == "run-stays-running" and api.startswith("/workflows/run/") and isinstance(data, dict):
            data.update(status="running", finished_at=None)
            return JSONResponse(data, status)
        renamed = api.endswith("/name") and isinstance(data, dict) and status == 200
        if f == "iso-timestamp-on-rename" and renamed and isinstance(data, dict):
            data["updated_at"] = ISO
            return JSONResponse(data, status)
        listing = api == "/conversations" and isinstance(data, dict) and isinstance(data.get("data"), list)
        if f == "iso-timestamps-in-list" and listing and isinstance(data, dict):
            for item in data["data"]:
                item["created_at"] = ISO
            return JSONResponse(data, status)
        if f == "deleted-still-listed" and listing and isinstance(data, dict) and self.deleted:
            ghost = {"name": "deleted", "inputs": {}, "status": "normal", "introduction": ""}
            data["data"] += [{"id": cid, **ghost, "created_at": 0, "updated_at": 0} for cid in self.deleted]
            return JSONResponse(data, status)
        if f == "has-more-always-true" and api == "/messages" and isinstance(data, dict) and data.get("data"):
            data["has_more"] = True
            return JSONResponse(data, status)
        if f == "duplicate-page-item" and api == "/conversations" and isinstance(data, dict):
            last_id = request.query_params.get("last_id")
            if last_id and isinstance(data.get("data"), list):
                data["data"] = [
                    {
                        "id": last_id,
                        "name": "dup",
                        "inputs": {},
                        "status": "normal",
                        "introduction": "",
                        "created_at": 0,
                        "updated_at": 0,
                    },
                    *data["data"],
                ][: int(request.query_params.get("limit", "20"))]
                return JSONResponse(data, status)
        return Response(content, status_code=status, headers=out_headers)

    async def stream(self, client: httpx.AsyncClient, upstream: httpx.Response) -> AsyncIterator[bytes]:
        f = self.fault
        buffer = b""
        held: list[bytes] = []
        try:
            if f == "ping-as-data":
                yield b'data: {"event": "ping"}\n\n'
            async for chunk in upstream.aiter_raw():
                buffer += chunk
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    for out in self.rewrite(frame):
                        if f == "buffered-stream":
                            held.append(out)  # the whole stream in one write at the end
                        else:
                            yield out
            if held:
                yield b"".join(held)
            if buffer:
                yield buffer
        finally:
            await upstream.aclose()
            await client.aclose()
        if f == "never-close":
            while True:
                await asyncio.sleep(0.3)
                yield b"event: ping\n\n"

    def rewrite(self, frame: bytes) -> list[bytes]:
        f = self.fault
        text = frame.decode()
        payload = _json(text[5:].strip().encode()) if text.startswith("data:") else None
        event = payload.get("event") if isinstance(payload, dict) else None
        if f == "drop-message-end" and event == "message_end":
            return []
        if f == "event-field-wrong-type" and isinstance(payload, dict) and event == "message":
            payload["created_at"] = "not a timestamp"
            return [b"data: " + json.dumps(payload).encode() + b"\n\n"]
        out = [frame + b"\n\n"]
        if f == "data-without-space" and text.startswith("data: "):
            out = [b"data:" + frame[6:] + b"\n\n"]
        if f == "extra-event-lines" and event:
            out = [f"event: {event}\n".encode() + frame + b"\n\n"]
        if f == "crlf-framing":
            out = [frame.replace(b"\n", b"\r\n") + b"\r\n\r\n"]
        if (
            f == "event-after-terminal"
            and event in ("message_end", "workflow_finished")
            and isinstance(payload, dict)
        ):
            late = {**payload, "event": "message", "answer": " late", "id": payload.get("id")}
            out.append(b"data: " + json.dumps(late).encode() + b"\n\n")
        return out


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "status": status}, status)
