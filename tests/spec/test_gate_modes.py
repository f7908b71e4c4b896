"""Gate: the operation set and each operation's `x-app-modes` agree with Dify's docs pages.

Dify's `memberships` say which operations each app type's docs page covers.  Pages map to our
modes as: chat -> {chat, agent-chat}, chatflow -> {advanced-chat}, workflow -> {workflow},
completion -> {completion}; the `agent` (Dify's newest agent type) and `knowledge` pages are out of
scope.  An operation listed on a page must serve that page's modes, and an operation that serves a
mode must be listed on that mode's page.
"""

from __future__ import annotations

from typing import Any

PAGE_MODES = {
    "chat": {"chat", "agent-chat"},
    "chatflow": {"advanced-chat"},
    "workflow": {"workflow"},
    "completion": {"completion"},
}
ALL_MODES = {"chat", "agent-chat", "advanced-chat", "workflow", "completion"}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# Operations of ours that are not in Dify's contract and carry no app mode (they take no key).
# Dify serves signed file URLs at the host root; ours sit under /v1 (spec/DEVIATIONS.md D29, D30).
EXTRA_OPERATIONS = {
    "getServiceWelcome": "GET /",
    "getToolFile": "GET /files/tools/{file_name}",
    "getFilePreview": "GET /files/{file_id}/file-preview",
}


def operations(openapi: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for path, item in (openapi.get("paths") or {}).items():
        for method, op in item.items():
            if method in METHODS:
                op_id = op.get("operationId", f"<no operationId: {method.upper()} {path}>")
                assert op_id not in found, f"operationId {op_id} is used twice"
                found[op_id] = (f"{method.upper()} {path}", op)
    return found


def expected_modes(wire: dict[str, Any]) -> dict[str, set[str]]:
    """`METHOD path` -> the modes whose docs page lists it."""
    expected: dict[str, set[str]] = {}
    for page, modes in PAGE_MODES.items():
        for endpoint in wire["memberships"][page]:
            expected.setdefault(endpoint, set()).update(modes)
    return expected


def test_exactly_dify_operation_ids(openapi: dict[str, Any], wire: dict[str, Any]) -> None:
    ours = operations(openapi)
    dify = {op["operationId"]: f"{op['method']} {op['path']}" for op in wire["operations"]}
    assert len(dify) == 36
    missing = sorted(set(dify) - set(ours))
    extra = sorted(set(ours) - set(dify) - set(EXTRA_OPERATIONS))
    assert not missing and not extra, f"missing operationIds: {missing}\nunexpected operationIds: {extra}"
    moved = {
        op_id: (ours[op_id][0], where)
        for op_id, where in {**dify, **EXTRA_OPERATIONS}.items()
        if op_id in ours and ours[op_id][0] != where
    }
    assert not moved, f"operationIds on a different method/path than Dify's: {moved}"


def test_x_app_modes_match_memberships(openapi: dict[str, Any], wire: dict[str, Any]) -> None:
    expected = expected_modes(wire)
    problems: list[str] = []
    for op_id, (endpoint, op) in sorted(operations(openapi).items()):
        modes = op.get("x-app-modes")
        if op_id in EXTRA_OPERATIONS:
            if modes:
                problems.append(f"{op_id} ({endpoint}): serves every app; it must not declare x-app-modes")
            continue
        if not isinstance(modes, list) or not modes:
            problems.append(f"{op_id} ({endpoint}): x-app-modes missing or empty")
            continue
        unknown = set(modes) - ALL_MODES
        if unknown or len(set(modes)) != len(modes):
            problems.append(f"{op_id} ({endpoint}): unknown or repeated modes in x-app-modes: {modes}")
        want = expected.get(endpoint, set())
        if set(modes) != want:
            problems.append(
                f"{op_id} ({endpoint}): x-app-modes {sorted(modes)} but Dify's pages give {sorted(want)}"
                f" (lacking {sorted(want - set(modes))}, extra {sorted(set(modes) - want)})"
            )
    assert not problems, "\n".join(problems)


def test_x_mode_error_is_a_known_code(openapi: dict[str, Any]) -> None:
    registry = openapi.get("x-error-codes") or {}
    problems = []
    for op_id, (endpoint, op) in sorted(operations(openapi).items()):
        code = op.get("x-mode-error")
        if code is None:
            continue
        if code not in {"not_chat_app", "not_workflow_app", "app_unavailable"}:
            problems.append(f"{op_id} ({endpoint}): x-mode-error {code!r} is not one of the mode-error codes")
        elif code not in registry:
            problems.append(f"{op_id} ({endpoint}): x-mode-error {code!r} is missing from x-error-codes")
        elif op_id not in (registry[code].get("operations") or []):
            problems.append(f"{op_id} ({endpoint}): x-error-codes/{code}/operations does not list it")
        if set(op.get("x-app-modes") or []) == ALL_MODES:
            problems.append(f"{op_id} ({endpoint}): serves every mode, so x-mode-error can never fire")
    assert not problems, "\n".join(problems)


def test_membership_mapping_covers_dify_pages(wire: dict[str, Any]) -> None:
    # Every endpoint Dify lists on an in-scope page is one of the 36 operations.
    dify = {f"{op['method']} {op['path']}" for op in wire["operations"]}
    listed = set(expected_modes(wire))
    assert listed <= dify, sorted(listed - dify)
    assert listed == dify, f"operations on no in-scope page: {sorted(dify - listed)}"
