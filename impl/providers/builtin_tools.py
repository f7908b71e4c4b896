"""The builtin model's function calling: deterministic, offline, shaped so tests reach every path.

While the current query has no tool result yet and tools are offered, it calls one tool, chosen
by the first rule that applies:

1. a marker `[[tool:NAME]]` or `[[tool:NAME {"arg": ...}]]` in the query: that tool (any name,
   also one that does not exist, to test that path);
2. a tool whose name appears in the query;
3. an arithmetic expression (`12 * (3 + 4)`) and a `calculator` tool: the calculator;
4. an `http(s)://` URL and an `http_get` tool: fetch it;
5. the words time/date/clock/today and a `current_time` tool: the clock;
6. the words image/picture/draw and a `solid_image` tool: draw one.

With `[[tools-forever]]` in the query it calls a tool in every turn that offers tools (to test
the iteration limit).  Once tool results are present (or nothing applies) it answers in text,
quoting the results.  `[[fail:CODE]]` raises that provider error; `[[delay:S]]` sleeps between
streamed words.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from impl.providers.base import ERRORS_BY_CODE, CompletionRequestError, TextDelta, Usage
from impl.providers.builtin import count_tokens
from impl.providers.function_calling import AgentItem, AgentTurn, ToolCall, ToolCalls, ToolSpec

_TOOL_MARKER = re.compile(r"\[\[tool:([A-Za-z0-9_.-]+)\s*(\{.*?\})?\]\]")
_FAIL = re.compile(r"\[\[fail:([a-z_]+)\]\]")
_DELAY = re.compile(r"\[\[delay:([0-9.]+)\]\]")
_FOREVER = "[[tools-forever]]"
_ANY_MARKER = re.compile(r"\[\[[^\]]*\]\]")
_ARITHMETIC = re.compile(r"[-+(]*\s*\d+(?:\.\d+)?(?:\s*(?:\*\*|//|[-+*/%^])\s*[-+(]*\s*\d+(?:\.\d+)?\s*\)*)+")
_URL = re.compile(r"https?://[^\s\"'<>\]]+")
_WORD = re.compile(r"\S+\s*")
_TIME_WORDS = re.compile(r"\b(time|date|clock|today)\b", re.IGNORECASE)
_IMAGE_WORDS = re.compile(r"\b(image|picture|draw)\b", re.IGNORECASE)
MAX_DELAY = 1.0


def _current_query(turns: Sequence[AgentTurn]) -> tuple[str, list[AgentTurn]]:
    """The last user message and the tool results that follow it."""
    for i in range(len(turns) - 1, -1, -1):
        if turns[i].role == "user":
            return turns[i].content, [t for t in turns[i + 1 :] if t.role == "tool"]
    return "", []


def _choose(query: str, tools: Sequence[ToolSpec], call_number: int) -> ToolCall | None:
    names = {t.name for t in tools}
    marker = _TOOL_MARKER.search(query)
    if marker:
        return ToolCall(f"call_{call_number}", marker.group(1), marker.group(2) or "{}")
    plain = _ANY_MARKER.sub(" ", query)
    for name in sorted(names, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name)}\b", plain):
            return ToolCall(f"call_{call_number}", name, json.dumps(_default_args(name, plain)))
    expression = _ARITHMETIC.search(plain)
    if expression and "calculator" in names:
        args = {"expression": expression.group(0).strip()}
        return ToolCall(f"call_{call_number}", "calculator", json.dumps(args))
    url = _URL.search(plain)
    if url and "http_get" in names:
        return ToolCall(f"call_{call_number}", "http_get", json.dumps({"url": url.group(0)}))
    if _TIME_WORDS.search(plain) and "current_time" in names:
        return ToolCall(f"call_{call_number}", "current_time", "{}")
    if _IMAGE_WORDS.search(plain) and "solid_image" in names:
        return ToolCall(f"call_{call_number}", "solid_image", "{}")
    return None


def _default_args(name: str, text: str) -> dict[str, Any]:
    if name == "calculator":
        found = _ARITHMETIC.search(text)
        return {"expression": found.group(0).strip() if found else "0"}
    if name == "http_get":
        url = _URL.search(text)
        return {"url": url.group(0) if url else ""}
    return {}


def _answer(query: str, results: list[AgentTurn]) -> str:
    if results:
        quoted = " ".join(f"The {r.name or 'tool'} tool returned: {r.content.strip()}." for r in results)
        return f"{quoted} That answers your question."
    shown = " ".join(_ANY_MARKER.sub(" ", query).split())
    return f"You said: {shown}. This reply comes from the builtin agent."


class BuiltinToolModel:
    """Deterministic function calling for the builtin provider."""

    def __init__(self, name: str = "builtin-echo") -> None:
        self.name = name

    async def stream_tools(
        self, turns: Sequence[AgentTurn], tools: Sequence[ToolSpec], params: Mapping[str, Any]
    ) -> AsyncIterator[AgentItem]:
        query, results = _current_query(turns)
        failure = _FAIL.search(query)
        if failure:
            error_cls = ERRORS_BY_CODE.get(failure.group(1), CompletionRequestError)
            raise error_cls(f"The builtin model was asked to fail with {error_cls.code}.")
        delay_marker = _DELAY.search(query)
        delay = min(float(delay_marker.group(1)), MAX_DELAY) if delay_marker else 0.0
        prompt_tokens = sum(count_tokens(t.content) + 3 for t in turns)
        if tools and (not results or _FOREVER in query):
            call = _choose(query, tools, len(results) + 1)
            if call is None and _FOREVER in query:
                call = ToolCall(f"call_{len(results) + 1}", tools[0].name, "{}")
            if call is not None:
                if delay:
                    await asyncio.sleep(delay)
                yield ToolCalls((call,))
                yield Usage(prompt_tokens=prompt_tokens, completion_tokens=count_tokens(call.arguments) + 1)
                return
        sent = 0
        for token in _WORD.findall(_answer(query, results)):
            if delay:
                await asyncio.sleep(delay)
            yield TextDelta(token)
            sent += 1
        yield Usage(prompt_tokens=prompt_tokens, completion_tokens=sent)
