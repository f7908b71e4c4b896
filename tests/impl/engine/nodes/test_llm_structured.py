"""Structured output of LLM nodes: the builtin model's schema answers, the native and prompt
paths, the tolerant parsing, failures through the error strategies, JSON mode."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from graphs import START, Hooks, edge, end, node, run

from impl.engine.nodes.structured import parse
from impl.engine.runner import NodeError
from impl.providers import ChatModel, ModelRequest, StreamItem, TextDelta, Usage
from impl.providers.builtin_json import instance

MODEL = {"provider": "builtin", "name": "echo", "mode": "chat", "completion_params": {}}
QUESTIONS = {
    "type": "object",
    "properties": {"questions": {"type": "array", "items": {"type": "string"}, "description": "max 3"}},
    "required": [],
}
RICH = {
    "type": "object",
    "$defs": {"tag": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}}},
    "properties": {
        "title": {"type": "string", "minLength": 3},
        "score": {"type": "number", "minimum": 1.5, "maximum": 9},
        "count": {"type": "integer", "exclusiveMinimum": 4},
        "below": {"type": "integer", "maximum": -3},
        "ok": {"type": "boolean"},
        "level": {"type": "string", "enum": ["high", "low"]},
        "fixed": {"const": 7},
        "when": {"type": "string", "format": "date-time"},
        "mail": {"type": "string", "format": "email"},
        "maybe": {"type": ["null", "string"]},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 2, "maxItems": 3},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "both": {
            "allOf": [{"properties": {"a": {"type": "integer"}}}, {"properties": {"b": {"type": "boolean"}}}]
        },
        "nested": {
            "type": "object",
            "properties": {"deep": {"type": "object", "properties": {"list": {"type": "array"}}}},
            "required": ["deep"],
        },
        "empty": {"type": "object"},
        "nothing": {"type": "null"},
    },
    "required": ["title", "score", "count", "ok", "level", "tags", "nested"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("schema", [QUESTIONS, RICH, {"type": "object"}, {}])
def test_builtin_instances_conform(schema: dict[str, Any]) -> None:
    value = instance(schema, "What is Dify?")
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(value)
    assert isinstance(value, dict)


def test_builtin_instance_values() -> None:
    value = instance(RICH, "Tell me about rivers")
    assert value["title"] == "Tell me about rivers" and value["score"] == 1.5 and value["count"] == 5
    assert value["below"] == -3 and value["ok"] is False and value["level"] == "high" and value["fixed"] == 7
    assert value["tags"] == [{"name": "Tell "}, {"name": "Tell "}] and value["nested"] == {
        "deep": {"list": ["Tell me about rivers"]}
    }
    assert (
        value["both"] == {"a": 0, "b": False}
        and value["either"] == 0
        and value["maybe"] == "Tell me about rivers"
    )
    assert instance(QUESTIONS, "") == {"questions": ["text"]}
    assert instance({"type": "string", "minLength": 6}, "ab") == "ab...."


def _llm(**data: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": MODEL,
        "prompt_template": [
            {"role": "system", "text": "Be brief."},
            {"role": "user", "text": "Questions about {{#start.topic#}}"},
        ],
        "structured_output_enabled": True,
        "structured_output": {"schema": QUESTIONS},
    }
    base.update(data)
    return node("llm", "llm", **base)


def _chain(llm: dict[str, Any], last: dict[str, Any], hooks: Hooks | None = None) -> Any:
    return run(
        [START, llm, last], [edge("start", "llm"), edge("llm", "end")], {"topic": "rivers"}, hooks=hooks
    )


def _finished(events: list[tuple[str, dict[str, Any]]], node_id: str) -> dict[str, Any]:
    return [d for n, d in events if n == "node_finished" and d["node_id"] == node_id][0]


def test_builtin_structured_output_flows_downstream() -> None:
    outcome, events = _chain(
        _llm(), end(q=["llm", "structured_output", "questions"], so=["llm", "structured_output"])
    )
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs["q"] == ["Questions about rivers"]
    finished = _finished(events, "llm")
    assert finished["outputs"]["structured_output"] == {"questions": ["Questions about rivers"]}
    assert json.loads(finished["outputs"]["text"]) == finished["outputs"]["structured_output"]
    # the prompts recorded are the node's own (the schema travels in the parameters)
    assert [p["role"] for p in finished["process_data"]["prompts"]] == ["system", "user"]


def test_switch_off_or_no_section_means_plain_text() -> None:
    for llm in (_llm(structured_output_enabled=False), _llm(structured_output=None)):
        outcome, events = _chain(llm, end(t=["llm", "text"]))
        assert "structured_output" not in _finished(events, "llm")["outputs"]
        assert outcome.outputs["t"].startswith("You said:")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({}, "Please provide a valid structured output schema"),
        ({"schema": ["a"]}, "structured_output_schema must be a JSON object"),
        ({"schema": '{"type": "object"}'}, "structured_output_schema must be a JSON object"),
    ],
)
def test_bad_schema_sections_fail_with_difys_messages(section: dict[str, Any], message: str) -> None:
    outcome, events = _chain(_llm(structured_output=section), end())
    assert outcome.status == "failed" and outcome.error == message
    assert _finished(events, "llm")["status"] == "failed"


class ScriptedModel:
    """Answers a fixed text, records the requests; its structured-output mode is set per test."""

    name = "scripted"
    supports_vision = False

    def __init__(self, reply: str, mode: str) -> None:
        self.reply = reply
        self.structured_output = mode
        self.json_response_format: str | None = None
        self.requests: list[ModelRequest] = []

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        self.requests.append(request)
        for i in range(0, len(self.reply), 7):
            yield TextDelta(self.reply[i : i + 7])
        yield Usage(5, 3)


class ScriptedHooks(Hooks):
    def __init__(self, model: ScriptedModel) -> None:
        super().__init__()
        self.model = model

    def build_model(self, model: Mapping[str, Any]) -> ChatModel:
        return self.model


def test_native_models_get_the_schema_in_their_parameters() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"type": "number"}}}
    model = ScriptedModel('{"ok": "true", "n": 2}', "native")
    outcome, _events = _chain(
        _llm(structured_output={"schema": schema}), end(so=["llm", "structured_output"]), ScriptedHooks(model)
    )
    assert outcome.outputs["so"] == {"ok": "true", "n": 2}
    params = model.requests[0].params
    assert params["response_format"] == "json_schema"
    sent = json.loads(params["json_schema"])
    # Dify's preparation for native models: wrapped and named, booleans asked as strings
    assert sent == {
        "name": "llm_response",
        "schema": {"type": "object", "properties": {"ok": {"type": "string"}, "n": {"type": "number"}}},
    }
    assert schema["properties"]["ok"] == {"type": "boolean"}  # the node's own schema is untouched
    assert [m.role for m in model.requests[0].messages] == ["system", "user"]


def test_other_models_get_an_instruction_in_front_of_the_first_system_message() -> None:
    model = ScriptedModel('Sure:\n```json\n{"questions": ["a", "b"],}\n```', "prompt")
    llm = _llm(
        prompt_template=[
            {"role": "system", "text": "Be brief."},
            {"role": "user", "text": "Questions about {{#start.topic#}}"},
            {"role": "system", "text": "Second system."},
        ]
    )
    outcome, _events = _chain(llm, end(q=["llm", "structured_output", "questions"]), ScriptedHooks(model))
    assert outcome.outputs["q"] == ["a", "b"]
    messages = model.requests[0].messages
    assert [m.role for m in messages] == ["system", "user"]
    assert json.dumps(QUESTIONS) in messages[0].content and messages[0].content.endswith("\n\nBe brief.")
    assert "response_format" not in model.requests[0].params
    # a model with a JSON mode of its own (Claude's `JSON`) gets it switched on, as Dify does
    model.json_response_format = "JSON"
    outcome, _events = _chain(llm, end(q=["llm", "structured_output", "questions"]), ScriptedHooks(model))
    assert outcome.outputs["q"] == ["a", "b"] and model.requests[1].params["response_format"] == "JSON"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": [1, 2]}\n```', {"a": [1, 2]}),
        ('Here you go: {"a": "x"} Hope it helps!', {"a": "x"}),
        ('<think>maybe {"a": 0}</think>\n{"a": 2}', {"a": 2}),
        ('{"a": [1, 2,], "b": {"c": 3,},}', {"a": [1, 2], "b": {"c": 3}}),
        ('{"a": "cut sho', {"a": "cut sho"}),
        ('{"a": [1, {"b": 2', {"a": [1, {"b": 2}]}),
        ('{"a": 1, "b":', {"a": 1}),
        ('{"a": 1, "unfinished', {"a": 1}),
        ("{'a': True, 'b': None}", {"a": True, "b": None}),
        ('[{"a": 1}, {"b": 2}]', {"a": 1}),
        ("[1, 2]", {}),
    ],
)
def test_tolerant_parsing(text: str, expected: dict[str, Any]) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["", "no JSON at all", '"a string"', "42", "true"])
def test_unparseable_answers_raise_difys_message(text: str) -> None:
    with pytest.raises(NodeError) as info:
        parse(text)
    assert (
        info.value.message == f"Failed to parse structured output: Failed to parse structured output: {text}"
    )
    assert info.value.error_type == "LLMNodeError"


def test_parse_failure_fails_the_node_after_the_text_streamed() -> None:
    model = ScriptedModel("I cannot answer that.", "native")
    outcome, events = _chain(_llm(), end(t=["llm", "text"]), ScriptedHooks(model))
    assert outcome.status == "failed"
    assert (
        outcome.error
        == "Failed to parse structured output: Failed to parse structured output: I cannot answer that."
    )
    assert _finished(events, "llm")["status"] == "failed"


def test_parse_failure_goes_through_the_error_strategies() -> None:
    hooks = ScriptedHooks(ScriptedModel("nope", "native"))
    fallback = [{"key": "structured_output", "type": "object", "value": {"questions": ["fallback"]}}]
    llm = _llm(error_strategy="default-value", default_value=fallback)
    outcome, events = _chain(
        llm, end(q=["llm", "structured_output", "questions"], e=["llm", "error_type"]), hooks
    )
    assert outcome.status == "partial-succeeded"
    assert outcome.outputs == {"q": ["fallback"], "e": "LLMNodeError"}
    assert _finished(events, "llm")["status"] == "exception"

    nodes = [START, _llm(error_strategy="fail-branch"), end(m=["llm", "error_message"])]
    edges = [edge("start", "llm"), edge("llm", "end", "fail-branch")]
    outcome, _events = run(nodes, edges, {"topic": "rivers"}, hooks=hooks)
    assert outcome.status == "partial-succeeded"
    assert (
        outcome.outputs["m"] == "Failed to parse structured output: Failed to parse structured output: nope"
    )


def test_json_mode_makes_the_builtin_answer_a_json_object() -> None:
    model = {**MODEL, "completion_params": {"response_format": "json_object"}}
    llm = node("llm", "llm", model=model, prompt_template=[{"role": "user", "text": "hi {{#start.topic#}}"}])
    outcome, _events = _chain(llm, end(t=["llm", "text"]))
    answer = json.loads(outcome.outputs["t"])
    assert list(answer) == ["answer"] and answer["answer"].startswith("You said: hi rivers.")


def test_the_switch_under_difys_field_name_counts_too() -> None:
    llm = _llm()
    del llm["data"]["structured_output_enabled"]
    llm["data"]["structured_output_switch_on"] = True
    outcome, _events = _chain(llm, end(q=["llm", "structured_output", "questions"]))
    assert outcome.outputs["q"] == ["Questions about rivers"]
