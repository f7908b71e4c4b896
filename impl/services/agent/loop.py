"""Agent-chat apps: a function-calling loop over the app's builtin tools.

Each round the model sees the conversation (system prompt, history, query, earlier tool calls and
their results) and the tools; it either answers in text (streamed as `agent_message`) or calls
tools.  A round that calls tools is announced as an `agent_thought` (tool names joined with `;`,
`tool_input` = JSON `{tool: arguments}`), the tools run (a failure becomes the observation),
files they produce are stored and announced as `message_file`, and the same thought is sent again
with its `observation` (JSON `{tool: result}`).  A round that answers ends with an
`agent_thought` carrying the answer text as `thought`.  The DSL's `agent_mode.max_iteration`
(1–99) bounds the rounds that may call tools; one last round without tools makes the model
answer.  Then output moderation / TTS autoplay (`chat_features.finish`) and `message_end`.

`strategy: function_call` uses native tool calls; `strategy: react` gives a remote model a ReAct
prompt instead (`impl.providers.react`).  Thoughts are stored in `agent_thoughts` and listed by
`GET /messages`.  Blocking requests are
refused, as Dify refuses them (also when `response_mode` is absent).  Stop works as for chat:
the run ends with `message_end` carrying what was produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from impl import runtime
from impl.db.chat_extras_models import AgentThoughtRow
from impl.db.models import Message, MessageFile, to_unix, utcnow
from impl.errors import ApiError, invalid_param
from impl.providers import ChatModel, ModelRequest, PromptMessage, ProviderError, TextDelta, Usage
from impl.providers.base import until_stopped
from impl.providers.function_calling import (
    AgentTurn,
    FunctionCallingModel,
    ThoughtText,
    ToolCall,
    ToolCalls,
)
from impl.services.agent import tools as agent_tools
from impl.services.apps.chat_config import load_config
from impl.services.apps.scope import AppScope, tool_model_for
from impl.services.media.files import preview_path, store_upload
from impl.services.runs.checkpoint import AnswerCheckpoint
from impl.services.turns import features as chat_features
from impl.services.turns import generation
from impl.services.turns.generation import GenerateParams, GenerationRun, Outcome, Runner
from impl.tasks import TaskHandle

log = logging.getLogger("impl.agent")

BLOCKING_REFUSED = "Agent Chat App does not support blocking mode"
DEFAULT_MAX_ITERATION = 5
MAX_ITERATION = 99


@dataclass(frozen=True)
class AgentConfig:
    tools: list[agent_tools.ConfiguredTool]
    max_iteration: int = DEFAULT_MAX_ITERATION
    strategy: str = "function_call"


async def agent_config(model_config: Mapping[str, Any] | None) -> AgentConfig:
    """The DSL's `agent_mode`: its tools resolved in the registry, the iteration bound, the
    strategy.  A tool this server cannot resolve is left out (see `agent_tools.configured_tools`)."""
    raw = (model_config or {}).get("agent_mode")
    mode: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    limit = mode.get("max_iteration", DEFAULT_MAX_ITERATION)
    if not isinstance(limit, int) or isinstance(limit, bool):
        limit = DEFAULT_MAX_ITERATION
    tools = await agent_tools.configured_tools(mode)
    tools += await agent_tools.dataset_tools(model_config)
    return AgentConfig(tools, max(1, min(limit, MAX_ITERATION)), str(mode.get("strategy") or "function_call"))


def tool_model(ctx: AppScope, strategy: str = "function_call") -> FunctionCallingModel:
    """The function-calling view of the app's model, on its routed back end.  With the `react`
    strategy a remote model gets a ReAct prompt instead of native tool calls; the builtin model
    calls tools deterministically either way."""
    return tool_model_for(load_config(ctx).model, strategy)


def _turns(messages: Sequence[PromptMessage]) -> list[AgentTurn]:
    return [AgentTurn(m.role, m.content) for m in messages]


@dataclass
class Thought:
    id: str
    position: int
    thought: str = ""
    tool: str = ""
    tool_input: str = ""
    observation: str = ""
    labels: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    created_at: int = 0


@dataclass
class AgentRun:
    """State of one agent answer while it runs."""

    run: GenerationRun
    ctx: AppScope
    config: AgentConfig
    handle: TaskHandle
    end_user_id: str | None
    answer: list[str] = field(default_factory=list)
    said: str = ""  # the current round's ThoughtText (ReAct)
    speaker: chat_features.Speaker | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token: float | None = None
    started: float = field(default_factory=time.monotonic)
    checkpoint: AnswerCheckpoint | None = None  # the answer so far, kept on the message row

    def emit(self, event: dict[str, Any]) -> None:
        self.run.emit(event)

    def thought_event(self, thought: Thought) -> dict[str, Any]:
        event = self.run.envelope("agent_thought")
        event.update(
            {
                "id": thought.id,
                "position": thought.position,
                "thought": thought.thought,
                "observation": thought.observation,
                "tool": thought.tool,
                "tool_labels": thought.labels,
                "tool_input": thought.tool_input,
                "message_files": list(thought.files),
            }
        )
        return event

    async def save(self, thought: Thought) -> None:
        async with runtime.current().database.transaction() as session:
            row = await session.get(AgentThoughtRow, thought.id)
            if row is None:
                row = AgentThoughtRow(
                    id=thought.id, message_id=self.run.message_id, position=thought.position
                )
                session.add(row)
            row.thought = thought.thought
            row.tool = thought.tool
            row.tool_labels = dict(thought.labels)
            row.tool_input = thought.tool_input
            row.observation = thought.observation
            row.files = list(thought.files)

    async def store_file(self, file: agent_tools.ToolFile) -> str:
        """Keep a tool's file as an upload attached to the answer; announce it."""
        settings = runtime.current().settings
        async with runtime.current().database.transaction() as session:
            upload = await store_upload(
                session,
                settings,
                app_id=self.ctx.app_id,
                tenant_id=self.ctx.tenant_id,
                end_user_id=self.end_user_id or "",
                filename=file.filename,
                mime_type=file.mime_type,
                data=file.data,
            )
            row = MessageFile(
                message_id=self.run.message_id,
                type=file.type,
                transfer_method="tool_file",
                upload_file_id=upload.id,
                belongs_to="assistant",
            )
            session.add(row)
            await session.flush()
            file_id, upload_id = row.id, upload.id
        event = self.run.envelope("message_file")
        event.update(
            {"id": file_id, "type": file.type, "belongs_to": "assistant", "url": preview_path(upload_id)}
        )
        self.emit(event)
        return file_id

    async def model_round(
        self, model: FunctionCallingModel, turns: list[AgentTurn], offer: bool
    ) -> ToolCalls | None:
        """One model call; text is streamed as `agent_message`.  None when stopped or answered."""
        params = load_config(self.ctx).model.completion_params
        tools = [c.tool.spec() for c in self.config.tools] if offer else []
        calls: ToolCalls | None = None
        items = until_stopped(model.stream_tools(turns, tools, params), self.handle.stop_event)
        async with contextlib.aclosing(items):
            async for item in items:
                if isinstance(item, TextDelta):
                    if self.first_token is None:
                        self.first_token = time.monotonic() - self.started
                    self.answer.append(item.text)
                    if self.speaker is not None:
                        self.speaker.feed(item.text)
                    event = self.run.envelope("agent_message")
                    event["answer"] = item.text
                    self.emit(event)
                    if self.checkpoint is not None:
                        self.checkpoint.touch()
                elif isinstance(item, ToolCalls):
                    calls = item
                elif isinstance(item, ThoughtText):
                    self.said = item.text
                else:
                    self.prompt_tokens += item.prompt_tokens
                    self.completion_tokens += item.completion_tokens
        return calls

    async def call_tools(self, thought: Thought, calls: Sequence[ToolCall], turns: list[AgentTurn]) -> None:
        observations: dict[str, str] = {}
        for call in calls:
            result = await agent_tools.invoke(self.config.tools, call.name, call.arguments)
            for file in result.files:
                thought.files.append(await self.store_file(file))
            observations[call.name] = result.text
            turns.append(AgentTurn("tool", result.text, tool_call_id=call.id, name=call.name))
        thought.observation = json.dumps(observations, ensure_ascii=False)

    async def loop(self, model: FunctionCallingModel, turns: list[AgentTurn]) -> None:
        for position in range(1, self.config.max_iteration + 2):
            if self.handle.stopped:
                return
            offer = bool(self.config.tools) and position <= self.config.max_iteration
            before = len(self.answer)
            self.said = ""
            calls = await self.model_round(model, turns, offer)
            if self.handle.stop_event.is_set():
                return
            thought = Thought(
                str(uuid.uuid4()),
                position,
                self.said or "".join(self.answer[before:]),
                created_at=to_unix(utcnow()) or 0,
            )
            if calls is None or not calls.calls:
                await self.save(thought)
                self.emit(self.thought_event(thought))
                return
            names = [c.name for c in calls.calls]
            thought.tool = ";".join(names)
            thought.tool_input = json.dumps(
                {c.name: _arguments(c.arguments) for c in calls.calls}, ensure_ascii=False
            )
            thought.labels = {
                n: {"en_US": _label(self.config, n), "zh_Hans": _label(self.config, n)} for n in names
            }
            await self.save(thought)
            self.emit(self.thought_event(thought))
            turns.append(AgentTurn("assistant", thought.thought, tool_calls=calls.calls))
            await self.call_tools(thought, calls.calls, turns)
            await self.save(thought)
            self.emit(self.thought_event(thought))


def _arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _label(config: AgentConfig, name: str) -> str:
    return next((c.label for c in config.tools if c.tool.name == name), name)


def agent_runner(ctx: AppScope, config: AgentConfig, features: chat_features.Features) -> Runner:
    async def run_agent(
        run: GenerationRun,
        model: ChatModel,
        request: ModelRequest,
        handle: TaskHandle,
        title_query: str | None,
    ) -> None:
        async with runtime.current().database.session() as session:
            message = await session.get(Message, run.message_id)
            end_user_id = message.end_user_id if message else None
        state = AgentRun(
            run, ctx, config, handle, end_user_id, speaker=chat_features.speaker_for(run, features)
        )
        state.checkpoint = AnswerCheckpoint(run.message_id, state.answer)
        error: ProviderError | ApiError | None = None
        title_task = asyncio.create_task(generation.title_for(model, title_query))
        try:
            await state.loop(tool_model(ctx, config.strategy), _turns(request.messages))
        except ProviderError as exc:
            error = exc
        except Exception:
            log.exception("agent failure in task %s", run.task_id)
            error = ApiError(*generation.INTERNAL_EVENT)
        await state.checkpoint.close()
        answer = "".join(state.answer)
        if error is None:
            answer = await chat_features.finish(run, answer, features, state.speaker)
        elif state.speaker is not None:
            state.speaker.worker.cancel()
        latency = time.monotonic() - state.started
        usage = Usage(state.prompt_tokens, state.completion_tokens)
        metadata = generation.answer_metadata(usage, latency, state.first_token)
        try:
            title = await title_task
            await generation.save_answer(run, answer, usage, latency, metadata, error, title)
        except Exception:
            log.exception("could not persist agent message %s", run.message_id)
            error = error or ApiError(*generation.INTERNAL_EVENT)
        generation.end_run(run, Outcome(answer, metadata, error, handle.stopped and error is None))

    return run_agent


async def start_agent_chat(ctx: AppScope, user: str, params: GenerateParams) -> GenerationRun:
    if not params.streaming:
        raise invalid_param(BLOCKING_REFUSED)
    features = chat_features.features_of(ctx)
    direct = await chat_features.direct_answer(ctx, params, features)
    if direct is not None:
        runner = chat_features.direct_runner(ctx, direct, features)
    else:
        runner = agent_runner(ctx, await agent_config(ctx.model_config), features)
    return await generation.start(ctx, ctx, user, params, runner=runner)
