"""What every LLM back end offers the services: typed requests, streamed deltas, usage, errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")

Role = Literal["system", "user", "assistant"]
Purpose = Literal["chat", "completion", "title", "suggestions"]


@dataclass(frozen=True)
class ImageInput:
    """An image handed to a vision-capable model: an https URL or a `data:` URL."""

    url: str
    detail: str = "high"


@dataclass(frozen=True)
class PromptMessage:
    role: Role
    content: str
    images: tuple[ImageInput, ...] = ()


@dataclass(frozen=True)
class ModelRequest:
    messages: tuple[PromptMessage, ...]
    # The DSL's `completion_params` (temperature, max_tokens, … and builtin test knobs).
    params: Mapping[str, Any] = field(default_factory=dict)
    # What the call is for; a real model only sees the prompt, the builtin one answers by purpose.
    purpose: Purpose = "chat"


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


StreamItem = TextDelta | Usage


# How a model takes the JSON schema of an LLM node's structured output (Dify decides by the
# model's `support_structure_output`): "native" in the `json_schema` model parameter prepared as
# Dify prepares it for such models (boolean types asked as strings), "as-declared" in that
# parameter unchanged (the builtin model), "prompt" as an instruction in the system prompt.
# A model without a `structured_output` attribute is "prompt".
StructuredOutputMode = Literal["native", "as-declared", "prompt"]


def structured_output_mode(model: object) -> StructuredOutputMode:
    mode = getattr(model, "structured_output", "prompt")
    if mode == "native":
        return "native"
    return "as-declared" if mode == "as-declared" else "prompt"


@runtime_checkable
class ChatModel(Protocol):
    """A chat model. `stream` yields text deltas and ends with exactly one `Usage`."""

    name: str
    supports_vision: bool

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]: ...


@dataclass(frozen=True)
class ModelConfig:
    """The model section of an app's DSL, plus connection details for remote providers."""

    provider: str = "builtin"
    name: str = "builtin-echo"
    mode: str = "chat"
    completion_params: Mapping[str, Any] = field(default_factory=dict)
    base_url: str | None = None
    api_key: str | None = None
    vision: bool | None = None
    timeout: float = 60.0


# --- errors --------------------------------------------------------------------------------


class ProviderError(Exception):
    """A model invocation failure, carrying the Dify error code and HTTP status it maps to."""

    code = "completion_request_error"
    status = 400
    default_message = "Model invocation failed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message else self.default_message
        super().__init__(self.message)


class ProviderNotInitializeError(ProviderError):
    code = "provider_not_initialize"
    default_message = "Provider credentials are missing or invalid."


class ProviderQuotaExceededError(ProviderError):
    code = "provider_quota_exceeded"
    default_message = (
        "Your quota for the model provider has been exhausted. Please complete your own provider credentials."
    )


class ModelCurrentlyNotSupportError(ProviderError):
    code = "model_currently_not_support"
    default_message = "The configured model is not currently supported."


class CompletionRequestError(ProviderError):
    code = "completion_request_error"


class RateLimitError(ProviderError):
    code = "rate_limit_error"
    status = 429
    default_message = "Rate Limit Error"


ERRORS_BY_CODE: dict[str, type[ProviderError]] = {
    cls.code: cls
    for cls in (
        ProviderNotInitializeError,
        ProviderQuotaExceededError,
        ModelCurrentlyNotSupportError,
        CompletionRequestError,
        RateLimitError,
    )
}


async def collect(model: ChatModel, request: ModelRequest) -> tuple[str, Usage]:
    """Run a model to the end and return the whole text and its usage."""
    parts: list[str] = []
    usage = Usage(0, 0)
    async for item in model.stream(request):
        if isinstance(item, TextDelta):
            parts.append(item.text)
        else:
            usage = item
    return "".join(parts), usage


# Items a stream may hand over in a row before the loop gets a turn (see `until_stopped`).
YIELD_EVERY = 16


async def until_stopped(
    stream: AsyncIterable[T], stop: asyncio.Event, on_stop: Callable[[], None] | None = None
) -> AsyncGenerator[T, None]:
    """The stream's items until it ends or `stop` is set, whichever comes first: a read still
    pending when `stop` is set is cancelled, and the stream is closed either way.  On stop,
    `on_stop` (if given) is called before the end; an exception it raises ends the iteration.
    Errors of the stream itself pass through.  Iterate it under `contextlib.aclosing`.

    The stream is read in the consumer's own task (no task per item): one watcher per stream
    cancels that task when `stop` is set while a read is pending, and the cancellation is
    taken back here (as `asyncio.timeout` does), so the consumer itself goes on; a cancellation
    from elsewhere still goes through.  The loop gets a turn at least every `YIELD_EVERY` items,
    so a stream that never waits (a fast model) still sees a stop set by another task; a stream
    that waits for its items (a model on the network, a paced one) gives the loop its turns
    anyway, and a turn per item cost it a sixth of its CPU under a thousand streams."""
    iterator = stream.__aiter__()
    task = asyncio.current_task()
    assert task is not None
    state = _StopWatch(task)
    count = 0
    watcher = asyncio.ensure_future(stop.wait())
    watcher.add_done_callback(state.on_stop)
    try:
        while True:
            if stop.is_set():
                if on_stop is not None:
                    on_stop()
                return
            state.reading = True
            try:
                item = await anext(iterator)
            except StopAsyncIteration:
                if state.cancelled:  # ended as the stop landed (the stream took the cancel)
                    state.cancelled = False
                    if task.uncancel() > 0:
                        raise asyncio.CancelledError from None
                return
            except BaseException:
                # The read cancelled by the stop ends the stream, whatever the stream made of the
                # cancellation (a client library may turn it into an error of its own).
                if not state.cancelled:
                    raise
                state.cancelled = False
                if task.uncancel() > 0:
                    raise  # cancelled from elsewhere too
                if on_stop is not None:
                    on_stop()
                return
            finally:
                state.reading = False
            if state.cancelled:  # the stop landed as the read completed: take it back
                state.cancelled = False
                if task.uncancel() > 0:
                    raise asyncio.CancelledError
                continue  # `stop` is set: ends above
            yield item
            count += 1
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)
    finally:
        watcher.remove_done_callback(state.on_stop)
        watcher.cancel()
        with contextlib.suppress(BaseException):
            await iterator.aclose()  # type: ignore[attr-defined]


class _StopWatch:
    """`until_stopped`'s link from the stop event to the consumer's task."""

    __slots__ = ("cancelled", "reading", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.reading = False
        self.cancelled = False

    def on_stop(self, watcher: asyncio.Future[Any]) -> None:
        if self.reading and not watcher.cancelled() and not self.cancelled:
            self.cancelled = True
            self.task.cancel()
