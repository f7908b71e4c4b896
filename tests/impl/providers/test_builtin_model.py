from __future__ import annotations

import json
import time

import pytest

from impl.providers import (
    BuiltinModel,
    ImageInput,
    ModelRequest,
    PromptMessage,
    RateLimitError,
    TextDelta,
    Usage,
    collect,
)
from impl.providers.builtin import suggestions_for, title_for


def req(query: str, **params: object) -> ModelRequest:
    return ModelRequest(
        messages=(PromptMessage("system", "You are a pirate."), PromptMessage("user", query)), params=params
    )


async def test_reply_is_deterministic_and_derived_from_prompt() -> None:
    first, usage = await collect(BuiltinModel(), req("What is the tide?"))
    second, _ = await collect(BuiltinModel(), req("What is the tide?"))
    assert first == second
    assert "What is the tide?" in first and "You are a pirate." in first
    assert usage.completion_tokens == len(first.split())
    system_words, query_words = 4, 4
    assert usage.prompt_tokens == system_words + query_words + 6


async def test_streams_one_token_per_word_and_ends_with_usage() -> None:
    items = [i async for i in BuiltinModel().stream(req("hello there", reply_tokens=40))]
    deltas = [i for i in items if isinstance(i, TextDelta)]
    assert len(deltas) == 40
    assert isinstance(items[-1], Usage) and items[-1].completion_tokens == 40
    assert all(not isinstance(i, Usage) for i in items[:-1])


async def test_history_and_images_change_the_reply() -> None:
    request = ModelRequest(
        messages=(
            PromptMessage("user", "one"),
            PromptMessage("assistant", "ok"),
            PromptMessage("user", "two", (ImageInput("https://x/img.png"),)),
        )
    )
    text, _ = await collect(BuiltinModel(), request)
    assert "1 earlier message" in text and "1 image" in text


async def test_delay_marker_slows_the_stream() -> None:
    start = time.monotonic()
    text, usage = await collect(BuiltinModel(), req("slow [[delay:0.01]] [[tokens:20]]"))
    assert time.monotonic() - start >= 0.18
    assert usage.completion_tokens == 20 and "[[" not in text


async def test_fail_before_output() -> None:
    with pytest.raises(RateLimitError):
        await collect(BuiltinModel(), req("x", fail="rate_limit_error"))


async def test_fail_after_some_tokens() -> None:
    seen = []
    with pytest.raises(Exception) as info:
        async for item in BuiltinModel().stream(req("x [[fail-after:3:completion_request_error]]")):
            seen.append(item)
    assert len(seen) == 3 and getattr(info.value, "code", None) == "completion_request_error"


async def test_title_and_suggestions() -> None:
    assert title_for("How do I reset my router at home quickly") == "How do I reset my router"
    assert title_for("   ") == "New conversation"
    text, _ = await collect(
        BuiltinModel(), ModelRequest((PromptMessage("user", "Tell me about whales"),), purpose="title")
    )
    assert text == "Tell me about whales"
    assert suggestions_for("Tell me about whales")[0] == "Can you tell me more about Tell me about whales?"
    assert len(suggestions_for("")) == 3


async def test_json_schema_answers_conform_and_stream() -> None:
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}
    wrapped = json.dumps({"name": "llm_response", "schema": schema})
    text, usage = await collect(
        BuiltinModel(), req("rivers", response_format="json_schema", json_schema=wrapped)
    )
    assert json.loads(text) == {"tags": ["rivers"]} and usage.completion_tokens == len(text.split())
    # the bare schema (as a DSL's own `json_schema` parameter holds it) and the OpenAI object form
    bare, _ = await collect(BuiltinModel(), req("rivers", response_format="json_schema", json_schema=schema))
    typed = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert bare == text == (await collect(BuiltinModel(), req("rivers", response_format=typed)))[0]
    # JSON replies are not padded, the failure knobs still apply
    padded, _ = await collect(
        BuiltinModel(), req("rivers [[tokens:50]]", response_format="json_schema", json_schema=wrapped)
    )
    assert json.loads(padded) == {"tags": ["rivers"]}
    with pytest.raises(RateLimitError):
        await collect(
            BuiltinModel(),
            req("x [[fail:rate_limit_error]]", response_format="json_schema", json_schema=wrapped),
        )


async def test_json_mode_answers_an_object() -> None:
    for fmt in ("json_object", "JSON", {"type": "json_object"}):
        text, _ = await collect(BuiltinModel(), req("What is the tide?", response_format=fmt))
        assert json.loads(text)["answer"].startswith("You said: What is the tide?.")
    plain, _ = await collect(BuiltinModel(), req("What is the tide?", response_format="text"))
    assert plain.startswith("You said:")
