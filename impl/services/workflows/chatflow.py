"""Advanced-chat (chatflow) apps: `POST /chat-messages` driven by the workflow graph.

The conversation and message rows are the ones chat apps use (so `/conversations` and
`/messages` list chatflow turns); answer nodes stream `message` events; the graph's LLM nodes
see the conversation's earlier turns as memory; conversation variables persist per
conversation. The stream ends `workflow_finished` → `message_end` (or → `error` when the
graph failed).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

from impl import runtime
from impl.db.models import Conversation, Message, to_unix
from impl.engine import RunOutcome
from impl.errors import invalid_param
from impl.providers import BuiltinModel, PromptMessage, Usage
from impl.services.apps.scope import end_user_for
from impl.services.apps.store import AppContext
from impl.services.history import variables as conversation_variables
from impl.services.runs import leases
from impl.services.turns.generation import GenerateParams, answer_metadata, complete_message, title_for
from impl.services.turns.rows import add_conversation, add_message, check_conversation, conversation_history
from impl.services.workflows import graph_run
from impl.services.workflows.app_runs import (
    NewRun,
    file_json,
    resolve_version,
    system_files,
    validate_start_inputs,
)

log = logging.getLogger("impl.chatflow")
HISTORY_TURNS = 50


async def _history(conversation_id: str) -> list[PromptMessage]:
    async with runtime.current().database.session() as session:
        return await conversation_history(session, conversation_id, HISTORY_TURNS)


class ChatflowTurn:
    """What the chat handler streams or waits on (generation.RunningGeneration)."""

    def __init__(self, live: graph_run.LiveRun) -> None:
        self.live = live

    def events(self) -> AsyncIterator[dict[str, Any]]:
        return self.live.follow(0)

    async def blocking_body(self) -> dict[str, Any]:
        return await blocking_body(self.live)


async def start_turn(ctx: AppContext, user: str, params: GenerateParams) -> ChatflowTurn:
    return ChatflowTurn(await send_chat_message(ctx, user, params))


async def send_chat_message(ctx: AppContext, user: str, params: GenerateParams) -> graph_run.LiveRun:
    """Start one chatflow turn; the returned run streams events or yields the blocking body."""
    query = params.query.replace("\x00", "")
    if not query:
        raise invalid_param("query is required")
    conversation_id = params.conversation_id
    version = await resolve_version(ctx, params.workflow_id or None)
    end_user = await end_user_for(ctx, user)
    db = runtime.current().database
    existing: Conversation | None = None
    if conversation_id is not None:
        async with db.session() as session:
            found = await session.get(Conversation, conversation_id)
        existing = check_conversation(found, ctx.app_id, end_user.id)
        inputs = dict(existing.inputs or {})
    else:
        inputs = await validate_start_inputs(ctx, version.user_input_form, params.inputs)
    files = await system_files(ctx, version.features, params.files)
    history = await _history(existing.id) if existing is not None else []
    run = NewRun(ctx, version, end_user, inputs)
    now = run.created_at
    async with db.transaction() as session:
        if existing is None:
            introduction = str(version.features.get("opening_statement") or "")
            conversation = await add_conversation(
                session, ctx, version.id, end_user.id, inputs, introduction, now
            )
            await conversation_variables.create_for(
                session, ctx.app_id, conversation.id, version.model_config.get("conversation_variables")
            )
        else:
            found = await session.get(Conversation, existing.id)
            assert found is not None
            conversation = found
            conversation.updated_at = now
            await conversation_variables.create_for(
                session, ctx.app_id, conversation.id, version.model_config.get("conversation_variables")
            )
        message = await add_message(
            session,
            conversation,
            version_id=version.id,
            query=query,
            inputs=inputs,
            task_id=run.task_id,
            trace_id=params.trace_id,
            files=files,
            now=now,
        )
        dialogue_count = conversation.dialogue_count
        session.add(run.row(conversation.id, message.id))
        session.add(
            leases.new_lease(run.task_id, ctx.app_id, message_id=message.id, workflow_run_id=run.run_id)
        )
        conversation_id, message_id = conversation.id, message.id
        variables = await conversation_variables.values_of(session, conversation_id)
    system = {
        "query": query,
        "files": [file_json(f) for f in files],
        "conversation_id": conversation_id,
        "user_id": end_user.session_id,
        "dialogue_count": dialogue_count,
        "app_id": ctx.app_id,
        "workflow_id": version.id,
        "workflow_run_id": run.run_id,
    }
    pool = graph_run.build_pool(
        version.graph, inputs, system, version.model_config.get("environment_variables"), variables
    )
    title_query = query if existing is None and params.auto_generate_name else None
    run_ctx = dataclasses.replace(
        run.context(),
        conversation_id=conversation_id,
        message_id=message_id,
        history=history,
        title_query=title_query,
    )
    return await graph_run.start_run(chat_context(run_ctx, version.features), version.graph, pool)


def chat_context(ctx: graph_run.RunContext, features: dict[str, Any]) -> graph_run.RunContext:
    """A chatflow turn's context with what it does at its end and on conversation variables (a
    turn resumed from its stored pause gets them here too); `features` are its version's."""
    conversation_id = ctx.conversation_id
    assert conversation_id is not None
    cite = features.get("retriever_resource")
    show_sources = isinstance(cite, dict) and bool(cite.get("enabled"))

    async def write_variable(name: str, value: Any) -> None:
        await conversation_variables.write(conversation_id, name, value)

    async def finish(live: graph_run.LiveRun, outcome: RunOutcome) -> list[dict[str, Any]]:
        return await _finish(live, outcome, show_sources)

    return dataclasses.replace(ctx, finish_chat=finish, write_variable=write_variable)


async def _finish(
    live: graph_run.LiveRun, outcome: RunOutcome, show_sources: bool = False
) -> list[dict[str, Any]]:
    """Complete the message row; the events that follow `workflow_finished`. With the app's
    citation feature on (`retriever_resource.enabled`), the metadata carries the passages the
    last llm node with a knowledge context cited (Dify's `handle_retriever_resources`)."""
    ctx = live.ctx
    title = await title_for(BuiltinModel(), ctx.title_query)
    usage = _usage(outcome, live.runner.prompt_tokens if live.runner else 0)
    metadata = answer_metadata(usage, outcome.elapsed_time)
    if show_sources and live.runner is not None:
        metadata["retriever_resources"] = list(live.runner.retriever_resources)
    failed = outcome.status == "failed"
    await complete_message(
        ctx.message_id,
        ctx.conversation_id,
        answer=outcome.answer,
        usage=usage,
        latency=outcome.elapsed_time,
        metadata=metadata,
        error=outcome.error if failed else None,
        title=title,
    )
    base = {
        "task_id": ctx.task_id,
        "message_id": ctx.message_id,
        "conversation_id": ctx.conversation_id,
        "created_at": to_unix(ctx.created_at),
    }
    if failed:
        return [
            {
                "event": "error",
                **base,
                "workflow_run_id": ctx.run_id,
                "code": "invalid_param",
                "message": f"Run failed: {outcome.error}",
                "status": 400,
            }
        ]
    return [{"event": "message_end", **base, "id": ctx.message_id, "metadata": metadata, "files": None}]


def _usage(outcome: RunOutcome, prompt_tokens: int) -> Usage:
    prompt = min(prompt_tokens, outcome.total_tokens)
    return Usage(prompt_tokens=prompt, completion_tokens=outcome.total_tokens - prompt)


async def blocking_body(live: graph_run.LiveRun) -> dict[str, Any]:
    """Chat-shaped blocking reply once the turn ends (a failed graph is a 400 error)."""
    data = await graph_run.wait_result(live)
    ctx = live.ctx
    if data.get("status") == "failed":
        raise invalid_param(f"Run failed: {data.get('error')}")
    async with runtime.current().database.session() as session:
        message = await session.get(Message, ctx.message_id)
    answer = message.answer if message is not None else ""
    metadata = dict(message.message_metadata or {}) if message is not None else {}
    if data.get("status") == "paused":
        answer = "".join(e.get("answer", "") for e in live.log.events if e.get("event") == "message")
        metadata = answer_metadata(_zero(), data.get("elapsed_time") or 0.0)
    return {
        "event": "message",
        "task_id": ctx.task_id,
        "id": ctx.message_id,
        "message_id": ctx.message_id,
        "conversation_id": ctx.conversation_id,
        "mode": "advanced-chat",
        "answer": answer,
        "metadata": metadata or answer_metadata(_zero(), 0.0),
        "created_at": to_unix(ctx.created_at),
    }


def _zero() -> Usage:
    return Usage(0, 0)
