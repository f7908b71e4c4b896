"""Chat features around the model: annotation replies, keyword moderation, TTS autoplay.

`start_chat` is the starter of chat and completion apps (listed in
`impl.services.starters`), and the agent-chat starter uses the same pieces:

* before the model: a query (or input) with a sensitive keyword is answered with the preset
  (input moderation); otherwise a query matching an annotation is answered with the annotation
  (`metadata.annotation_reply`, hit recorded).  Both stream `message` then `message_end`.
* while and after the model: with TTS autoplay on, `Speaker` speaks each finished sentence as
  `tts_message` chunks while the answer streams; `finish` replaces a flagged answer
  (`message_replace`, output moderation; then the final answer is spoken at the end instead) and
  sends `tts_message_end`, all before the terminal `message_end` (DEVIATIONS D5).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from impl import runtime
from impl.db.models import Message
from impl.errors import ApiError
from impl.providers import ChatModel, ModelRequest, Usage
from impl.services.annotations import reply
from impl.services.apps.scope import AppScope
from impl.services.apps.store import shared_context
from impl.services.media import text_to_speech
from impl.services.runs.event_log import EventLog
from impl.services.turns import generation, moderation
from impl.services.turns.generation import GenerateParams, GenerationRun, Outcome, Runner
from impl.tasks import TaskHandle

log = logging.getLogger("impl.chat_features")
TTS_CHUNK = 12 * 1024


@dataclass(frozen=True)
class Features:
    moderation: moderation.KeywordModeration
    tts: text_to_speech.TtsConfig

    @property
    def after_answer(self) -> bool:
        return self.moderation.outputs_enabled or (self.tts.enabled and self.tts.autoplay)


@dataclass(frozen=True)
class DirectAnswer:
    answer: str
    metadata: dict[str, Any]
    query: str = ""
    hit: reply.Hit | None = None


def features_of(ctx: AppScope) -> Features:
    features = shared_context(ctx).features  # read only: no copy
    return Features(moderation.keyword_moderation(features), text_to_speech.tts_config(features))


async def direct_answer(ctx: AppScope, params: GenerateParams, features: Features) -> DirectAnswer | None:
    """The answer given without the model (moderation preset, then annotation), if any."""
    query = params.query.replace("\x00", "")
    preset = moderation.check_inputs(features.moderation, query, params.inputs)
    if preset is not None:
        return DirectAnswer(preset, {}, query)
    if params.kind == "completion" or (params.conversation_id is None and not query.strip()):
        return None
    hit = await reply.match(ctx, query)
    if hit is not None:
        return DirectAnswer(hit.answer, {"annotation_reply": hit.metadata()}, query, hit)
    return None


def _event(run: GenerationRun, name: str, **fields: Any) -> dict[str, Any]:
    event = run.envelope(name)
    event.pop("id", None)
    event.update(fields)
    return event


def _speech_events(run: GenerationRun, audio: bytes) -> None:
    for start in range(0, len(audio), TTS_CHUNK):
        chunk = base64.b64encode(audio[start : start + TTS_CHUNK]).decode("ascii")
        run.emit(_event(run, "tts_message", audio=chunk))


async def _speak(run: GenerationRun, text: str, config: text_to_speech.TtsConfig) -> None:
    if not text.strip():
        return
    try:
        audio, _media = await text_to_speech.synthesize(text, None, config)
    except Exception as exc:  # speech is a bonus: the answer still ends normally
        log.warning("TTS autoplay failed for task %s: %s", run.task_id, exc)
        return
    _speech_events(run, audio)


class Speaker:
    """TTS autoplay while the answer streams: each finished sentence (at least `MIN_SENTENCE`
    characters) is synthesised in order by one worker and sent as `tts_message` chunks between
    the answer's events.  MP3 segments concatenate into a playable stream; `close` speaks the
    rest and waits.  Used only when the answer cannot be replaced afterwards (no output
    moderation) and the audio is MP3."""

    MIN_SENTENCE = 24
    _END = re.compile(r"[.!?。！？\n](?=\s|$)")

    def __init__(self, run: GenerationRun, config: text_to_speech.TtsConfig) -> None:
        self.run = run
        self.config = config
        self.pending = ""
        self.segments: asyncio.Queue[str | None] = asyncio.Queue()
        self.worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        while (segment := await self.segments.get()) is not None:
            await _speak(self.run, segment, self.config)

    def feed(self, text: str) -> None:
        self.pending += text
        while True:
            cut = next(
                (m.end() for m in self._END.finditer(self.pending) if m.end() >= self.MIN_SENTENCE), None
            )
            if cut is None:
                return
            self.segments.put_nowait(self.pending[:cut])
            self.pending = self.pending[cut:]

    async def close(self) -> None:
        self.segments.put_nowait(self.pending)
        self.segments.put_nowait(None)
        self.pending = ""
        await self.worker


def speaker_for(run: GenerationRun, features: Features) -> Speaker | None:
    """A streaming speaker when autoplay is on, nothing can replace the answer afterwards, and the
    audio is MP3 (WAV files do not concatenate)."""
    config = features.tts
    if not (config.enabled and config.autoplay) or features.moderation.outputs_enabled:
        return None
    if config.provider != "openai-compatible" and not text_to_speech.mp3_available():
        return None
    return Speaker(run, config)


async def finish(run: GenerationRun, answer: str, features: Features, speaker: Speaker | None = None) -> str:
    """Output moderation and TTS autoplay; returns the answer to keep."""
    replaced = moderation.check_output(features.moderation, answer)
    if replaced is not None:
        run.emit(_event(run, "message_replace", answer=replaced, reason="output_moderation"))
        answer = replaced
    if features.tts.enabled and features.tts.autoplay:
        if speaker is not None:
            await speaker.close()
        else:
            await _speak(run, answer, features.tts)
        run.emit(_event(run, "tts_message_end", audio=""))
    return answer


async def store_answer(message_id: str, answer: str) -> None:
    async with runtime.current().database.transaction() as session:
        row = await session.get(Message, message_id)
        if row is not None:
            row.answer = answer


def direct_runner(ctx: AppScope, direct: DirectAnswer, features: Features) -> Runner:
    """Stream a ready answer as one `message`, then `message_end`, without calling the model."""

    async def run_direct(
        run: GenerationRun,
        model: ChatModel,
        _request: ModelRequest,
        handle: TaskHandle,
        title_query: str | None,
    ) -> None:
        started = time.monotonic()
        answer = direct.answer
        metadata: dict[str, Any] = {}
        error: ApiError | None = None
        try:
            run.emit(_event(run, "message", id=run.message_id, answer=answer))
            tts_only = Features(moderation.KeywordModeration(), features.tts)
            answer = await finish(run, answer, tts_only)
            latency = time.monotonic() - started
            metadata = {**generation.answer_metadata(Usage(0, 0), latency), **direct.metadata}
            title = await generation.title_for(model, title_query)
            await generation.save_answer(run, answer, Usage(0, 0), latency, metadata, None, title)
            if direct.hit is not None:
                await reply.record_hit(ctx, direct.hit, run.message_id, direct.query)
        except Exception:
            log.exception("direct answer of task %s failed", run.task_id)
            error = ApiError(*generation.INTERNAL_EVENT)
        finally:
            generation.end_run(run, Outcome(answer=answer, metadata=metadata, error=error))

    return run_direct


def finishing_runner(features: Features) -> Runner:
    """The default model run, with `finish` applied before its terminal `message_end`."""

    async def run_and_finish(
        run: GenerationRun,
        model: ChatModel,
        request: ModelRequest,
        handle: TaskHandle,
        title_query: str | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        inner = dataclasses.replace(run, log=EventLog(keep=False), outcome=loop.create_future())
        task = asyncio.create_task(generation.run_model(inner, model, request, handle, title_query))
        speaker = speaker_for(run, features)
        try:
            async for event in inner.events():
                name = event.get("event")
                if name == "message" and speaker is not None:
                    speaker.feed(str(event.get("answer") or ""))
                if name == "message_end":
                    outcome = await asyncio.shield(inner.outcome)
                    answer = await finish(run, outcome.answer, features, speaker)
                    if answer != outcome.answer:
                        await store_answer(run.message_id, answer)
                    run.emit(event)
                    run.outcome.set_result(dataclasses.replace(outcome, answer=answer))
                    break
                run.emit(event)
                if name == "error":
                    run.outcome.set_result(await asyncio.shield(inner.outcome))
                    break
        finally:
            if speaker is not None and not speaker.worker.done():
                speaker.worker.cancel()
            await task
            if not run.outcome.done():
                run.outcome.set_result(await inner.outcome)

    return run_and_finish


async def start_chat(ctx: AppScope, user: str, params: GenerateParams) -> GenerationRun:
    features = features_of(ctx)
    direct = await direct_answer(ctx, params, features)
    runner: Runner | None = None
    if direct is not None:
        runner = direct_runner(ctx, direct, features)
    elif features.after_answer:
        runner = finishing_runner(features)
    return await generation.start(ctx, ctx, user, params, runner=runner)
