"""Fast structural checks of spec/openapi.yaml: the operation table, the conventions every
consumer relies on (x-app-modes, x-mode-error, x-error-codes, x-sse-events) and that the two
tools that must load the file (openapi-spec-validator, Connexion 3.3) accept it.

The heavier gate (Redocly, wire-contract comparison, example validation, client generation)
lives in the other test_gate_*.py modules.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

SPEC_PATH = Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml"
MODES = {"chat", "agent-chat", "advanced-chat", "workflow", "completion"}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

# (method, path, operationId) of the 36 app-facing operations; the keyless ones are below.
OPERATIONS = {
    ("POST", "/chat-messages", "sendChatMessage"),
    ("POST", "/chat-messages/{task_id}/stop", "stopChatMessageGeneration"),
    ("GET", "/messages/{message_id}/suggested", "getSuggestedQuestions"),
    ("POST", "/files/upload", "uploadChatFile"),
    ("GET", "/files/{file_id}/preview", "previewChatFile"),
    ("GET", "/end-users/{end_user_id}", "getEndUserChat"),
    ("POST", "/messages/{message_id}/feedbacks", "postChatMessageFeedback"),
    ("GET", "/app/feedbacks", "getChatAppFeedbacks"),
    ("GET", "/conversations", "getConversationsList"),
    ("GET", "/messages", "getConversationHistory"),
    ("GET", "/conversations/{conversation_id}/variables", "getConversationVariables"),
    ("POST", "/conversations/{conversation_id}/name", "renameConversation"),
    ("PUT", "/conversations/{conversation_id}/variables/{variable_id}", "updateChatConversationVariable"),
    ("DELETE", "/conversations/{conversation_id}", "deleteConversation"),
    ("POST", "/audio-to-text", "audioToText"),
    ("POST", "/text-to-audio", "textToAudioChat"),
    ("GET", "/info", "getChatAppInfo"),
    ("GET", "/parameters", "getChatAppParameters"),
    ("GET", "/meta", "getChatAppMeta"),
    ("GET", "/site", "getChatWebAppSettings"),
    ("POST", "/apps/annotations", "createAnnotation"),
    ("GET", "/apps/annotations", "getAnnotationList"),
    ("PUT", "/apps/annotations/{annotation_id}", "updateAnnotation"),
    ("DELETE", "/apps/annotations/{annotation_id}", "deleteAnnotation"),
    ("POST", "/apps/annotation-reply/{action}", "initialAnnotationReplySettings"),
    ("GET", "/apps/annotation-reply/{action}/status/{job_id}", "getInitialAnnotationReplySettingsStatus"),
    ("GET", "/workflows/run/{workflow_run_id}", "getWorkflowRunDetail"),
    ("GET", "/workflows/logs", "getWorkflowLogs"),
    ("GET", "/form/human_input/{form_token}", "getChatflowHumanInputForm"),
    ("POST", "/form/human_input/{form_token}", "submitChatflowHumanInputForm"),
    ("GET", "/workflow/{workflow_run_id}/events", "streamWorkflowEvents"),
    ("POST", "/workflows/run", "executeWorkflow"),
    ("POST", "/workflows/{workflow_id}/run", "runWorkflowById"),
    ("POST", "/workflows/tasks/{task_id}/stop", "stopWorkflowTaskGeneration"),
    ("POST", "/completion-messages", "createCompletionMessage"),
    ("POST", "/completion-messages/{task_id}/stop", "stopGenerate"),
}
WELCOME = ("GET", "/", "getServiceWelcome")
TOOL_FILE = ("GET", "/files/tools/{file_name}", "getToolFile")
FILE_PREVIEW = ("GET", "/files/{file_id}/file-preview", "getFilePreview")
# Operations that take no API key (and so belong to no app mode).
KEYLESS = {WELCOME, TOOL_FILE, FILE_PREVIEW}
GENERATION = {"sendChatMessage", "createCompletionMessage", "executeWorkflow", "runWorkflowById"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    data = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), path, op


def _deref(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local refs are expected here, got {ref}"
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _error_examples(spec: dict[str, Any], op: dict[str, Any]) -> Iterator[tuple[int, str]]:
    """(HTTP status, code) of every example of the operation's error responses."""
    for status, response in op["responses"].items():
        if int(status) < 400:
            continue
        media = _deref(spec, response).get("content", {}).get("application/json", {})
        examples = [ex["value"] for ex in media.get("examples", {}).values()]
        if "example" in media:
            examples.append(media["example"])
        for value in examples:
            assert value["status"] == int(status), f"{op['operationId']} {status}: example says {value}"
            yield int(status), value["code"]


def _strings(node: Any, keys: set[str]) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in keys and isinstance(v, str):
                yield v
            elif k not in ("example", "examples"):
                yield from _strings(v, keys)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, keys)


def test_openapi_spec_validator_accepts_it(spec: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    validate(spec)
    assert spec["openapi"] == "3.0.3"
    assert spec["servers"] == [{"url": "/v1"}]


def test_operation_table(spec: dict[str, Any]) -> None:
    found = [(m, p, op["operationId"]) for m, p, op in _operations(spec)]
    assert len(found) == len(set(found))
    assert set(found) == OPERATIONS | KEYLESS


def test_bearer_auth_is_global_and_keyless_operations_are_open(spec: dict[str, Any]) -> None:
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "x-bearerInfoFunc" not in scheme, "the server injects the auth hook at load time"
    assert spec["security"] == [{"bearerAuth": []}]
    for _method, _path, op in _operations(spec):
        if op["operationId"] in {oid for _m, _p, oid in KEYLESS}:
            assert op["security"] == [] and op["x-app-modes"] == []
        else:
            assert "security" not in op, f"{op['operationId']} overrides the global bearer auth"


def test_every_operation_is_documented_and_has_error_responses(spec: dict[str, Any]) -> None:
    tag_names = {t["name"] for t in spec["tags"]}
    for _method, _path, op in _operations(spec):
        oid = op["operationId"]
        assert op.get("summary") and op.get("description"), oid
        assert op.get("tags") and set(op["tags"]) <= tag_names, oid
        modes = op.get("x-app-modes")
        assert isinstance(modes, list) and set(modes) <= MODES and len(modes) == len(set(modes)), oid
        keyless = oid in {k for _m, _p, k in KEYLESS}
        assert modes or keyless, f"{oid} is served by no app mode"
        statuses = {int(s) for s in op["responses"]}
        assert any(s >= 400 for s in statuses), f"{oid} declares no error response"
        if not keyless:
            assert {401, 403, 500} <= statuses, f"{oid} lacks the auth/app-gate/server errors"
        else:
            assert 401 not in statuses and 500 in statuses, oid
        for status, response in op["responses"].items():
            if int(status) >= 400:
                media = _deref(spec, response)["content"]["application/json"]
                assert media["schema"] == {"$ref": "#/components/schemas/Error"}, f"{oid} {status}"


def test_mode_errors_are_registered_and_declared(spec: dict[str, Any]) -> None:
    registry = spec["x-error-codes"]
    allowed = {"not_chat_app", "not_workflow_app", "app_unavailable"}
    for _method, _path, op in _operations(spec):
        code = op.get("x-mode-error")
        if code is None:
            continue
        oid = op["operationId"]
        assert code in allowed and code in registry, f"{oid}: x-mode-error {code}"
        assert registry[code]["status"] == 400
        assert oid in registry[code]["operations"]
        assert (400, code) in set(_error_examples(spec, op)), f"{oid} has no 400 example with {code}"
        assert set(op["x-app-modes"]) < MODES, f"{oid} rejects a mode but serves all of them"


def test_error_registry_matches_the_declared_responses(spec: dict[str, Any]) -> None:
    registry = spec["x-error-codes"]
    derived: dict[str, set[str]] = {code: set() for code in registry}
    for _method, _path, op in _operations(spec):
        for status, code in _error_examples(spec, op):
            assert code in registry, f"{op['operationId']} uses unregistered error code {code}"
            assert registry[code]["status"] == status, f"{code}: registry {registry[code]['status']}"
            derived[code].add(op["operationId"])
    all_ids = {op["operationId"] for _m, _p, op in _operations(spec)}
    for code, entry in registry.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        assert set(entry) == {"status", "description", "operations"}, code
        assert 400 <= entry["status"] <= 599 and entry["description"].strip(), code
        listed = entry["operations"]
        assert len(listed) == len(set(listed)) and set(listed) <= all_ids, code
        assert set(listed) == derived[code], (
            f"{code}: registry lists {sorted(set(listed) - derived[code])} without a matching example, "
            f"and misses {sorted(derived[code] - set(listed))}"
        )
    # the router answers 405 before any operation is chosen; it is the only code no operation lists
    assert [c for c, e in registry.items() if not e["operations"]] == ["method_not_allowed"]


def test_streaming_responses(spec: dict[str, Any]) -> None:
    streaming = set()
    for _method, _path, op in _operations(spec):
        content = op["responses"].get("200", {}).get("content", {})
        if "text/event-stream" not in content:
            continue
        oid = op["operationId"]
        streaming.add(oid)
        media = content["text/event-stream"]
        assert media["schema"] == {"$ref": "#/components/schemas/SseEnvelope"}, oid
        events = media["x-sse-events"]
        assert set(events) == set(op["x-app-modes"]), oid
        for mode, pointer in events.items():
            # the resume stream has grammars of its own (stream_<mode>-events)
            suffix = "-events" if oid == "streamWorkflowEvents" else ""
            assert pointer == f"events.schema.json#/$defs/stream_{mode}{suffix}", oid
        if oid in GENERATION:
            assert "application/json" in content, f"{oid} must also offer the blocking JSON reply"
    assert streaming == GENERATION | {"streamWorkflowEvents"}
    envelope = spec["components"]["schemas"]["SseEnvelope"]
    assert envelope["required"] == ["data"]
    assert {k: v["type"] for k, v in envelope["properties"].items()} == {
        "event": "string",
        "data": "string",
        "id": "string",
        "retry": "integer",
    }


def test_request_bodies_stay_open(spec: dict[str, Any]) -> None:
    """Dify ignores unknown body fields and the SDKs send some, so no request schema is closed."""

    def closed(node: Any, seen: set[str]) -> bool:
        if isinstance(node, dict):
            if node.get("additionalProperties") is False:
                return True
            if "$ref" in node:
                ref = node["$ref"]
                if ref in seen:
                    return False
                return closed(_deref(spec, node), seen | {ref})
            return any(closed(v, seen) for v in node.values())
        if isinstance(node, list):
            return any(closed(v, seen) for v in node)
        return False

    for _method, _path, op in _operations(spec):
        body = op.get("requestBody")
        if body:
            assert not closed(body, set()), op["operationId"]


def test_text_is_safe_for_templates(spec: dict[str, Any]) -> None:
    for text in _strings(spec, {"description", "summary"}):
        assert "{{" not in text and "{%" not in text, text[:80]


def test_no_31_constructs(spec: dict[str, Any]) -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            assert not isinstance(node.get("type"), list), f"type list at {where}"
            for key in ("const", "contentMediaType", "contentSchema", "itemSchema", "$defs"):
                assert key not in node or where.endswith("properties"), f"{key} at {where}"
            for k, v in node.items():
                if k not in ("example", "examples"):
                    walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(spec, "#")


def bearer_info(token: str) -> dict[str, Any] | None:
    """The x-bearerInfoFunc given to Connexion in the test below."""
    return {"sub": "app", "scope": []} if token == "app-test" else None


# Starlette 1.x warns (a UserWarning subclass) when its TestClient imports httpx, and Connexion
# 3.3 still uses jsonschema's deprecated RefResolver API; neither is about the spec.
@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
@pytest.mark.filterwarnings("ignore:jsonschema.*is deprecated:DeprecationWarning")
def test_connexion_accepts_the_spec(spec: dict[str, Any]) -> None:
    import connexion
    from connexion.resolver import Resolver

    loaded = copy.deepcopy(spec)
    loaded["components"]["securitySchemes"]["bearerAuth"]["x-bearerInfoFunc"] = f"{__name__}.bearer_info"
    resolved: list[str] = []

    def resolve(operation_id: str) -> Any:
        resolved.append(operation_id)

        async def handler(*_args: Any, **_kwargs: Any) -> Any:
            return {"welcome": "Dify OpenAPI", "api_version": "v1", "server_version": "test"}

        return handler

    app = connexion.AsyncApp(__name__)
    app.add_api(loaded, resolver=Resolver(function_resolver=resolve), validate_responses=True)
    client = app.test_client()
    assert client.get("/v1/").json()["api_version"] == "v1"
    assert client.post("/v1/chat-messages", json={}).status_code == 401
    bad = client.post("/v1/chat-messages", json={"query": "hi"}, headers={"Authorization": "Bearer app-test"})
    assert bad.status_code == 400  # inputs and user are required
    assert set(resolved) == {oid for _m, _p, oid in OPERATIONS | KEYLESS}


def test_sse_pointers_resolve_into_events_schema(spec: dict[str, Any]) -> None:
    """Each x-sse-events pointer names a union of events.schema.json whose grammar covers the operation."""
    events = json.loads((SPEC_PATH.parent / "events.schema.json").read_text(encoding="utf-8"))
    grammars = {g["union"]: g for g in events["x-stream-grammars"].values()}
    for method, path, op in _operations(spec):
        media = op["responses"].get("200", {}).get("content", {}).get("text/event-stream")
        if media is None:
            continue
        for mode, pointer in media["x-sse-events"].items():
            document, _, fragment = pointer.partition("#")
            assert document == "events.schema.json", pointer
            name = fragment.removeprefix("/$defs/")
            assert name in events["$defs"], f"{op['operationId']}: {pointer} does not exist"
            grammar = grammars[f"#{fragment}"]
            assert mode in grammar["modes"], f"{op['operationId']}: {pointer} is not a {mode} grammar"
            assert f"{method} {path}" in grammar["operations"], f"{pointer} does not list {method} {path}"
