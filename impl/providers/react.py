"""ReAct over a plain chat model: tools described in the prompt, actions parsed from the text.

For models without native function calling (the DSL's `agent_mode.strategy: react`).  The model
is asked to answer in this shape, one step per reply:

    Thought: what to do next
    Action:
    ```
    {"action": "<tool name>", "action_input": {...}}
    ```

or, when it knows the answer, `Final Answer: ...`.  A tool call becomes `ToolCalls` (its thought
a `ThoughtText`, not part of the answer); the final answer is streamed as text deltas.  Earlier
tool calls are shown back to the model as its own action text followed by `Observation: ...`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from impl.providers.base import ChatModel, ModelRequest, PromptMessage, TextDelta, Usage
from impl.providers.function_calling import AgentItem, AgentTurn, ThoughtText, ToolCall, ToolCalls, ToolSpec

_ACTION = re.compile(r"Action\s*:\s*(?:```(?:json)?\s*)?(\{.*\})\s*(?:```)?", re.DOTALL | re.IGNORECASE)
_FINAL = re.compile(r"Final\s+Answer\s*:\s*", re.IGNORECASE)
_THOUGHT = re.compile(r"^\s*Thought\s*:\s*", re.IGNORECASE)
_WORD = re.compile(r"\S+\s*")


def instructions(tools: Sequence[ToolSpec]) -> str:
    lines = [
        "You can use these tools:",
        *(
            f"- {t.name}: {t.description} Arguments (JSON Schema): {json.dumps(dict(t.parameters))}"
            for t in tools
        ),
        "",
        "Answer in one of two shapes. To use a tool:",
        "Thought: what you will do",
        "Action:",
        "```",
        '{"action": "<tool name>", "action_input": {<arguments>}}',
        "```",
        "You will then get an Observation with the tool's result. When you know the answer:",
        "Final Answer: <the answer for the user>",
    ]
    return "\n".join(lines)


def action_text(call: ToolCall, thought: str) -> str:
    try:
        arguments: Any = json.loads(call.arguments or "{}")
    except ValueError:
        arguments = call.arguments
    blob = json.dumps({"action": call.name, "action_input": arguments}, ensure_ascii=False)
    return f"Thought: {thought}\nAction:\n```\n{blob}\n```"


def prompt(turns: Sequence[AgentTurn], tools: Sequence[ToolSpec]) -> tuple[PromptMessage, ...]:
    """The chat prompt: the tool instructions join the system message; tool results are user
    `Observation:` messages."""
    system = [t.content for t in turns if t.role == "system" and t.content]
    if tools:
        system.append(instructions(tools))
    messages: list[PromptMessage] = []
    if system:
        messages.append(PromptMessage("system", "\n\n".join(system)))
    for turn in turns:
        if turn.role == "system":
            continue
        if turn.role == "tool":
            messages.append(PromptMessage("user", f"Observation: {turn.content}"))
        elif turn.tool_calls:
            text = "\n".join(action_text(c, turn.content) for c in turn.tool_calls)
            messages.append(PromptMessage("assistant", text))
        else:
            messages.append(PromptMessage(turn.role, turn.content))
    return tuple(messages)


def parse(text: str, offered: bool) -> tuple[str, ToolCall | None, str]:
    """(thought, tool call, final answer) of one ReAct reply."""
    action = _ACTION.search(text) if offered else None
    if action is not None:
        try:
            blob = json.loads(action.group(1))
        except ValueError:
            blob = None
        if isinstance(blob, dict) and isinstance(blob.get("action"), str):
            name = blob["action"].strip()
            thought = _THOUGHT.sub("", text[: action.start()]).strip()
            if name.lower() in ("final answer", "final_answer"):
                final = blob.get("action_input")
                return (
                    thought,
                    None,
                    final if isinstance(final, str) else json.dumps(final, ensure_ascii=False),
                )
            arguments = blob.get("action_input")
            if isinstance(arguments, str):
                arguments = {"input": arguments}
            return thought, ToolCall("", name, json.dumps(arguments or {}, ensure_ascii=False)), ""
    final = _FINAL.search(text)
    if final is not None:
        return _THOUGHT.sub("", text[: final.start()]).strip(), None, text[final.end() :].strip()
    return "", None, _THOUGHT.sub("", text).strip()


class ReactModel:
    """Function calling for any `ChatModel` through a ReAct prompt."""

    def __init__(self, chat: ChatModel) -> None:
        self.chat = chat
        self.name = chat.name

    async def stream_tools(
        self, turns: Sequence[AgentTurn], tools: Sequence[ToolSpec], params: Mapping[str, Any]
    ) -> AsyncIterator[AgentItem]:
        request = ModelRequest(messages=prompt(turns, tools), params=dict(params), purpose="chat")
        parts: list[str] = []
        usage = Usage(0, 0)
        async for item in self.chat.stream(request):
            if isinstance(item, TextDelta):
                parts.append(item.text)
            else:
                usage = item
        thought, call, final = parse("".join(parts), bool(tools))
        if call is not None:
            calls_made = sum(1 for t in turns if t.role == "tool")
            if thought:
                yield ThoughtText(thought)
            yield ToolCalls((ToolCall(f"react_{calls_made + 1}", call.name, call.arguments),))
        else:
            for token in _WORD.findall(final):
                yield TextDelta(token)
        yield usage
