"""Every operation of the spec, against the live server: a bounded Schemathesis run with negative
data, then the hostile shapes of issue 13 (deep JSON, huge numbers, lone surrogates, no
Content-Type, oversized text, huge path and query values).  Whatever the input, the answer is a
status the operation declares, in the error envelope, and never a 5xx."""

from __future__ import annotations

import contextlib
import json
import uuid
import warnings
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from support.server import LiveServer

REPO = Path(__file__).resolve().parents[2]
SPEC: dict[str, Any] = yaml.safe_load((REPO / "spec" / "openapi.yaml").read_text(encoding="utf-8"))
METHODS = ("get", "post", "put", "patch", "delete")
EXAMPLES = 4
HUGE_NUMBER = "9" * 5000
DEEP = "[" * 1000 + "]" * 1000


def _operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    found = {}
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                found[op["operationId"]] = (method, path, op)
    return found


OPERATIONS = _operations()


def _key_headers(server: LiveServer, op: dict[str, Any]) -> dict[str, str]:
    for mode in op.get("x-app-modes") or ():
        if mode in server.keys:
            return {"Authorization": f"Bearer {server.keys[mode]}"}
    return {}


def _declared(op: dict[str, Any]) -> set[int]:
    return {int(status) for status in op["responses"] if status.isdigit()}


def _resolve(param: dict[str, Any]) -> dict[str, Any]:
    ref = param.get("$ref")
    if not ref:
        return param
    node: Any = SPEC
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return dict(node)


def _params(path: str, op: dict[str, Any]) -> list[dict[str, Any]]:
    item = SPEC["paths"][path]
    return [_resolve(p) for p in [*item.get("parameters", []), *op.get("parameters", [])]]


def _url(server: LiveServer, path: str, op: dict[str, Any], path_value: str | None = None) -> str:
    for param in _params(path, op):
        if param.get("in") == "path":
            value = path_value if path_value is not None else str(uuid.uuid4())
            if param.get("schema", {}).get("enum"):
                value = path_value or str(param["schema"]["enum"][0])
            path = path.replace("{" + param["name"] + "}", value)
    return server.base_url + path


def _assert_answer(r: httpx.Response, op: dict[str, Any], what: str) -> None:
    assert r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    assert r.status_code in _declared(op) or r.status_code in (404, 405), (
        f"{what}: undeclared {r.status_code}"
    )
    if r.status_code >= 400:
        body = r.json()
        assert set(body) == {"code", "message", "status"} and body["status"] == r.status_code, what


@pytest.fixture(scope="module")
def schema() -> Any:
    config = schemathesis.Config.from_dict({"generation": {"allow-extra-parameters": False}})
    return schemathesis.openapi.from_dict(json.loads(json.dumps(SPEC, default=str)), config=config)


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_negative_data_never_gets_a_server_error(
    live_server: LiveServer, schema: Any, operation_id: str
) -> None:
    method, path, op = OPERATIONS[operation_id]
    operation = next(
        r.ok()
        for r in schema.get_all_operations()
        if r.ok().definition.raw.get("operationId") == operation_id
    )
    headers = _key_headers(live_server, op)
    problems: list[str] = []
    counted = [0]

    def one(case: Any) -> None:
        counted[0] += 1
        response = case.call(base_url=live_server.base_url, headers=headers, timeout=30)
        if response.status_code >= 500:
            problems.append(f"{response.status_code}: {case.as_curl_command(headers=headers)}")

    settings = hypothesis.settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        derandomize=True,
        print_blob=False,
    )
    test = settings(hypothesis.given(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))(one))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(hypothesis.errors.Unsatisfiable):
            test()
    assert problems == [], "\n".join(problems[:5])
    # Negative data exists for every operation that takes any input.
    assert counted[0] > 0 or (not _params(path, op) and "requestBody" not in op), "no negative case generated"


def _json_body_ops() -> list[str]:
    return sorted(
        op_id
        for op_id, (_m, _p, op) in OPERATIONS.items()
        if "application/json" in ((op.get("requestBody") or {}).get("content") or {})
    )


PREFIX = '{"user": "hostile", "inputs": {}, "query": "q"'
HOSTILE_BODIES = {
    "nested 1,000 deep": f'{PREFIX}, "x": {DEEP}}}'.encode(),
    "5,000-digit integer": f'{PREFIX}, "x": {HUGE_NUMBER}}}'.encode(),
    "lone surrogate in user": b'{"user": "\\ud800", "inputs": {}, "query": "q", "name": "n", "value": "v"}',
    "lone surrogate in a key": b'{"user": "hostile", "inputs": {"\\udc00": 1}, "query": "q"}',
    "text over the limit": json.dumps({"user": "hostile", "inputs": {}, "query": "q" * 1_000_001}).encode(),
    "body over the limit": json.dumps({"user": "hostile", "pad": "p" * (4 * 1024 * 1024)}).encode(),
}
EXPECTED = {
    "nested 1,000 deep": (400, "bad_request"),
    "5,000-digit integer": (400, "bad_request"),
    "lone surrogate in user": (400, "bad_request"),
    "lone surrogate in a key": (400, "bad_request"),
    "text over the limit": (400, "invalid_param"),
    "body over the limit": (413, "request_entity_too_large"),
}


@pytest.mark.parametrize("operation_id", _json_body_ops())
def test_hostile_json_bodies(live_server: LiveServer, operation_id: str) -> None:
    method, path, op = OPERATIONS[operation_id]
    url = _url(live_server, path, op)
    headers = _key_headers(live_server, op)
    with httpx.Client(timeout=30) as client:
        for name, body in HOSTILE_BODIES.items():
            r = client.request(
                method, url, headers={**headers, "Content-Type": "application/json"}, content=body
            )
            _assert_answer(r, op, f"{operation_id} {name}")
            if r.status_code not in (400, 404) or r.json()["code"] not in (
                "not_chat_app",
                "not_workflow_app",
            ):
                assert (r.status_code, r.json()["code"]) == EXPECTED[name], f"{operation_id} {name}: {r.text}"
        r = client.request(
            method, url, headers=headers, content=b'{"user": "hostile", "name": "n", "value": 1}'
        )
        _assert_answer(r, op, f"{operation_id} without Content-Type")
        assert (r.status_code, r.json()["code"]) == (415, "unsupported_media_type"), r.text


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_hostile_path_and_query_values(live_server: LiveServer, operation_id: str) -> None:
    method, path, op = OPERATIONS[operation_id]
    headers = _key_headers(live_server, op)
    queries = [p["name"] for p in _params(path, op) if p.get("in") == "query"]
    has_path = any(p.get("in") == "path" for p in _params(path, op))
    with httpx.Client(timeout=30) as client:
        if has_path:
            for value in (HUGE_NUMBER, "%ED%A0%80", "%00"):
                r = client.request(method, _url(live_server, path, op, value), headers=headers)
                _assert_answer(r, op, f"{operation_id} path {value[:10]}")
        base = _url(live_server, path, op)
        for name in queries:
            for value in (HUGE_NUMBER, "%ED%A0%80", "%00", "-" + HUGE_NUMBER, "q" * 8000):
                r = client.request(method, f"{base}?{name}={value}&user=hostile", headers=headers)
                _assert_answer(r, op, f"{operation_id} ?{name}={value[:10]}")
