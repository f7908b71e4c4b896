"""create_app: welcome, served spec and UI, startup checks, graceful shutdown."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
import yaml
from support.server import LiveServer, start_server

from impl.app import create_app
from impl.config import DEFAULT_SPEC_PATH, Settings
from impl.routing import MissingHandlersError, mode_gates, operation, registry, spec_operations

TIMEOUT = 10.0


def test_welcome(live_server: LiveServer) -> None:
    resp = httpx.get(live_server.base_url + "/", timeout=TIMEOUT)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["welcome"] == "Dify OpenAPI"
    assert body["api_version"] == "v1"
    assert body["server_version"] == "0.1.0"


def test_served_spec_and_swagger_ui(live_server: LiveServer) -> None:
    spec = httpx.get(live_server.base_url + "/openapi.json", timeout=TIMEOUT)
    assert spec.status_code == 200
    served = spec.json()
    source = yaml.safe_load(DEFAULT_SPEC_PATH.read_text())
    assert set(spec_operations(served)) == set(spec_operations(source))
    ui = httpx.get(live_server.base_url + "/ui/", timeout=TIMEOUT)
    assert ui.status_code == 200
    assert "swagger" in ui.text.lower()


def test_every_spec_operation_is_served(live_server: LiveServer) -> None:
    """No operation answers the routing 404/405: each one reaches auth at least."""
    source = yaml.safe_load(DEFAULT_SPEC_PATH.read_text())
    for path, item in source["paths"].items():
        for method in item:
            if method not in ("get", "post", "put", "delete"):
                continue
            url = live_server.base_url + path.replace("{", "").replace("}", "")
            resp = httpx.request(method.upper(), url, timeout=TIMEOUT)
            if item[method].get("security") == []:
                # A keyless operation reaches its own checks: the tool-file download wants its
                # signed query parameters.
                assert resp.status_code in (200, 400), (method, path, resp.text)
                assert resp.status_code == 200 or resp.json()["code"] == "invalid_param", resp.text
            else:
                assert resp.status_code in (200, 401), (method, path, resp.text)


def test_startup_fails_listing_operations_without_handler(tmp_path: Path) -> None:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {"get": {"operationId": "noSuchHandlerA", "responses": {"200": {"description": "ok"}}}},
            "/b": {"get": {"operationId": "noSuchHandlerB", "responses": {"200": {"description": "ok"}}}},
        },
    }
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    with pytest.raises(MissingHandlersError) as info:
        create_app(Settings(data_dir=tmp_path, spec_path=spec_path))
    assert info.value.missing == ["noSuchHandlerA", "noSuchHandlerB"]
    assert "noSuchHandlerA, noSuchHandlerB" in str(info.value)


def test_duplicate_registration_is_refused() -> None:
    async def first() -> None: ...

    async def second() -> None: ...

    operation("testOnlyDuplicate")(first)
    with pytest.raises(RuntimeError, match="registered twice"):
        operation("testOnlyDuplicate")(second)
    assert registry()["testOnlyDuplicate"] is first


def test_mode_gates_come_from_the_spec() -> None:
    gates = mode_gates(yaml.safe_load(DEFAULT_SPEC_PATH.read_text()))
    modes, code = gates["sendChatMessage"]
    assert code == "not_chat_app" and "chat" in modes and "completion" not in modes
    assert gates["createCompletionMessage"][1] == "app_unavailable"


def test_sigterm_shuts_down_gracefully(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    assert server.startup_seconds < 30
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    # uvicorn finishes the lifespan, then re-raises the signal it caught.
    assert server.process.wait(timeout=15) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 10
    log = server.log()
    assert "Application shutdown complete." in log
    assert "Traceback" not in log
