"""spec/events.schema.json: event schemas, mode unions, grammars, and agreement with Dify's event fields."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from conformance.grammar import END_STATE, EventValidator, load_grammars

ROOT = Path(__file__).resolve().parents[2]
EVENTS_PATH = ROOT / "spec" / "events.schema.json"
DEVIATIONS_PATH = ROOT / "spec" / "DEVIATIONS.md"
DIFY_FIELDS_PATH = Path(__file__).with_name("data") / "dify_event_fields.json"

EVENTS = [
    "message", "agent_message", "agent_thought", "message_file", "message_end", "message_replace",
    "tts_message", "tts_message_end", "reasoning_chunk", "text_chunk", "workflow_started",
    "workflow_finished", "workflow_paused", "node_started", "node_finished", "node_retry",
    "iteration_started", "iteration_next", "iteration_completed", "loop_started", "loop_next",
    "loop_completed", "human_input_required", "human_input_form_filled", "human_input_form_timeout",
    "agent_log", "error", "ping",
]  # fmt: skip
MODES = ["chat", "agent-chat", "advanced-chat", "workflow", "completion"]
ALL_TYPES = {"string", "integer", "number", "boolean", "object", "array", "null"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(EVENTS_PATH.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def validator(doc: dict[str, Any]) -> EventValidator:
    return EventValidator(doc)


def union_members(doc: Mapping[str, Any], union: str) -> set[str]:
    return {m["$ref"].removeprefix("#/$defs/") for m in doc["$defs"][union]["oneOf"]}


def grammar_events(grammar: Mapping[str, Any]) -> set[str]:
    names = {grammar["keepalive"]["event"]}
    for state in grammar["states"].values():
        names |= set(state["on"])
    return names


def test_is_a_valid_2020_12_schema(doc: dict[str, Any]) -> None:
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(doc)
    assert len(doc["description"]) > 500, "the top-level description documents the grammar format"


@pytest.mark.parametrize("name", EVENTS)
def test_event_definition_shape(doc: dict[str, Any], name: str) -> None:
    schema = doc["$defs"][name]
    assert schema["type"] == "object"
    assert schema["properties"]["event"]["const"] == name
    assert "event" in schema["required"]
    assert len(schema["description"]) >= 40
    assert schema["examples"], f"{name} needs at least one example"


def test_exactly_the_28_events_are_snake_case_defs(doc: dict[str, Any]) -> None:
    snake = {k for k in doc["$defs"] if re.fullmatch(r"[a-z_]+", k) and not k.startswith("stream_")}
    assert snake == set(EVENTS)


@pytest.mark.parametrize("name", EVENTS)
def test_examples_validate_against_their_event(
    validator: EventValidator, doc: dict[str, Any], name: str
) -> None:
    for example in doc["$defs"][name]["examples"]:
        assert validator.errors(example) == [], example
        assert validator.errors(example, name) == []


def test_examples_validate_against_the_unions_that_carry_them(
    validator: EventValidator, doc: dict[str, Any]
) -> None:
    unions = [k for k in doc["$defs"] if k.startswith("stream_")]
    uncovered: list[str] = []
    for name in EVENTS:
        examples = doc["$defs"][name]["examples"]
        carrying = [u for u in unions if name in union_members(doc, u)]
        assert carrying, f"{name} belongs to no stream union"
        for example in examples:
            assert any(validator.is_valid(example, u) for u in carrying), (name, example)
        for union in carrying:
            if not any(validator.is_valid(example, union) for example in examples):
                uncovered.append(f"{union}:{name}")
    assert uncovered == [], f"no example of these events validates against these unions: {uncovered}"


def test_union_rejects_foreign_and_unenveloped_events(validator: EventValidator) -> None:
    workflow_started = {"event": "workflow_started", "task_id": "t", "workflow_run_id": "r",
                        "data": {"id": "r", "workflow_id": "w", "inputs": {}, "created_at": 1}}  # fmt: skip
    assert not validator.is_valid(workflow_started, "stream_chat")
    bare_message = {"event": "message", "task_id": "7d3b1f0e-5c2a-4e8b-9a61-2f4c8d9e0a11", "answer": "x"}
    assert validator.is_valid(bare_message, "message")
    assert any("conversation_id" in e for e in validator.errors(bare_message, "stream_chat"))
    assert validator.is_valid({"event": "ping"}, "stream_workflow")
    assert not validator.is_valid({"event": "ping", "data": 1}, "ping")
    assert validator.errors({"event": "nope"}) == ["no schema for event 'nope'"]


def test_every_mode_has_a_union_and_a_grammar(doc: dict[str, Any]) -> None:
    grammars = doc["x-stream-grammars"]
    for mode in MODES:
        assert f"stream_{mode}" in doc["$defs"]
        assert mode in grammars[mode]["modes"]
    resume = [g for g in grammars.values() if "GET /workflow/{workflow_run_id}/events" in g["operations"]]
    assert {m for g in resume for m in g["modes"]} == {"workflow", "advanced-chat"}


def test_grammar_events_are_defined_and_unions_match(doc: dict[str, Any]) -> None:
    for name, grammar in doc["x-stream-grammars"].items():
        produced = grammar_events(grammar)
        assert produced <= set(EVENTS), (name, produced - set(EVENTS))
        assert grammar["union"] == f"#/$defs/stream_{name}"
        assert union_members(doc, f"stream_{name}") == produced, name
    grammar_unions = {f"stream_{n}" for n in doc["x-stream-grammars"]}
    assert {k for k in doc["$defs"] if k.startswith("stream_")} == grammar_unions


def test_grammar_data_is_self_consistent(doc: dict[str, Any]) -> None:
    loaded = load_grammars(doc)  # raises on dangling states or terminal/union mismatches
    for name, grammar in doc["x-stream-grammars"].items():
        assert set(grammar["opening"]) == set(grammar["states"][grammar["initial"]]["on"]), name
        to_end = {e for s in grammar["states"].values() for e, t in s["on"].items() if t == END_STATE}
        assert set(grammar["terminal"]) == to_end, name
        assert loaded[name].terminal == frozenset(grammar["terminal"])
        assert grammar["keepalive"] == {"event": "ping", "idle_seconds": 10, "before_terminal_only": True}
        assert set(grammar["endings"]) <= {"normal", "stopped", "failed", "paused"}
        for outcome, tails in grammar["endings"].items():
            for tail in tails:
                assert {item["event"] for item in tail} <= grammar_events(grammar), (name, outcome)
                assert tail[-1]["event"] in grammar["terminal"] or grammar["states"], (name, outcome)
        assert "error" in grammar["terminal"]


def test_mode_specific_decisions(doc: dict[str, Any]) -> None:
    grammars = doc["x-stream-grammars"]
    for mode in ("chat", "agent-chat", "completion"):
        assert set(grammars[mode]["terminal"]) == {"message_end", "error"}
    assert set(grammars["workflow"]["terminal"]) == {"workflow_finished", "workflow_paused", "error"}
    assert set(grammars["advanced-chat"]["terminal"]) == {"message_end", "workflow_paused", "error"}
    stopped = {"event": "workflow_finished", "data.status": "stopped"}
    assert grammars["advanced-chat"]["endings"]["stopped"] == [[stopped, {"event": "message_end"}]]
    assert grammars["workflow"]["endings"]["stopped"] == [[stopped]]
    assert grammars["chat"]["endings"]["stopped"] == [[{"event": "message_end"}]]
    assert [{"event": "error"}] in grammars["workflow"]["endings"]["failed"]
    assert grammars["workflow"]["endings"]["paused"] == [[{"event": "workflow_paused"}]]
    assert grammars["workflow"]["opening"] == ["error", "workflow_started"]
    # a run stopped or timed out while paused may end without a resumption workflow_started first
    assert grammars["workflow-events"]["states"]["paused"]["on"]["workflow_finished"] == "end"
    assert grammars["advanced-chat-events"]["states"]["paused"]["on"]["workflow_finished"] == "finished"
    for name in ("workflow", "advanced-chat"):
        paused_to = {
            t for s in grammars[name]["states"].values() for e, t in s["on"].items() if e == "workflow_paused"
        }
        assert paused_to == {"end"}, name


# ------------------------------------------------------------------ agreement with Dify's fields


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        return set(ALL_TYPES) if "const" not in schema else {type(schema["const"]).__name__}
    return {declared} if isinstance(declared, str) else set(declared)


def _resolve(doc: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = doc["$defs"][schema["$ref"].removeprefix("#/$defs/")]
    return schema


def flatten(
    doc: Mapping[str, Any], schema: Mapping[str, Any], path: str = ""
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    schema = _resolve(doc, schema)
    if path:
        yield path, schema
    for key, sub in schema.get("properties", {}).items():
        if not path and key == "event":
            continue
        yield from flatten(doc, sub, f"{path}.{key}" if path else key)
    if "items" in schema:
        yield from flatten(doc, schema["items"], f"{path}[]")


def documented_deviation_keys() -> set[str]:
    """`event …` keys listed on `Keys:` lines of spec/DEVIATIONS.md (none while the file is absent)."""
    if not DEVIATIONS_PATH.exists():
        return set()
    keys: set[str] = set()
    for line in DEVIATIONS_PATH.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("Keys:"):
            keys |= {k for k in re.findall(r"`([^`]+)`", line) if k.startswith("event ")}
    return keys


def test_every_dify_event_field_is_present_with_a_compatible_type(doc: dict[str, Any]) -> None:
    dify = json.loads(DIFY_FIELDS_PATH.read_text(encoding="utf-8"))["events"]
    assert set(dify) == set(EVENTS)
    documented = documented_deviation_keys()
    missing: list[str] = []
    mistyped: list[str] = []
    for event, fields in dify.items():
        ours = dict(flatten(doc, doc["$defs"][event]))
        for path, types in fields.items():
            key = f"event {event} {path}"
            if path not in ours:
                if key not in documented:
                    missing.append(key)
                continue
            if not set(types) <= _types(ours[path]) and f"{key}:type" not in documented:
                mistyped.append(f"{key}:type (dify {types}, ours {sorted(_types(ours[path]))})")
    assert missing == [], f"fields Dify sends that events.schema.json lacks: {missing}"
    assert mistyped == [], f"types narrower than Dify's: {mistyped}"


def test_dify_enums_are_kept(doc: dict[str, Any]) -> None:
    belongs_to = doc["$defs"]["message_file"]["properties"]["belongs_to"]
    assert belongs_to["enum"] == ["assistant"]


def test_timestamps_and_chat_envelope(doc: dict[str, Any]) -> None:
    envelope = doc["$defs"]["EnvelopeChat"]
    assert set(envelope["required"]) == {"task_id", "message_id", "conversation_id", "created_at"}
    assert envelope["properties"]["created_at"] == {"type": "integer"}
    assert set(doc["$defs"]["EnvelopeCompletion"]["required"]) == {"task_id", "message_id", "created_at"}
    assert set(doc["$defs"]["EnvelopeWorkflow"]["required"]) == {"task_id", "workflow_run_id"}
    for name in EVENTS:
        for path, schema in flatten(doc, doc["$defs"][name]):
            if path.endswith(("created_at", "finished_at", "expiration_time")) and "usage" not in path:
                assert "integer" in _types(schema) and "string" not in _types(schema), (name, path)
    assert "task_id" not in doc["$defs"]["error"]["required"]
    assert doc["$defs"]["ping"]["additionalProperties"] is False


def test_field_comparison_notices_a_removed_field(doc: dict[str, Any]) -> None:
    dify = json.loads(DIFY_FIELDS_PATH.read_text(encoding="utf-8"))["events"]
    compared = sum(len(fields) for fields in dify.values())
    assert compared > 400, "the Dify field list should cover every event flavour"
    trimmed = json.loads(json.dumps(doc))
    del trimmed["$defs"]["node_finished"]["properties"]["data"]["properties"]["execution_metadata"]
    ours = dict(flatten(trimmed, trimmed["$defs"]["node_finished"]))
    assert "data.execution_metadata" in dify["node_finished"]
    assert "data.execution_metadata" not in ours
