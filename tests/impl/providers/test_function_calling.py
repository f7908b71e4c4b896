"""Function calling: the builtin deterministic tool caller and the OpenAI-compatible client
(tool-call fragments put together, payload shape, error mapping) against a fake server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fake_openai_extras import API_KEY, running_fake_openai_extras

from impl.providers import ProviderNotInitializeError, RateLimitError, TextDelta, Usage
from impl.providers.base import CompletionRequestError
from impl.providers.builtin_tools import BuiltinToolModel
from impl.providers.function_calling import AgentItem, AgentTurn, ToolCall, ToolCalls, ToolSpec
from impl.providers.openai_tools import OpenAIToolModel, turn_json

TOOLS = [
    ToolSpec("current_time", "clock"),
    ToolSpec("calculator", "math", {"type": "object", "properties": {"expression": {"type": "string"}}}),
    ToolSpec("http_get", "fetch"),
    ToolSpec("solid_image", "draw"),
]


async def _collect(model: Any, turns: list[AgentTurn], tools: list[ToolSpec] = TOOLS) -> list[AgentItem]:
    return [item async for item in model.stream_tools(turns, tools, {})]


def _calls(items: list[AgentItem]) -> list[ToolCall]:
    found = [i for i in items if isinstance(i, ToolCalls)]
    return list(found[0].calls) if found else []


def _text(items: list[AgentItem]) -> str:
    return "".join(i.text for i in items if isinstance(i, TextDelta))


@pytest.mark.parametrize(
    ("query", "name", "arguments"),
    [
        ("what is 3 + 4 * 2?", "calculator", {"expression": "3 + 4 * 2"}),
        (
            "please fetch https://example.com/page?x=1 now",
            "http_get",
            {"url": "https://example.com/page?x=1"},
        ),
        ("What time is it?", "current_time", {}),
        ("draw a picture", "solid_image", {}),
        ("use calculator on 2*3", "calculator", {"expression": "2*3"}),
        ('[[tool:http_get {"url": "http://x.test/"}]]', "http_get", {"url": "http://x.test/"}),
        ("[[tool:ghost]]", "ghost", {}),
    ],
)
async def test_builtin_chooses_a_tool(query: str, name: str, arguments: dict[str, Any]) -> None:
    items = await _collect(BuiltinToolModel(), [AgentTurn("system", "be brief"), AgentTurn("user", query)])
    (call,) = _calls(items)
    assert call.name == name and json.loads(call.arguments) == arguments
    assert isinstance(items[-1], Usage) and _text(items) == ""


async def test_builtin_answers_from_results_and_without_tools() -> None:
    turns = [
        AgentTurn("user", "what is 6*7"),
        AgentTurn("assistant", "", tool_calls=(ToolCall("call_1", "calculator", '{"expression": "6*7"}'),)),
        AgentTurn("tool", "42", tool_call_id="call_1", name="calculator"),
    ]
    items = await _collect(BuiltinToolModel(), turns)
    assert (
        _calls(items) == []
        and _text(items) == "The calculator tool returned: 42. That answers your question."
    )
    plain = await _collect(BuiltinToolModel(), [AgentTurn("user", "hello there")])
    assert _text(plain) == "You said: hello there. This reply comes from the builtin agent."
    no_tools = await _collect(BuiltinToolModel(), [AgentTurn("user", "what is 6*7")], [])
    assert _calls(no_tools) == [] and "6*7" in _text(no_tools)


async def test_builtin_forever_and_failure() -> None:
    turns = [
        AgentTurn("user", "[[tools-forever]] go"),
        AgentTurn("tool", "x", tool_call_id="call_1", name="current_time"),
    ]
    assert _calls(await _collect(BuiltinToolModel(), turns))[0].name == "current_time"
    with pytest.raises(RateLimitError):
        await _collect(BuiltinToolModel(), [AgentTurn("user", "[[fail:rate_limit_error]]")])


def test_turn_json_shapes() -> None:
    call = ToolCall("c9", "calculator", '{"expression": "1+1"}')
    assert turn_json(AgentTurn("assistant", "", tool_calls=(call,))) == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c9", "type": "function", "function": {"name": "calculator", "arguments": call.arguments}}
        ],
    }
    assert turn_json(AgentTurn("tool", "2", tool_call_id="c9")) == {
        "role": "tool",
        "tool_call_id": "c9",
        "content": "2",
    }
    assert turn_json(AgentTurn("user", "hi")) == {"role": "user", "content": "hi"}


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with running_fake_openai_extras() as running:
        yield running


async def test_openai_tool_calls_are_assembled(fake: tuple[str, list[dict[str, Any]]]) -> None:
    base, received = fake
    model = OpenAIToolModel("gpt-test", base, API_KEY)
    items = await _collect(model, [AgentTurn("user", "use the calculator")])
    (call,) = _calls(items)
    assert call == ToolCall("call_1", "calculator", '{"expression": "6*7"}')
    assert items[-1] == Usage(20, 7)
    payload = received[-1]
    assert payload["stream"] is True and payload["model"] == "gpt-test"
    assert [t["function"]["name"] for t in payload["tools"]] == [t.name for t in TOOLS]
    assert payload["tools"][1]["function"]["parameters"]["properties"] == {"expression": {"type": "string"}}

    answer = await _collect(
        model,
        [
            AgentTurn("user", "x"),
            AgentTurn("assistant", "", tool_calls=(call,)),
            AgentTurn("tool", "42", tool_call_id="call_1"),
        ],
    )
    assert _text(answer) == "The tool said: 42." and _calls(answer) == []
    assert "tools" in received[-1]
    plain = await _collect(model, [AgentTurn("user", "no tools")], [])
    assert "tools" not in received[-1] and _text(plain) == "The tool said: nothing."


async def test_openai_tool_errors(fake: tuple[str, list[dict[str, Any]]]) -> None:
    base, _received = fake
    with pytest.raises(ProviderNotInitializeError):
        await _collect(OpenAIToolModel("m", base, "sk-wrong"), [AgentTurn("user", "x")])
    with pytest.raises(ProviderNotInitializeError):
        await _collect(OpenAIToolModel("m", base, None), [AgentTurn("user", "x")])
    with pytest.raises(CompletionRequestError, match="connection failed"):
        await _collect(
            OpenAIToolModel("m", "http://127.0.0.1:9/v1", API_KEY, timeout=2), [AgentTurn("user", "x")]
        )

    def cut(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'data: {"choices": [{"delta": {"content": "half"}}]}\n\n')

    with pytest.raises(CompletionRequestError, match="closed the stream"):
        await _collect(
            OpenAIToolModel("m", "http://fake/v1", API_KEY, transport=httpx.MockTransport(cut)),
            [AgentTurn("user", "x")],
        )
