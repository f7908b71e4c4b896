"""Every response the suite sees is validated against the operation the spec declares for it."""

from __future__ import annotations

import json

from helpers import REPO

from conformance.spec import Spec
from conformance.validate import ResponseValidator

V = ResponseValidator(Spec(REPO / "spec"), "/v1")
CONVERSATION = {
    "id": "45701982-8118-4bc5-8e9b-64562b4555f2",
    "name": "n",
    "inputs": {},
    "status": "normal",
    "introduction": "",
    "created_at": 1705407629,
    "updated_at": 1705407629,
}


def problems(method: str, path: str, status: int, body: object, ctype: str = "application/json") -> list[str]:
    op = V.operation(method, "http://host/v1" + path)
    assert op is not None
    return V.problems(op, status, ctype, json.dumps(body).encode())


def test_operations_are_found_by_their_path_template() -> None:
    found = {
        ("POST", "/workflows/run"): "executeWorkflow",
        ("POST", "/workflows/abc/run"): "runWorkflowById",
        ("GET", "/workflows/run/abc"): "getWorkflowRunDetail",
        ("POST", "/conversations/abc/name"): "renameConversation",
    }
    for (method, path), op in found.items():
        assert V.operation(method, "http://h/v1" + path).operation_id == op  # type: ignore[union-attr]


def test_a_valid_body_passes_and_an_iso_timestamp_fails() -> None:
    assert problems("POST", "/conversations/x/name", 200, CONVERSATION) == []
    bad = problems(
        "POST", "/conversations/x/name", 200, {**CONVERSATION, "updated_at": "2024-01-16T12:20:29Z"}
    )
    assert bad and "updated_at" in bad[0] and "integer" in bad[0]


def test_undeclared_status_and_content_type_are_problems() -> None:
    assert "not declared" in problems("POST", "/files/upload", 200, {})[0]
    assert "Content-Type" in problems("GET", "/info", 200, {}, "text/plain")[0]


def test_nullable_fields_accept_null_and_errors_use_the_envelope() -> None:
    site = {
        "title": "Demo",
        "chat_color_theme": None,
        "chat_color_theme_inverted": False,
        "icon_type": None,
        "icon": None,
        "icon_background": None,
        "icon_url": None,
        "description": None,
        "copyright": None,
        "privacy_policy": None,
        "custom_disclaimer": None,
        "default_language": "en-US",
        "show_workflow_steps": True,
        "use_icon_as_answer_icon": False,
    }
    assert problems("GET", "/site", 200, site) == []
    assert problems("GET", "/site", 200, {**site, "default_language": None})
    assert problems("GET", "/messages", 404, {"code": "not_found", "message": "m", "status": 404}) == []
    assert problems("GET", "/messages", 404, {"message": "m", "status": 404})


def test_binary_bodies_match_a_wildcard_media_type() -> None:
    op = V.operation("GET", "http://h/v1/files/abc/preview")
    assert op is not None and V.problems(op, 200, "image/png", b"\x89PNG") == []
