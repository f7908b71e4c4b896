"""The JSON body policy: hostile shapes get a 4xx in the envelope, never a 5xx."""

from __future__ import annotations

import json

import httpx
import pytest
from support.server import LiveServer

from impl.errors import ApiError
from impl.limits.body import JsonBodyPolicy

POLICY = JsonBodyPolicy(max_json_body_bytes=10_000, max_depth=8, max_digits=20, max_text_chars=100)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"[" * 9 + b"]" * 9, 400, "bad_request"),
        (b'{"a":' * 9 + b"1" + b"}" * 9, 400, "bad_request"),
        (b"[" * 100_000 + b"]" * 100_000, 413, "request_entity_too_large"),
        (b'{"n": ' + b"9" * 21 + b"}", 400, "bad_request"),
        (b'{"n": -' + b"9" * 21 + b"}", 400, "bad_request"),
        (b'{"n": 1e999}', 400, "bad_request"),
        (b'{"n": NaN}', 400, "bad_request"),
        (b'{"n": 0.' + b"1" * 30 + b"}", 400, "bad_request"),
        (b'{"user": "\\ud800"}', 400, "bad_request"),
        (b'{"\\udfff": 1}', 400, "bad_request"),
        (b'{"query": "' + b"a" * 101 + b'"}', 400, "invalid_param"),
    ],
)
def test_policy_refuses(body: bytes, status: int, code: str) -> None:
    with pytest.raises(ApiError) as caught:
        POLICY.check(body)
    assert (caught.value.status, caught.value.code) == (status, code)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 8 + b"]" * 8,
        b'{"n": ' + b"9" * 20 + b', "f": 1.5e10, "s": "[[[[[[[[[[[[[[[["}',
        b'{"user": "\\ud83d\\ude00 ok", "query": "' + b"a" * 100 + b'"}',
        b"not json at all",  # left to Connexion's own 400
    ],
)
def test_policy_accepts(body: bytes) -> None:
    POLICY.check(body)


def _chat(server: LiveServer, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    merged = {
        "Authorization": f"Bearer {server.keys['chat']}",
        "Content-Type": "application/json",
        **(headers or {}),
    }
    return httpx.post(server.base_url + "/chat-messages", headers=merged, content=content, timeout=30)


def _assert_envelope(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["status"] == status and body["message"]


def _body(**fields: object) -> dict[str, object]:
    return {
        "query": "hi",
        "inputs": {"name": "Ada"},
        "user": "limits-user",
        "response_mode": "blocking",
        **fields,
    }


def test_json_nested_a_thousand_deep(live_server: LiveServer) -> None:
    prefix = json.dumps(_body())[:-1]
    r = _chat(live_server, f'{prefix}, "x": {"[" * 1000}{"]" * 1000}}}'.encode())
    _assert_envelope(r, 400, "bad_request")
    deeper = _chat(live_server, f'{prefix}, "x": {"[" * 100_000}{"]" * 100_000}}}'.encode())
    _assert_envelope(deeper, 400, "bad_request")


def test_a_five_thousand_digit_integer(live_server: LiveServer) -> None:
    prefix = json.dumps(_body())[:-1]
    _assert_envelope(_chat(live_server, f'{prefix}, "x": {"7" * 5000}}}'.encode()), 400, "bad_request")
    inputs = json.dumps(_body()).replace('"Ada"', "9" * 5000).encode()
    _assert_envelope(_chat(live_server, inputs), 400, "bad_request")


def test_a_lone_surrogate_in_user(live_server: LiveServer) -> None:
    raw = json.dumps(_body(user="\ud800"), ensure_ascii=True).encode()
    assert b"\\ud800" in raw
    _assert_envelope(_chat(live_server, raw), 400, "bad_request")
    paired = json.dumps(_body(user="emoji-\U0001f600"), ensure_ascii=True).encode()
    assert _chat(live_server, paired).status_code == 200


def test_rename_and_variable_update_without_content_type(live_server: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {live_server.keys['chat']}"}
    created = _chat(live_server, json.dumps(_body()).encode())
    assert created.status_code == 200, created.text
    conversation = created.json()["conversation_id"]
    base = f"{live_server.base_url}/conversations/{conversation}"
    rename = httpx.post(
        base + "/name", headers=auth, content=b'{"name": "x", "user": "limits-user"}', timeout=10
    )
    _assert_envelope(rename, 415, "unsupported_media_type")
    update = httpx.put(
        base + "/variables/v1", headers=auth, content=b'{"value": "x", "user": "limits-user"}', timeout=10
    )
    _assert_envelope(update, 415, "unsupported_media_type")


def test_free_text_has_a_length_limit(live_server: LiveServer) -> None:
    r = _chat(live_server, json.dumps(_body(query="a" * 1_000_001)).encode())
    _assert_envelope(r, 400, "invalid_param")


def test_json_body_size_limit(live_server: LiveServer) -> None:
    r = _chat(live_server, json.dumps(_body(query="a" * (5 * 1024 * 1024))).encode())
    _assert_envelope(r, 413, "request_entity_too_large")

    def chunks() -> object:
        yield json.dumps(_body())[:-1].encode()
        for _ in range(5):
            yield b', "pad": "' + b"b" * (1024 * 1024) + b'"'
        yield b"}"

    streamed = httpx.post(
        live_server.base_url + "/chat-messages",
        headers={"Authorization": f"Bearer {live_server.keys['chat']}", "Content-Type": "application/json"},
        content=chunks(),  # type: ignore[arg-type]
        timeout=30,
    )
    _assert_envelope(streamed, 413, "request_entity_too_large")
