"""ReAct over a plain chat model: prompt building, reply parsing, the adapter against a fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fake_openai_extras import API_KEY, running_fake_openai_extras

from impl.providers import TextDelta, Usage
from impl.providers.function_calling import AgentTurn, ThoughtText, ToolCall, ToolCalls, ToolSpec
from impl.providers.openai_compatible import OpenAICompatibleModel
from impl.providers.react import ReactModel, parse, prompt

CALC = ToolSpec("calculator", "Evaluates arithmetic.", {"type": "object", "properties": {"expression": {}}})


@pytest.mark.parametrize(
    ("text", "thought", "call", "final"),
    [
        (
            "Thought: need math\nAction:\n```\n"
            '{"action": "calculator", "action_input": {"expression": "1+1"}}\n```',
            "need math",
            ("calculator", {"expression": "1+1"}),
            "",
        ),
        ('Action: {"action": "calculator", "action_input": "2*2"}', "", ("calculator", {"input": "2*2"}), ""),
        ("Thought: easy\nFinal Answer: 4", "easy", None, "4"),
        ('Action: {"action": "Final Answer", "action_input": "done"}', "", None, "done"),
        ("just text", "", None, "just text"),
        ("Action: {not json}", "", None, "Action: {not json}"),
    ],
)
def test_parse(text: str, thought: str, call: tuple[str, dict[str, Any]] | None, final: str) -> None:
    got_thought, got_call, got_final = parse(text, offered=True)
    assert (got_thought, got_final) == (thought, final)
    if call is None:
        assert got_call is None
    else:
        assert got_call is not None and (got_call.name, json.loads(got_call.arguments)) == call


def test_actions_are_ignored_when_no_tool_is_offered() -> None:
    assert parse('Action: {"action": "calculator", "action_input": {}}', offered=False)[1] is None


def test_prompt_shows_tools_actions_and_observations() -> None:
    call = ToolCall("react_1", "calculator", '{"expression": "6*7"}')
    messages = prompt(
        [
            AgentTurn("system", "Be brief."),
            AgentTurn("user", "6*7?"),
            AgentTurn("assistant", "use math", tool_calls=(call,)),
            AgentTurn("tool", "42", tool_call_id="react_1", name="calculator"),
        ],
        [CALC],
    )
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert (
        messages[0].content.startswith("Be brief.")
        and "- calculator: Evaluates arithmetic." in messages[0].content
    )
    assert '"action": "calculator"' in messages[2].content and messages[2].content.startswith(
        "Thought: use math"
    )
    assert messages[3].content == "Observation: 42"


@pytest.fixture(scope="module")
def fake() -> Iterator[str]:
    with running_fake_openai_extras() as (base, _received):
        yield base


async def test_react_round_trip_against_a_fake(fake: str) -> None:
    model = ReactModel(OpenAICompatibleModel("plain", fake, API_KEY, vision=False))
    first = [i async for i in model.stream_tools([AgentTurn("user", "6*7?")], [CALC], {})]
    assert first[0] == ThoughtText("I should use the calculator.")
    assert first[1] == ToolCalls((ToolCall("react_1", "calculator", '{"expression": "6*7"}'),))
    assert isinstance(first[-1], Usage)
    turns = [
        AgentTurn("user", "6*7?"),
        AgentTurn("assistant", "", tool_calls=first[1].calls),  # type: ignore[union-attr]
        AgentTurn("tool", "42", tool_call_id="react_1", name="calculator"),
    ]
    second = [i async for i in model.stream_tools(turns, [CALC], {})]
    assert "".join(i.text for i in second if isinstance(i, TextDelta)) == "The tool said: 42."
