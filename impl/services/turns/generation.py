"""Chat and completion generation: request → message rows → model run → events / blocking body.

The model runs in a background asyncio task that appends to the turn's event log
(`runs.event_log`, the log graph runs use too), so a client that disconnects
does not lose the message: the conversation and message rows are committed before the first
event (which already carries their ids) and the runner completes the message (answer, tokens,
latency, status) whatever happens to the HTTP side. Stop and server shutdown end the run like
a normal completion: `message_end` with the partial answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from impl import runtime
from impl.db.models import Conversation, Message, to_unix, utcnow
from impl.db.writer import Statement, Statements
from impl.errors import ApiError, invalid_param, not_found
from impl.providers import (
    ChatModel,
    ModelRequest,
    PromptMessage,
    ProviderError,
    TextDelta,
    Usage,
    until_stopped,
)
from impl.providers.builtin import count_tokens
from impl.services.apps.chat_config import ChatAppConfig, HasAppConfig, load_config
from impl.services.apps.end_users import end_user_id_in, known_end_user_id
from impl.services.apps.inputs import render_template, validate_inputs
from impl.services.apps.scope import AppScope, end_user_for, model_for
from impl.services.apps.store import AppContext, derived, shared_context
from impl.services.media.files import RequestFile, image_inputs, resolve_request_files
from impl.services.runs import leases
from impl.services.runs.checkpoint import AnswerCheckpoint
from impl.services.runs.event_log import EventLog
from impl.services.turns.knowledge import Context, app_context
from impl.services.turns.rows import (
    CONVERSATION_NOT_FOUND,
    NEW_CONVERSATION_NAME,
    add_conversation,
    add_message,
    check_conversation,
    conversation_history,
    first_turn_statements,
)
from impl.services.turns.suggestions import generate_title
from impl.tasks import TaskHandle, TaskRegistry

log = logging.getLogger("impl.generation")

INTERNAL_EVENT = ("internal_server_error", "Internal Server Error, please contact support.", 500)
TERMINAL = ("message_end", "error")
DEFAULT_PING_INTERVAL = 10.0
TITLE_TIMEOUT = 10.0

Kind = Literal["chat", "completion"]


class RunningGeneration(Protocol):
    """What the chat handler needs from any mode's generation (chat, agent-chat, advanced-chat)."""

    def events(self) -> AsyncIterator[dict[str, Any]]: ...
    async def blocking_body(self) -> dict[str, Any]: ...


Starter = Callable[[AppScope, str, "GenerateParams"], Awaitable[RunningGeneration]]


def ping_interval() -> float:
    """Seconds of silence before a keep-alive frame (`SSE_PING_INTERVAL`, default 10)."""
    value = runtime.current().settings.sse_ping_interval
    return value if value > 0 else DEFAULT_PING_INTERVAL


def task_registry() -> TaskRegistry:
    """The runtime's registry of running generations (register on start, unregister at the end)."""
    tasks = runtime.current().tasks
    assert isinstance(tasks, TaskRegistry)
    return tasks


def usage_json(usage: Usage, latency: float, ttft: float | None, generate: float | None) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "prompt_unit_price": "0",
        "prompt_price_unit": "0",
        "prompt_price": "0",
        "completion_tokens": usage.completion_tokens,
        "completion_unit_price": "0",
        "completion_price_unit": "0",
        "completion_price": "0",
        "total_tokens": usage.total_tokens,
        "total_price": "0",
        "currency": "USD",
        "latency": round(latency, 6),
        "time_to_first_token": None if ttft is None else round(ttft, 6),
        "time_to_generate": None if generate is None else round(generate, 6),
    }


def answer_metadata(usage: Usage, latency: float, first_token: float | None = None) -> dict[str, Any]:
    """A finished answer's `metadata` (usage with its timings; no retriever resources), as
    `message_end` and the blocking reply carry it and the message row stores it."""
    generate = None if first_token is None else latency - first_token
    return {"usage": usage_json(usage, latency, first_token, generate), "retriever_resources": []}


@dataclass
class Outcome:
    answer: str
    metadata: dict[str, Any]
    error: ProviderError | ApiError | None = None
    stopped: bool = False


@dataclass
class GenerationRun:
    """A started generation: its ids, its event log and its final outcome."""

    kind: Kind
    app_mode: str
    task_id: str
    message_id: str
    conversation_id: str
    created_at: int
    log: EventLog = field(default_factory=lambda: EventLog(keep=False))
    # The knowledge passages the answer cites (the app's datasets, citation feature on).
    retriever_resources: list[dict[str, Any]] = field(default_factory=list)
    outcome: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    _head: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def envelope(self, event: str) -> dict[str, Any]:
        """The fields every event of this run starts with (a copy of one dict made once: a turn
        makes one per token)."""
        head = self._head
        if head is None:
            head = {"event": "", "task_id": self.task_id, "id": self.message_id}
            head["message_id"] = self.message_id
            if self.kind == "chat":
                head["conversation_id"] = self.conversation_id
            head["created_at"] = self.created_at
            self._head = head
        body = head.copy()
        body["event"] = event
        return body

    def emit(self, event: dict[str, Any]) -> None:
        self.log.append(event)

    def events(self) -> AsyncIterator[dict[str, Any]]:
        """The stream's events, ending with the terminal one (a `Follower`: the SSE response
        writes all events there at once)."""
        return self.log.follower(0, TERMINAL)

    async def blocking_body(self) -> dict[str, Any]:
        """Wait for the end (a client disconnect does not cancel the run) and shape the reply."""
        outcome = await asyncio.shield(self.outcome)
        if outcome.error is not None:
            err = outcome.error
            raise ApiError(err.code, err.message, err.status)
        body: dict[str, Any] = {
            "event": "message",
            "task_id": self.task_id,
            "id": self.message_id,
            "message_id": self.message_id,
        }
        if self.kind == "chat":
            body["conversation_id"] = self.conversation_id
        body.update(
            {
                "mode": self.app_mode,
                "answer": outcome.answer,
                "metadata": outcome.metadata,
                "created_at": self.created_at,
            }
        )
        return body


@dataclass(frozen=True)
class GenerateParams:
    kind: Kind
    query: str
    inputs: dict[str, Any]
    streaming: bool
    conversation_id: str | None
    files: Any
    auto_generate_name: bool
    trace_id: str | None
    # advanced-chat only: run this published workflow version instead of the current one
    workflow_id: str | None = None


@dataclass
class _TurnRows:
    """The rows a new turn writes: its conversation (new, or the found one counted on), its
    message with the user's files, and its lease. `write` may run more than once (a group commit
    retried without a failed write), so it builds everything from these fields each time."""

    ctx: AppScope
    end_user_id: str
    conversation_id: str | None
    inputs: dict[str, Any]
    introduction: str
    query: str
    task_id: str
    params: GenerateParams
    files: list[RequestFile]
    now: datetime

    async def write(self, session: AsyncSession) -> tuple[str, str, int]:
        ctx, now = self.ctx, self.now
        if self.conversation_id is None:
            conversation = await add_conversation(
                session, ctx, ctx.version_id, self.end_user_id, self.inputs, self.introduction, now
            )
        else:
            # From the database, or as an earlier turn of this batch left it (counted on).
            found = await session.get(Conversation, self.conversation_id)
            if found is None:
                raise not_found(CONVERSATION_NOT_FOUND)
            conversation = found
            conversation.updated_at = now
        message = await add_message(
            session,
            conversation,
            version_id=ctx.version_id,
            query=self.query,
            inputs=self.inputs,
            task_id=self.task_id,
            trace_id=self.params.trace_id,
            files=self.files,
            now=now,
            threaded=self.params.kind == "chat",
            flush=False,
        )
        session.add(leases.new_lease(self.task_id, ctx.app_id, message_id=message.id))
        return message.id, conversation.id, to_unix(now) or 0


def _prompt(
    kind: Kind, config: ChatAppConfig, inputs: dict[str, Any], query: str, history: list[PromptMessage],
    images: tuple[Any, ...], context: Context,
) -> tuple[PromptMessage, ...]:  # fmt: skip
    system = context.apply(render_template(config.pre_prompt, inputs).strip()).strip()
    if kind == "completion":
        text = "\n".join(part for part in (system, query) if part)
        return (PromptMessage("user", text, images),)
    messages: list[PromptMessage] = []
    if system:
        messages.append(PromptMessage("system", system))
    messages.extend(history)
    messages.append(PromptMessage("user", query, images))
    return tuple(messages)


# Drives a started run instead of `run_model` (agent loop, annotation replies, moderation presets);
# same arguments as `run_model`, and like it ends with `end_run`.
Runner = Callable[["GenerationRun", ChatModel, ModelRequest, TaskHandle, "str | None"], Awaitable[None]]


async def start(
    ctx: AppScope, app_config: HasAppConfig, user: str, params: GenerateParams, runner: Runner | None = None
) -> GenerationRun:
    """Validate the request, create the rows, start the model; return the running generation."""
    config = (
        derived(app_config, load_config) if isinstance(app_config, AppContext) else load_config(app_config)
    )
    query = params.query.replace("\x00", "")
    if params.kind == "chat" and not query:
        raise invalid_param("query is required")
    model = model_for(config.model)  # provider misconfiguration: a plain 400 before streaming
    rt = runtime.current()
    task_id = str(uuid.uuid4())
    # The reads in one session (the end user is committed on its own when created); the turn's
    # rows in one write (`Database.write`: on SQLite group-committed with other turns' writes),
    # committed before the first event. A known user's first turn without files reads nothing.
    end_user_id = known_end_user_id(rt.database.engine, ctx.app_id, user)
    found: Conversation | None = None
    history: list[PromptMessage] = []
    files: list[RequestFile] = []
    if end_user_id is not None and params.conversation_id is None and not params.files:
        inputs = validate_inputs(config.user_input_form, params.inputs)
    else:
        async with rt.database.session() as session:
            end_user_id = await end_user_id_in(session, ctx.app_id, user)
            if params.conversation_id is not None:
                if params.kind != "chat":  # a completion has no later turns
                    raise not_found(CONVERSATION_NOT_FOUND)
                found = check_conversation(
                    await session.get(Conversation, params.conversation_id), ctx.app_id, end_user_id
                )
                # Later turns keep the inputs stored with the conversation (Dify's behaviour).
                inputs = dict(found.inputs or {})
            else:
                inputs = validate_inputs(config.user_input_form, params.inputs)
            files = await resolve_request_files(
                session, config.file_upload, params.files, app_id=ctx.app_id, tenant_id=ctx.tenant_id
            )
            if found is not None:
                history = await conversation_history(session, found.id, config.history_turns)
    now = utcnow()
    is_new = found is None
    if is_new and not files:  # the common first turn: plain INSERTs, batched across turns
        statements, message_id, conversation_id = first_turn_statements(
            ctx, ctx.version_id, end_user_id, inputs=inputs, introduction=config.opening_statement,
            query=query, task_id=task_id, trace_id=params.trace_id, now=now,
        )  # fmt: skip
        lease = leases.lease_values(task_id, ctx.app_id, message_id=message_id)
        statements.append((leases.INSERT_LEASE, lease))
        await rt.database.write(Statements(statements))
        ids = (message_id, conversation_id, to_unix(now) or 0)
    else:
        turn = _TurnRows(ctx, end_user_id, found.id if found else None, inputs, config.opening_statement,
                         query, task_id, params, files, now)  # fmt: skip
        ids = await rt.database.write(turn.write)
    log.info(
        "generation started task=%s message=%s conversation=%s app=%s trace_id=%s",
        task_id, ids[0], ids[1], ctx.app_id, params.trace_id,
    )  # fmt: skip
    run = GenerationRun(
        kind=params.kind,
        app_mode=ctx.mode,
        task_id=task_id,
        message_id=ids[0],
        conversation_id=ids[1],
        created_at=ids[2],
    )
    context = await app_context(
        ctx.app_id, ctx.mode, shared_context(app_config), config.model, params.kind, query, inputs
    )  # reads only
    run.retriever_resources = context.resources
    request = ModelRequest(
        messages=_prompt(params.kind, config, inputs, query, history, _images(model, files), context),
        params=dict(config.model.completion_params),
        purpose=params.kind,
    )
    handle = await task_registry().register(task_id, end_user_id, ctx.app_id)
    title_query = query if params.kind == "chat" and is_new and params.auto_generate_name else None
    handle.runner = asyncio.create_task(_drive(runner or run_model, run, model, request, handle, title_query))
    return run


async def _drive(
    runner: Runner, run: GenerationRun, model: ChatModel, request: ModelRequest, handle: TaskHandle,
    title_query: str | None,
) -> None:  # fmt: skip
    await runner(run, model, request, handle, title_query)


def _images(model: ChatModel, files: list[RequestFile]) -> tuple[Any, ...]:
    if not model.supports_vision:
        return ()
    return image_inputs(runtime.current().settings, files)


async def run_model(
    run: GenerationRun, model: ChatModel, request: ModelRequest, handle: TaskHandle, title_query: str | None
) -> None:
    """The default `Runner`: stream the model's answer as `message` events, then store the
    message and end the run (`message_end`, or `error` when the model failed)."""
    started = time.monotonic()
    parts: list[str] = []
    usage: Usage | None = None
    error: ProviderError | ApiError | None = None
    first_token: float | None = None
    title_task = asyncio.create_task(generate_title(model, title_query)) if title_query else None
    checkpoint = AnswerCheckpoint(run.message_id, parts)
    try:
        async with contextlib.aclosing(until_stopped(model.stream(request), handle.stop_event)) as items:
            async for item in items:
                if isinstance(item, TextDelta):
                    if first_token is None:
                        first_token = time.monotonic() - started
                    parts.append(item.text)
                    event = run.envelope("message")
                    event["answer"] = item.text
                    run.emit(event)
                    checkpoint.touch()
                else:
                    usage = item
    except ProviderError as exc:
        error = exc
    except Exception:
        log.exception("model failure in task %s", run.task_id)
        error = ApiError(*INTERNAL_EVENT)
    await checkpoint.close()
    stopped = handle.stopped and error is None
    answer = "".join(parts)
    latency = time.monotonic() - started
    if usage is None:
        usage = Usage(
            prompt_tokens=sum(count_tokens(m.content) + 3 for m in request.messages),
            completion_tokens=len(parts),
        )
    metadata = answer_metadata(usage, latency, first_token)
    metadata["retriever_resources"] = list(run.retriever_resources)
    try:
        title = None
        if title_task is not None:
            with contextlib.suppress(Exception):
                title = await asyncio.wait_for(title_task, TITLE_TIMEOUT)
        await save_answer(run, answer, usage, latency, metadata, error, title)
    except Exception:
        log.exception("could not persist message %s", run.message_id)
        error = error or ApiError(*INTERNAL_EVENT)
    finally:
        if error is not None:
            log.info("generation failed task=%s code=%s", run.task_id, error.code)
        else:
            log.info(
                "generation %s task=%s tokens=%d latency=%.3fs",
                "stopped" if stopped else "finished", run.task_id, usage.total_tokens, latency,
            )  # fmt: skip
        end_run(run, Outcome(answer=answer, metadata=metadata, error=error, stopped=stopped))


async def title_for(model: ChatModel, title_query: str | None) -> str | None:
    """A new conversation's generated name, or None (no query to name it after, the model
    failed, or it took longer than `TITLE_TIMEOUT` seconds)."""
    if not title_query:
        return None
    with contextlib.suppress(Exception):
        return await asyncio.wait_for(generate_title(model, title_query), TITLE_TIMEOUT)
    return None


async def save_answer(
    run: GenerationRun,
    answer: str,
    usage: Usage,
    latency: float,
    metadata: dict[str, Any],
    error: ProviderError | ApiError | None,
    title: str | None,
) -> None:
    """Store a finished generation's answer on its message row (see `complete_message`)."""
    await complete_message(
        run.message_id,
        run.conversation_id,
        task_id=run.task_id,
        answer=answer,
        usage=usage,
        latency=latency,
        metadata=metadata,
        error=None if error is None else error.message,
        title=title,
    )


async def complete_message(
    message_id: str | None,
    conversation_id: str | None,
    *,
    answer: str,
    usage: Usage,
    latency: float,
    metadata: dict[str, Any],
    error: str | None,
    title: str | None,
    task_id: str | None = None,
) -> None:
    """Write a finished turn onto its message row (answer, tokens, latency, metadata; a non-None
    `error` marks the message failed) and give a conversation still called `New conversation`
    its generated `title`; drop the turn's lease (`task_id`) in the same transaction. Every app mode
    that answers in a conversation ends its turn here."""

    # Plain UPDATEs built once (no read first; `updated_at` still moves through its onupdate): on
    # SQLite the ends of a batch's turns go out as one executemany per statement.
    statements: list[Statement] = []
    if message_id is not None:
        params: dict[str, Any] = {
            "b_id": message_id,
            "b_answer": answer,
            "b_message_tokens": usage.prompt_tokens,
            "b_answer_tokens": usage.completion_tokens,
            "b_latency": latency,
            "b_metadata": metadata,
        }
        if error is None:
            statements.append((_COMPLETE_MESSAGE, params))
        else:
            statements.append((_FAIL_MESSAGE, {**params, "b_error": error}))
    if title and conversation_id:
        statements.append((_NAME_CONVERSATION, {"b_id": conversation_id, "b_name": title}))
    if task_id is not None:
        statements.append(leases.drop_statement(task_id))
    await runtime.current().database.write(Statements(statements))
    if task_id is not None:
        _ENDED.add(task_id)


_message_table = Message.metadata.tables[Message.__tablename__]
_conversation_table = Conversation.metadata.tables[Conversation.__tablename__]
_messages = _message_table.c
_conversations = _conversation_table.c
_COMPLETE_MESSAGE = (
    update(_message_table)
    .where(_messages.id == bindparam("b_id"))
    .values(
        answer=bindparam("b_answer"),
        message_tokens=bindparam("b_message_tokens"),
        answer_tokens=bindparam("b_answer_tokens"),
        provider_response_latency=bindparam("b_latency"),
        total_price="0",
        message_metadata=bindparam("b_metadata"),
    )
)
_FAIL_MESSAGE = _COMPLETE_MESSAGE.values(status="error", error=bindparam("b_error"))
_NAME_CONVERSATION = (
    update(_conversation_table)
    .where(_conversations.id == bindparam("b_id"), _conversations.name == NEW_CONVERSATION_NAME)
    .values(name=bindparam("b_name"))
)


def end_run(run: GenerationRun, outcome: Outcome) -> None:
    """The last step of every `Runner`: append the terminal event (`error` when the outcome has
    one, else `message_end` with its metadata), release the task id, settle the outcome."""
    error = outcome.error
    if error is not None:
        event = run.envelope("error")
        event.pop("id", None)
        event.update({"code": error.code, "message": error.message, "status": error.status})
    else:
        event = run.envelope("message_end")
        event["metadata"] = outcome.metadata
        event["files"] = None
    run.emit(event)
    task_registry().unregister(run.task_id)
    _settle_lease(run.task_id)
    if not run.outcome.done():
        run.outcome.set_result(outcome)


_LEASE_DROPS: set[asyncio.Task[None]] = set()
_ENDED: set[str] = set()  # turns whose end was written with their lease dropped


def _settle_lease(task_id: str) -> None:
    """Drop a turn's lease if writing its end did not (that write failed, or the runner never
    got there): a lease this process keeps renewing would never be reaped."""
    if task_id in _ENDED:
        _ENDED.discard(task_id)
        return

    async def drop() -> None:
        try:
            await runtime.current().database.write(lambda session: leases.drop_in(session, task_id))
        except Exception:
            log.exception("could not drop the lease of task %s", task_id)

    task = asyncio.get_running_loop().create_task(drop())
    _LEASE_DROPS.add(task)
    task.add_done_callback(_LEASE_DROPS.discard)


async def stop(ctx: AppScope, user: str, task_id: str) -> None:
    """Stop a running task of this user and this app, on whichever worker runs it; anything
    else is ignored (always success)."""
    end_user = await end_user_for(ctx, user)
    await task_registry().stop(task_id, end_user.id, ctx.app_id)
