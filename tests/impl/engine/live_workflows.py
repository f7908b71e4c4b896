"""Helpers of the workflow / chatflow integration tests: a live server whose http-request
allow-list admits 127.0.0.1, example installation, streaming calls checked against the grammars."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from support.server import LiveServer, start_server

from conformance.grammar import (
    EventValidator,
    check_sequence,
    endings_matched,
    load_events_document,
    load_grammar,
)
from impl.db.engine import Database
from impl.services.apps import keys, store

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples" / "apps"
DOC = load_events_document(REPO / "spec" / "events.schema.json")
VALIDATOR = EventValidator(DOC)
TIMEOUT = 15.0


@contextmanager
def workflow_server(
    data_dir: Path, database_url: str | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    env = {"HTTP_REQUEST_ALLOWED_HOSTS": "127.0.0.1", **(extra_env or {})}
    if database_url:
        env["DATABASE_URL"] = database_url
    server = start_server(data_dir, env=env)
    try:
        yield server
    finally:
        server.stop()


def database_url(server: LiveServer) -> str:
    return server.env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{(server.data_dir / 'dify.db').resolve()}"


def example_text(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def example_doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(example_text(name))
    return doc


def install(server: LiveServer, dsl_text: str, app_id: str | None = None) -> tuple[str, str, str]:
    """Import a DSL (a new app, or a new version of `app_id`); returns (key, app id, version id)."""

    async def work() -> tuple[str, str, str]:
        db = Database(database_url(server))
        try:
            app, version = await store.import_app(db, dsl_text, app_id)
            token = ""
            if app_id is None:
                token, _info = await keys.create_key(db, app.id)
            return token, app.id, version.id
        finally:
            await db.dispose()

    return asyncio.run(work())


def import_error(server: LiveServer, dsl_text: str) -> str:
    """The message import fails with (the test expects a failure)."""
    try:
        install(server, dsl_text)
    except ValueError as exc:
        return str(exc)
    raise AssertionError("the import was expected to fail")


def client(server: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)


def read_sse(resp: httpx.Response, on_event: Any = None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    buffer = b""
    for chunk in resp.iter_bytes():
        buffer += chunk
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            text = frame.decode("utf-8")
            if text == "event: ping":
                events.append({"event": "ping"})
                continue
            assert text.startswith("data: ") and "\n" not in text, text
            event = json.loads(text[6:])
            events.append(event)
            if on_event is not None:
                on_event(event)
    assert buffer == b""
    return events


def stream(
    server: LiveServer,
    key: str,
    path: str,
    body: dict[str, Any],
    *,
    method: str = "POST",
    on_event: Any = None,
    params: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Call a streaming endpoint; every read is bounded."""
    timeout = httpx.Timeout(10.0, read=TIMEOUT)
    with (
        httpx.Client(timeout=timeout) as http,
        http.stream(
            method,
            server.base_url + path,
            json=body if method != "GET" else None,
            params=params,
            headers={"Authorization": f"Bearer {key}"},
        ) as resp,
    ):
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        return read_sse(resp, on_event)


def check_stream(events: list[dict[str, Any]], grammar: str, union: str | None = None) -> list[str]:
    """Schema-check every event and the sequence against a grammar; returns the matched endings."""
    union = union or f"stream_{grammar}"
    for event in events:
        if event["event"] == "ping":
            continue
        assert VALIDATOR.errors(event) == [], (event, VALIDATOR.errors(event))
        assert VALIDATOR.errors(event, union) == [], (event["event"], VALIDATOR.errors(event, union))
    spec = load_grammar(DOC, grammar)
    violations = check_sequence(spec, events, complete=True)
    assert violations == [], [str(v) for v in violations]
    return endings_matched(spec, events)


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events if e["event"] != "ping"]


def node_ids(events: list[dict[str, Any]], event: str = "node_started") -> list[str]:
    return [e["data"]["node_id"] for e in events if e["event"] == event]


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
