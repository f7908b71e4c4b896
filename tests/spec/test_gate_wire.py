"""Gate: our contract carries every field, type and enum value of Dify's wire contract.

Differences are listed as keys (format in wire_compare.py and .notes/COMMON.md); the only ones
allowed are those spec/DEVIATIONS.md explains on its `Keys:` lines, and every key listed there
must still be a real difference, so the file cannot rot.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from spec_gate import DEVIATIONS, require
from wire_compare import (
    deviation_keys,
    dify_event_name,
    dify_events,
    event_differences,
    operation_differences,
    wire_differences,
)


def _format(keys: set[str]) -> str:
    return "\n".join(f"  `{k}`" for k in sorted(keys))


@pytest.fixture(scope="module")
def explained() -> set[str]:
    return deviation_keys(require(DEVIATIONS, "spec/DEVIATIONS.md").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def differences(openapi: dict[str, Any], events: dict[str, Any], wire: dict[str, Any]) -> set[str]:
    return wire_differences(openapi, events, wire)


def test_operations_match_dify_wire_contract(
    openapi: dict[str, Any], events: dict[str, Any], wire: dict[str, Any], explained: set[str]
) -> None:
    unexplained = operation_differences(openapi, events, wire) - explained
    assert not unexplained, (
        f"{len(unexplained)} operation differences from Dify's wire contract are not explained "
        f"on a `Keys:` line of spec/DEVIATIONS.md:\n{_format(unexplained)}"
    )


def test_events_match_dify_wire_contract(
    openapi: dict[str, Any], events: dict[str, Any], wire: dict[str, Any], explained: set[str]
) -> None:
    unexplained = event_differences(openapi, events, wire) - explained
    assert not unexplained, (
        f"{len(unexplained)} SSE event differences from Dify's wire contract are not explained "
        f"on a `Keys:` line of spec/DEVIATIONS.md:\n{_format(unexplained)}"
    )


def test_deviation_keys_are_not_stale(differences: set[str], explained: set[str]) -> None:
    stale = explained - differences
    assert not stale, (
        "spec/DEVIATIONS.md lists keys that are no longer differences (remove them or fix the key):\n"
        + _format(stale)
    )


# --------------------------------------------------------------------------- the comparator itself


def _openapi_from_wire(wire: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI document saying exactly what the wire contract says (no differences expected)."""
    paths: dict[str, Any] = {}
    for op in wire["operations"]:
        responses = {
            status: {"description": status, "content": {m: {"schema": s} for m, s in content.items()}}
            for status, content in op["responses"].items()
        }
        entry: dict[str, Any] = {
            "operationId": op["operationId"],
            "parameters": copy.deepcopy(op["parameters"]),
            "responses": copy.deepcopy(responses),
        }
        if op.get("requestBody"):
            entry["requestBody"] = {"content": {m: {"schema": s} for m, s in op["requestBody"].items()}}
        paths.setdefault(op["path"], {})[op["method"].lower()] = copy.deepcopy(entry)
    return {"openapi": "3.0.3", "paths": paths}


def _events_from_wire(wire: dict[str, Any]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for name, _schema_name, schema in dify_events(wire):
        defs.setdefault(name, {"anyOf": []})["anyOf"].append(copy.deepcopy(schema))
    return {"$defs": defs}


def _op(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    result: dict[str, Any] = doc["paths"][path][method]
    return result


def test_dify_event_schema_names_map_to_the_28_events(wire: dict[str, Any]) -> None:
    names = {name for name, _, _ in dify_events(wire)}
    chat_enum = set(wire["event_schemas"]["ChunkChatEvent"]["properties"]["event"]["enum"])
    assert names == chat_enum and len(names) == 28
    assert dify_event_name("StreamEventChatAgentMessage") == "agent_message"
    assert dify_event_name("WorkflowStreamEventHumanInputFormTimeout") == "human_input_form_timeout"
    assert dify_event_name("CompletionStreamEventBase") is None
    assert dify_event_name("ChunkWorkflowEvent") is None


def test_comparator_finds_nothing_when_ours_is_dify(wire: dict[str, Any]) -> None:
    ours = _openapi_from_wire(wire)
    assert wire_differences(ours, _events_from_wire(wire), wire) == set()
    # and reports everything when ours is empty
    empty = wire_differences({"paths": {}}, {"$defs": {}}, wire)
    assert len(empty) == 36 + 28


def test_comparator_reports_each_kind_of_difference(wire: dict[str, Any]) -> None:
    ours = _openapi_from_wire(wire)
    events = _events_from_wire(wire)
    chat = _op(ours, "post", "/chat-messages")
    body = chat["requestBody"]["content"]["application/json"]["schema"]
    del body["properties"]["conversation_id"]  # missing request field
    body["properties"]["files"]["items"]["properties"]["type"]["enum"].remove("custom")  # enum narrowed
    ok = chat["responses"]["200"]["content"]["application/json"]["schema"]
    ok["properties"]["metadata"]["properties"]["usage"]["properties"]["latency"] = {"type": "integer"}
    ok["properties"]["created_at"] = {"type": "number"}  # wider than Dify's integer: compatible
    ok["properties"]["answer"] = {"allOf": [{"$ref": "#/components/schemas/Text"}], "nullable": True}
    ours["components"] = {"schemas": {"Text": {"type": "string"}}}
    logs = _op(ours, "get", "/workflows/logs")
    logs["parameters"] = [p for p in logs["parameters"] if p["name"] != "keyword"]
    del _op(ours, "delete", "/apps/annotations/{annotation_id}")["responses"]["204"]
    upload = _op(ours, "post", "/files/upload")["requestBody"]["content"]["multipart/form-data"]["schema"]
    upload["properties"]["file"] = {"type": "string"}  # lost format: binary
    events["$defs"]["node_finished"] = {
        "type": "object",
        "properties": {"event": {"const": "node_finished"}, "data": {"type": "object", "properties": {}}},
    }
    found = wire_differences(ours, events, wire)
    assert {
        "sendChatMessage request conversation_id",
        "sendChatMessage request files[].type:enum",
        "sendChatMessage response 200 metadata.usage.latency:type",
        "getWorkflowLogs query keyword",
        "deleteAnnotation response 204",
        "uploadChatFile request file:type",
        "event node_finished data.elapsed_time",
        "event node_finished task_id",
    } <= found
    assert not any(k.startswith("sendChatMessage response 200 created_at") for k in found)
    assert not any(k.startswith("sendChatMessage response 200 answer") for k in found)
    assert not any(k.startswith("event node_finished event") for k in found)


def test_deviation_keys_are_read_from_keys_lines_only() -> None:
    text = "\n".join(
        [
            "## Stop answers 200",
            "Keys: `stopGenerate response 200`, `event ping data`",
            "- **Keys:** `sendChatMessage request files[].url:type`",
            "Prose mentioning `notAKey response 200` is ignored.",
        ]
    )
    assert deviation_keys(text) == {
        "stopGenerate response 200",
        "event ping data",
        "sendChatMessage request files[].url:type",
    }
