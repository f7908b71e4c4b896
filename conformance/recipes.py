"""Valid requests for the operations the checks drive, and the stream reader bound to the run's limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from conformance import grammar
from conformance.capabilities import CHAT_MODES
from conformance.sse import StreamCapture, read_stream

if TYPE_CHECKING:
    from conformance.context import Context

TERMINAL = frozenset({"message_end", "workflow_finished", "workflow_paused", "error"})


def generation_op(mode: str) -> str:
    if mode in CHAT_MODES:
        return "sendChatMessage"
    if mode == "completion":
        return "createCompletionMessage"
    return "executeWorkflow"


def stop_op(mode: str) -> str:
    return {"completion": "stopGenerate", "workflow": "stopWorkflowTaskGeneration"}.get(
        mode, "stopChatMessageGeneration"
    )


def generation_body(
    ctx: Context,
    mode: str,
    user: str,
    *,
    streaming: bool,
    query: str = "Hello there",
    conversation_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": ctx.inputs(mode),
        "response_mode": "streaming" if streaming else "blocking",
        "user": user,
    }
    if mode != "workflow":
        body["query"] = query
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return body


def generation_path(ctx: Context, operation_id: str, workflow_id: str | None = None) -> str:
    op = ctx.spec.operations[operation_id]
    return op.path.replace("{workflow_id}", workflow_id or "")


class Streams:
    """Grammars and terminal events for each (mode, operation)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.grammars = grammar.load_grammars(ctx.spec.events)

    def grammar_for(self, mode: str, operation_id: str) -> grammar.Grammar | None:
        op = self.ctx.spec.operations[operation_id]
        label = f"{op.method.upper()} {op.path}"
        for g in self.grammars.values():
            raw = self.ctx.spec.events["x-stream-grammars"][g.name]
            if mode in g.modes and label in raw.get("operations", []):
                return g
        return self.grammars.get(mode)

    def terminal(self, mode: str, operation_id: str) -> frozenset[str]:
        g = self.grammar_for(mode, operation_id)
        return g.terminal if g else TERMINAL

    def open(
        self,
        mode: str,
        operation_id: str,
        request: httpx.Request,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> StreamCapture:
        terminal = self.terminal(mode, operation_id)
        limits = self.ctx.config.limits
        request.extensions["timeout"] = httpx.Timeout(
            limits.request_timeout, read=limits.stream_deadline + limits.close_grace + 1
        ).as_dict()
        return read_stream(
            self.ctx.apis[mode],
            request,
            idle_timeout=limits.stream_idle_timeout,
            deadline=limits.stream_deadline,
            close_grace=limits.close_grace,
            is_terminal=lambda p: p.get("event") in terminal,
            on_event=on_event,
        )

    def start_generation(self, mode: str, user: str, **kwargs: Any) -> tuple[str, StreamCapture]:
        op_id = generation_op(mode)
        api = self.ctx.apis[mode]
        body = generation_body(self.ctx, mode, user, streaming=True, **kwargs)
        request = api.build("POST", generation_path(self.ctx, op_id), json_body=body)
        return op_id, self.open(mode, op_id, request)


def chat_turn(
    ctx: Context,
    mode: str,
    user: str,
    *,
    query: str = "Hello",
    conversation_id: str | None = None,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """One generation call (streamed for agent-chat, which has no blocking mode; blocking otherwise).

    Returns {conversation_id, message_id, answer, workflow_run_id, exchange}, {"error", "exchange"} when the
    server refused, or None when a stream brought no terminal event.
    """
    api = ctx.apis[mode]
    op_id = generation_op(mode)
    if mode == "agent-chat":
        body = generation_body(ctx, mode, user, streaming=True, query=query, conversation_id=conversation_id)
        if files is not None:
            body["files"] = files
        cap = Streams(ctx).open(mode, op_id, api.build("POST", generation_path(ctx, op_id), json_body=body))
        end = next((p for p in cap.payloads() if p.get("event") == "message_end"), None)
        if cap.status != 200 or end is None:
            return None
        return {
            "conversation_id": end.get("conversation_id"),
            "message_id": end.get("id"),
            "answer": cap.answer(),
            "exchange": cap.exchange,
        }
    body = generation_body(ctx, mode, user, streaming=False, query=query, conversation_id=conversation_id)
    if files is not None:
        body["files"] = files
    reply = api.call("POST", generation_path(ctx, op_id), json_body=body)
    data = reply.json if isinstance(reply.json, dict) else {}
    if reply.status != 200:
        return {"error": reply, "exchange": reply.exchange}
    return {
        "conversation_id": data.get("conversation_id"),
        "message_id": data.get("message_id") or data.get("id"),
        "answer": data.get("answer"),
        "workflow_run_id": data.get("workflow_run_id"),
        "task_id": data.get("task_id"),
        "data": data,
        "exchange": reply.exchange,
    }
