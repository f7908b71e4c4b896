"""The builtin model: deterministic, offline, fast; shaped for tests.

The reply is derived from the prompt (it restates the query, names the instructions and the
history length it saw, counts the images) and is streamed one word-token at a time.

Test knobs, from the DSL's `completion_params` or from markers in the query / instructions:

| completion_params        | marker                      | effect                                        |
| ------------------------ | --------------------------- | --------------------------------------------- |
| `token_delay` (s)        | `[[delay:0.05]]`            | sleep between tokens (capped at 1 s)          |
| `reply_tokens` (int)     | `[[tokens:200]]`            | pad the reply to at least this many tokens    |
| `fail` (error code)      | `[[fail:rate_limit_error]]` | raise that provider error before any output   |
| `fail_after` (int)       | `[[fail-after:3:CODE]]`     | raise after that many tokens were streamed    |

JSON answers, from the `completion_params` Dify's LLM node and model settings use: with
`response_format: json_schema` and a `json_schema` parameter (what an LLM node with structured
output sends: `{"name": ..., "schema": {...}}` as JSON text, or the bare schema) the reply is one
JSON object conforming to the schema, built deterministically by `impl.providers.builtin_json`
(strings from the last user message, numbers 0 within their bounds, booleans false, arrays of one
item, enums their first value, every listed property present, nested objects recursively).  With
`response_format: json_object` (or Dify's `JSON`) and no schema the reply is
`{"answer": "<the usual reply>"}`.  JSON replies are never padded by `reply_tokens`; the failure
knobs still apply.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from impl.providers.base import (
    ERRORS_BY_CODE,
    CompletionRequestError,
    ModelRequest,
    PromptMessage,
    StreamItem,
    TextDelta,
    Usage,
)
from impl.providers.builtin_json import instance

MAX_DELAY = 1.0
MAX_TOKENS = 5000
_MARKER = re.compile(r"\[\[(delay|tokens|fail|fail-after):([^\]]*)\]\]")
_WORD = re.compile(r"\S+\s*")


def count_tokens(text: str) -> int:
    """The builtin tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text)


def _strip_markers(text: str) -> str:
    return " ".join(_MARKER.sub(" ", text).split())


def _knobs(request: ModelRequest) -> dict[str, Any]:
    knobs: dict[str, Any] = {}
    params: Mapping[str, Any] = request.params
    for key in ("token_delay", "reply_tokens", "fail", "fail_after"):
        if key in params and params[key] is not None:
            knobs[key] = params[key]
    scanned = [m.content for m in request.messages if m.role in ("system", "user")][-2:]
    for text in scanned:
        for kind, value in _MARKER.findall(text):
            if kind == "delay":
                knobs["token_delay"] = value
            elif kind == "tokens":
                knobs["reply_tokens"] = value
            elif kind == "fail":
                knobs["fail"] = value
            else:
                count, _, code = value.partition(":")
                knobs["fail_after"] = count
                knobs["fail"] = code or "completion_request_error"
    return knobs


def _float(value: Any, default: float, upper: float) -> float:
    try:
        return max(0.0, min(float(value), upper))
    except (TypeError, ValueError):
        return default


def _int(value: Any, default: int, upper: int) -> int:
    try:
        return max(0, min(int(value), upper))
    except (TypeError, ValueError):
        return default


def title_for(query: str) -> str:
    """A short deterministic conversation title from the first query."""
    words = _strip_markers(query).split()
    if not words:
        return "New conversation"
    title = " ".join(words[:6])
    if len(title) > 40:
        title = title[:39].rstrip() + "…"
    return title


def suggestions_for(text: str) -> list[str]:
    """Three deterministic follow-up questions about `text`."""
    words = [w.strip(".,;:!?\"'") for w in _strip_markers(text).split()]
    topic = " ".join(w for w in words[:4] if w) or "this"
    return [
        f"Can you tell me more about {topic}?",
        f"What is an example of {topic}?",
        f"Why does {topic} matter?",
    ]


def _json_schema(params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The schema asked for by `response_format: json_schema` + `json_schema`, if any."""
    fmt = params.get("response_format")
    if isinstance(fmt, Mapping):
        if fmt.get("type") != "json_schema":
            return None
        raw: Any = fmt.get("json_schema")
    elif fmt == "json_schema":
        raw = params.get("json_schema")
    else:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, Mapping):
        return None
    inner = raw.get("schema")
    return inner if isinstance(inner, Mapping) and "name" in raw else raw


def json_mode(params: Mapping[str, Any]) -> bool:
    """Whether the params ask for a JSON object without a schema (Dify's `json_object` / `JSON`)."""
    fmt = params.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else fmt
    return kind in ("json_object", "JSON")


class BuiltinModel:
    """Deterministic offline model with vision (it counts the images it is given)."""

    supports_vision = True
    structured_output = "as-declared"

    def __init__(self, name: str = "builtin-echo") -> None:
        self.name = name

    def _reply(self, request: ModelRequest) -> str:
        messages = request.messages
        users = [m for m in messages if m.role == "user"]
        last: PromptMessage | None = users[-1] if users else None
        if request.purpose == "title":
            return title_for(last.content if last else "")
        if request.purpose == "suggestions":
            return "\n".join(suggestions_for(last.content if last else ""))
        query = _strip_markers(last.content) if last else ""
        if request.purpose in ("chat", "completion"):
            schema = _json_schema(request.params)
            if schema is not None:
                return json.dumps(instance(schema, query), ensure_ascii=False)
        system = " ".join(_strip_markers(m.content) for m in messages if m.role == "system")
        turns = sum(1 for m in messages if m.role == "assistant")
        parts = [f"You said: {query}." if query else "You said nothing."]
        if system:
            words = system.split()
            shown = " ".join(words[:12]) + (" …" if len(words) > 12 else "")
            parts.append(f"My instructions say: {shown.rstrip('.')}.")
        if turns:
            parts.append(f"We have exchanged {turns} earlier message{'s' if turns != 1 else ''}.")
        images = sum(len(m.images) for m in messages)
        if images:
            parts.append(f"I received {images} image{'s' if images != 1 else ''}.")
        parts.append("This reply comes from the builtin model.")
        reply = " ".join(parts)
        if request.purpose in ("chat", "completion") and json_mode(request.params):
            return json.dumps({"answer": reply}, ensure_ascii=False)
        return reply

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        knobs = _knobs(request)
        delay = _float(knobs.get("token_delay"), 0.0, MAX_DELAY)
        fail = knobs.get("fail")
        error_cls = ERRORS_BY_CODE.get(str(fail), CompletionRequestError) if fail else None
        fail_after = _int(knobs.get("fail_after"), 0, MAX_TOKENS) if fail else 0
        tokens = _tokens(self._reply(request))
        want = _int(knobs.get("reply_tokens"), 0, MAX_TOKENS)
        padded = _json_schema(request.params) is None and not json_mode(request.params)
        if request.purpose in ("chat", "completion") and padded and want > len(tokens):
            if tokens and not tokens[-1].endswith(" "):
                tokens[-1] += " "
            tokens.extend(f"word{i} " for i in range(len(tokens), want))
            tokens[-1] = tokens[-1].rstrip()
        prompt_tokens = sum(count_tokens(m.content) + 3 for m in request.messages)
        if error_cls is not None and fail_after == 0:
            raise error_cls(f"The builtin model was asked to fail with {error_cls.code}.")
        sent = 0
        for token in tokens:
            if delay:
                await asyncio.sleep(delay)
            yield TextDelta(token)
            sent += 1
            if error_cls is not None and sent >= fail_after:
                raise error_cls(f"The builtin model failed after {sent} tokens as asked.")
        yield Usage(prompt_tokens=prompt_tokens, completion_tokens=sent)
