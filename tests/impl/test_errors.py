"""The error envelope on a live server: every failure is JSON {code, message, status}."""

from __future__ import annotations

import socket

import httpx
import pytest
from support.server import LiveServer

TIMEOUT = 10.0


def _envelope(resp: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"code", "message", "status"}
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert "\n" not in str(body["message"])
    return dict(body)


def _auth(server: LiveServer, mode: str = "chat") -> dict[str, str]:
    return {"Authorization": f"Bearer {server.keys[mode]}"}


def test_malformed_json_is_bad_request(live_server: LiveServer) -> None:
    resp = httpx.post(
        live_server.base_url + "/chat-messages",
        content=b'{"query": ',
        headers={**_auth(live_server), "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    body = _envelope(resp, 400, "bad_request")
    assert body["message"] == "Invalid JSON payload received or JSON payload is empty."


def test_empty_json_body_is_bad_request(live_server: LiveServer) -> None:
    resp = httpx.post(
        live_server.base_url + "/chat-messages",
        content=b"",
        headers={**_auth(live_server), "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    _envelope(resp, 400, "bad_request")


def test_non_utf8_body_is_bad_request(live_server: LiveServer) -> None:
    resp = httpx.post(
        live_server.base_url + "/chat-messages",
        content=b'{"query": "\xff\xfe", "inputs": {}, "user": "u"}',
        headers={**_auth(live_server), "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    _envelope(resp, 400, "bad_request")


def test_schema_violation_is_invalid_param_on_one_line(live_server: LiveServer) -> None:
    resp = httpx.post(
        live_server.base_url + "/chat-messages",
        json={"query": "hi", "inputs": {}, "user": "u", "response_mode": "sideways"},
        headers=_auth(live_server),
        timeout=TIMEOUT,
    )
    body = _envelope(resp, 400, "invalid_param")
    assert "response_mode" in str(body["message"])


def test_wrong_content_type_is_415(live_server: LiveServer) -> None:
    resp = httpx.post(
        live_server.base_url + "/chat-messages",
        content=b"query=hi",
        headers={**_auth(live_server), "Content-Type": "text/plain"},
        timeout=TIMEOUT,
    )
    _envelope(resp, 415, "unsupported_media_type")


def test_wrong_method_is_405(live_server: LiveServer) -> None:
    resp = httpx.put(live_server.base_url + "/info", headers=_auth(live_server), timeout=TIMEOUT)
    _envelope(resp, 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/no-such-route", "/v2/info"])
def test_unknown_path_is_json_404(live_server: LiveServer, path: str) -> None:
    url = live_server.base_url + path if not path.startswith("/v2") else live_server.base_url[:-3] + path
    resp = httpx.get(url, headers=_auth(live_server), timeout=TIMEOUT)
    _envelope(resp, 404, "not_found")


def test_oversized_declared_body_is_413(live_server: LiveServer) -> None:
    """A Content-Length above the limit is refused before the body is read."""
    host, port = "127.0.0.1", live_server.port
    request = (
        "POST /v1/chat-messages HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Authorization: Bearer {live_server.keys['chat']}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {500 * 1024 * 1024}\r\n"
        "Connection: close\r\n\r\n"
        '{"query": "'
    ).encode()
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b'"code": "request_entity_too_large"' in body
    assert b'"status": 413' in body


def test_oversized_streamed_body_is_413(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A chunked body that grows past the limit is cut off with 413."""
    from support.server import start_server

    server = start_server(tmp_path_factory.mktemp("small-limit"), env={"MAX_REQUEST_BODY_BYTES": "4096"})
    try:

        def chunks() -> object:
            for _ in range(16):
                yield b" " * 1024

        resp = httpx.post(
            server.base_url + "/chat-messages",
            content=chunks(),  # type: ignore[arg-type]
            headers={**_auth(server), "Content-Type": "application/json"},
            timeout=TIMEOUT,
        )
        _envelope(resp, 413, "request_entity_too_large")
        ok = httpx.get(server.base_url + "/info", headers=_auth(server), timeout=TIMEOUT)
        assert ok.status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Authorization header must be provided and start with 'Bearer'"),
        ("Bearer", "Authorization header must be provided and start with 'Bearer'"),
        ("Basic dXNlcjpwYXNz", "Authorization scheme must be 'Bearer'"),
        ("Bearer app-notarealkeynotarealkey00", "Access token is invalid"),
        ("Bearer dataset-abc", "Access token is invalid"),
        ("bearer app-notarealkeynotarealkey00", "Access token is invalid"),
    ],
)
def test_auth_failures_use_dify_messages(live_server: LiveServer, header: str | None, message: str) -> None:
    headers = {"Authorization": header} if header is not None else {}
    resp = httpx.get(live_server.base_url + "/info", headers=headers, timeout=TIMEOUT)
    body = _envelope(resp, 401, "unauthorized")
    assert body["message"] == message
    assert resp.headers["www-authenticate"] == 'Bearer realm="api"'


def test_auth_precedes_body_validation(live_server: LiveServer) -> None:
    resp = httpx.post(
        live_server.base_url + "/chat-messages",
        content=b"{",
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    _envelope(resp, 401, "unauthorized")


def test_mode_gate_rejects_other_modes(live_server: LiveServer) -> None:
    """A completion key on a chat-only route: not_chat_app, before the body is even validated."""
    resp = httpx.post(
        live_server.base_url + "/chat-messages",
        json={"not": "a valid body"},
        headers=_auth(live_server, "completion"),
        timeout=TIMEOUT,
    )
    body = _envelope(resp, 400, "not_chat_app")
    assert body["message"] == "Please check if your app mode matches the right API route."


def test_completion_route_on_chat_app_is_app_unavailable(live_server: LiveServer) -> None:
    resp = httpx.post(
        live_server.base_url + "/completion-messages",
        json={"inputs": {}, "user": "u"},
        headers=_auth(live_server, "chat"),
        timeout=TIMEOUT,
    )
    body = _envelope(resp, 400, "app_unavailable")
    assert body["message"] == "App unavailable, please check your app configurations."
