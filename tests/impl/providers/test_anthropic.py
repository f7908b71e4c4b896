"""The Anthropic Messages back end against a fake Messages server on loopback: streamed text and
usage, tool use put together from `input_json_delta` fragments, the request shape (top-level
system, `max_tokens`, tool results in user messages) and errors mapped to Dify's codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.fake_anthropic import API_KEY, REPLY, running_fake_anthropic

from impl.providers import (
    AnthropicModel,
    CompletionRequestError,
    ModelCurrentlyNotSupportError,
    ModelRequest,
    PromptMessage,
    ProviderNotInitializeError,
    ProviderQuotaExceededError,
    RateLimitError,
    TextDelta,
    Usage,
    collect,
)
from impl.providers.function_calling import AgentTurn, ToolCalls, ToolSpec


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with running_fake_anthropic({"expression": "6*7"}) as running:
        yield running


def request(text: str = "hi") -> ModelRequest:
    return ModelRequest(
        messages=(PromptMessage("system", "Be brief."), PromptMessage("user", text)),
        params={"temperature": 0.2},
    )


async def test_streams_text_and_usage(fake: tuple[str, list[dict[str, Any]]]) -> None:
    base_url, received = fake
    model = AnthropicModel("ok", base_url, API_KEY)
    items = [item async for item in model.stream(request())]
    assert [i.text for i in items if isinstance(i, TextDelta)] == REPLY
    assert items[-1] == Usage(17, len(REPLY))
    sent = received[-1]
    assert sent["system"] == "Be brief." and sent["messages"] == [{"role": "user", "content": "hi"}]
    assert sent["max_tokens"] == 4096 and sent["temperature"] == 0.2 and sent["stream"] is True


async def test_tool_use_round_trip(fake: tuple[str, list[dict[str, Any]]]) -> None:
    base_url, received = fake
    model = AnthropicModel("tools", base_url, API_KEY)
    spec = ToolSpec(
        "calculator", "arithmetic", {"type": "object", "properties": {"expression": {"type": "string"}}}
    )
    turns = [AgentTurn("system", "Use tools."), AgentTurn("user", "what is 6*7?")]
    first = [i async for i in model.stream_tools(turns, [spec], {"max_tokens": 100})]
    calls = next(i for i in first if isinstance(i, ToolCalls)).calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("toolu_01", "calculator", '{"expression": "6*7"}')
    ]
    assert [i.text for i in first if isinstance(i, TextDelta)] == ["Let me check."]
    assert received[-1]["tools"][0]["input_schema"]["properties"] == {"expression": {"type": "string"}}
    assert received[-1]["max_tokens"] == 100
    turns += [
        AgentTurn("assistant", "Let me check.", tool_calls=calls),
        AgentTurn("tool", "42", tool_call_id="toolu_01"),
    ]
    second = [i async for i in model.stream_tools(turns, [spec], {})]
    assert "".join(i.text for i in second if isinstance(i, TextDelta)) == "The tool said: 42"
    assert not any(isinstance(i, ToolCalls) for i in second)
    sent = received[-1]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01", "name": "calculator", "input": {"expression": "6*7"}},
        ],
    }
    assert sent[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "42"}],
    }


@pytest.mark.parametrize(
    ("model", "key", "error"),
    [
        ("ok", "wrong", ProviderNotInitializeError),
        ("ok", None, ProviderNotInitializeError),
        ("rate-limited", API_KEY, RateLimitError),
        ("credit", API_KEY, ProviderQuotaExceededError),
        ("missing", API_KEY, ModelCurrentlyNotSupportError),
        ("overloaded", API_KEY, CompletionRequestError),
        ("cut", API_KEY, CompletionRequestError),
        ("stream-error", API_KEY, CompletionRequestError),
    ],
)
async def test_errors_map_to_dify_codes(
    fake: tuple[str, list[dict[str, Any]]], model: str, key: str | None, error: type[Exception]
) -> None:
    base_url, _ = fake
    with pytest.raises(error):
        await collect(AnthropicModel(model, base_url, key), request())


async def test_unreachable_endpoint_is_a_request_error() -> None:
    with pytest.raises(CompletionRequestError, match="connection failed"):
        await collect(AnthropicModel("ok", "http://127.0.0.1:9", API_KEY, timeout=2), request())


async def test_response_format_is_difys_code_block_mode(fake: tuple[str, list[dict[str, Any]]]) -> None:
    """Dify's Anthropic runtime (`_transform_chat_json_prompts`): the system prompt asks for one
    fenced block around the app's instructions, the assistant turn opens the fence and the
    closing fence is a stop sequence; `response_format` itself is not sent."""
    base_url, received = fake
    model = AnthropicModel("ok", base_url, API_KEY)
    assert model.json_response_format == "JSON"
    asked = ModelRequest(
        messages=(PromptMessage("system", "Be brief."), PromptMessage("user", "hi")),
        params={"response_format": "JSON", "stop": ["END"]},
    )
    await collect(model, asked)
    sent = received[-1]
    assert "Be brief." in sent["system"] and "JSON" in sent["system"] and sent["system"] != "Be brief."
    assert sent["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "\n```JSON"},
    ]
    assert sent["stop_sequences"] == ["END", "```\n", "\n```"] and "response_format" not in sent
    await collect(
        model, ModelRequest(messages=(PromptMessage("user", "hi"),), params={"response_format": "XML"})
    )
    assert "Please output a valid XML object." in received[-1]["system"]
