"""Valid requests for the operations the scenario and stream checks drive."""

from __future__ import annotations

from typing import Any

import httpx

from conformance import grammar
from conformance.context import Context
from conformance.sse import StreamCapture, read_stream

CHAT_MODES = ("chat", "agent-chat", "advanced-chat")


def generation_op(mode: str) -> str:
    if mode in CHAT_MODES:
        return "sendChatMessage"
    if mode == "completion":
        return "createCompletionMessage"
    return "executeWorkflow"


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

    def open(self, mode: str, operation_id: str, request: httpx.Request) -> StreamCapture:
        g = self.grammar_for(mode, operation_id)
        terminal = g.terminal if g else frozenset({"message_end", "workflow_finished", "error"})
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
        )

    def start_generation(self, mode: str, user: str, **kwargs: Any) -> tuple[str, StreamCapture]:
        op_id = generation_op(mode)
        api = self.ctx.apis[mode]
        body = generation_body(self.ctx, mode, user, streaming=True, **kwargs)
        request = api.build("POST", generation_path(self.ctx, op_id), json_body=body)
        return op_id, self.open(mode, op_id, request)
