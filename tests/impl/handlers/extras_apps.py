"""Helpers of the chat-extras tests: install apps built from the example DSLs into a live server."""

from __future__ import annotations

import asyncio
import copy
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml
from support.server import LiveServer

from impl.db.engine import Database
from impl.services.apps import keys, store
from impl.services.apps.dsl import MODES

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "apps"
# The fake OpenAI-style server lives with the provider tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers"))
TIMEOUT = 15.0


def example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    return doc


def dsl(base: str = "chat.yml", *, mode: str | None = None, **model_config: Any) -> str:
    """An example DSL with `model_config` keys replaced (and optionally another mode)."""
    doc = copy.deepcopy(example(base))
    if mode is not None:
        doc["app"]["mode"] = mode
    doc["model_config"].update(model_config)
    return yaml.safe_dump(doc, allow_unicode=True)


def database_url(server: LiveServer) -> str:
    return server.env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{(server.data_dir / 'dify.db').resolve()}"


def install(server: LiveServer, dsl_text: str) -> str:
    """Import a DSL into the server's database and return a fresh key of the new app."""

    async def work() -> str:
        db = Database(database_url(server))
        try:
            app, _version = await store.import_app(db, dsl_text, runnable=frozenset(MODES))
            token, _info = await keys.create_key(db, app.id)
            return token
        finally:
            await db.dispose()

    return asyncio.run(work())


def client(server: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)


REPO = EXAMPLES.parents[1]
_VALIDATOR: Any = None


def stream_events(
    http: httpx.Client, body: dict[str, Any], path: str = "/chat-messages"
) -> list[dict[str, Any]]:
    """POST a streaming request and return its parsed events (pings as `{"event": "ping"}`)."""
    from impl.sse import parse_frames

    with http.stream("POST", path, json={**body, "response_mode": "streaming"}) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        text = resp.read().decode("utf-8")
    return [e if e is not None else {"event": "ping"} for e in parse_frames(text)]


def check_stream(mode: str, events: list[dict[str, Any]]) -> None:
    """Every event validates against the mode's union and the order follows its grammar."""
    global _VALIDATOR
    from conformance.grammar import EventValidator, check_sequence, load_grammar

    source = REPO / "spec" / "events.schema.json"
    if _VALIDATOR is None:
        _VALIDATOR = EventValidator(source)
    for event in events:
        assert _VALIDATOR.errors(event, f"stream_{mode}") == [], event
    assert check_sequence(load_grammar(source, mode), events) == []
