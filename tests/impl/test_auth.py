"""Keys: hashed storage, revocation, disabled apps, app scoping — on a live server.

A worker reuses a resolved key for `KEY_CACHE_SECONDS` (1 s by default, never more), so changes
made behind the server's back (revocation, a disabled app, a new version) apply within that bound:
these tests wait for them at most `BOUND` seconds and check they did not apply early by accident."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import select
from support.server import LiveServer

from impl.db.engine import Database
from impl.db.models import ApiKey, App
from impl.services.apps import end_users, keys, store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "apps"
TIMEOUT = 10.0


def _db(server: LiveServer) -> Database:
    return Database(f"sqlite+aiosqlite:///{server.data_dir / 'dify.db'}")


# The documented bound (1 s) plus the time of one request on a loaded machine.
BOUND = 1.0 + 0.5


def _get(server: LiveServer, path: str, key: str) -> httpx.Response:
    return httpx.get(server.base_url + path, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)


def _within_bound(
    server: LiveServer, path: str, key: str, done: Callable[[httpx.Response], bool]
) -> httpx.Response:
    """The first answer for which `done` holds, polling for at most BOUND seconds after the change."""
    deadline = time.monotonic() + BOUND
    while True:
        resp = _get(server, path, key)
        if done(resp) or time.monotonic() > deadline:
            return resp
        time.sleep(0.05)


async def test_keys_are_stored_hashed(live_server: LiveServer) -> None:
    db = _db(live_server)
    try:
        token = live_server.keys["chat"]
        async with db.session() as session:
            rows = (await session.scalars(select(ApiKey))).all()
        assert rows
        assert all(token not in (r.token_hash, r.prefix, r.id) for r in rows)
        assert hashlib.sha256(token.encode()).hexdigest() in {r.token_hash for r in rows}
        assert any(r.prefix == token[:8] for r in rows)
        found = await keys.find_active_key(db, token)
        assert found is not None and found.last_used_at is not None
    finally:
        await db.dispose()


async def test_disabled_app_is_forbidden(live_server: LiveServer) -> None:
    db = _db(live_server)
    try:
        app, _version = await store.import_app(db, (EXAMPLES / "chat.yml").read_text())
        token, _info = await keys.create_key(db, app.id)
        assert _get(live_server, "/info", token).status_code == 200
        await store.set_api_enabled(db, app.id, False)
        resp = _within_bound(live_server, "/info", token, lambda r: r.status_code != 200)
        assert resp.status_code == 403
        assert resp.json() == {
            "code": "forbidden",
            "message": "The app's API service has been disabled.",
            "status": 403,
        }
        await store.set_api_enabled(db, app.id, True)
        assert _within_bound(live_server, "/info", token, lambda r: r.status_code == 200).status_code == 200
    finally:
        await db.dispose()


async def test_revoked_key_is_refused(live_server: LiveServer) -> None:
    db = _db(live_server)
    try:
        found = await keys.find_active_key(db, live_server.keys["completion"])
        assert found is not None
        token, info = await keys.create_key(db, found.app_id)
        assert _get(live_server, "/info", token).status_code == 200
        await keys.revoke_key(db, info.id)
        resp = _within_bound(live_server, "/info", token, lambda r: r.status_code != 200)
        assert resp.status_code == 401
        assert resp.json()["message"] == "Access token is invalid"
        assert _get(live_server, "/info", live_server.keys["completion"]).status_code == 200
    finally:
        await db.dispose()


async def test_end_user_of_another_app_is_not_found(live_server: LiveServer) -> None:
    db = _db(live_server)
    try:
        chat_key = await keys.find_active_key(db, live_server.keys["chat"])
        assert chat_key is not None
        alice = await end_users.get_or_create(db, chat_key.app_id, "alice")
        own = _get(live_server, f"/end-users/{alice.id}", live_server.keys["chat"])
        assert own.status_code == 200 and own.json()["session_id"] == "alice"
        other = _get(live_server, f"/end-users/{alice.id}", live_server.keys["completion"])
        assert other.status_code == 404
        assert other.json()["code"] == "end_user_not_found"
    finally:
        await db.dispose()


async def test_app_status_and_new_versions_apply_on_the_next_request(live_server: LiveServer) -> None:
    """Parsed app versions are cached for good; an app's status and current version only for the
    key bound: an abnormal app is refused, and a newly imported version served, within it."""
    db = _db(live_server)
    try:
        dsl = (EXAMPLES / "chat.yml").read_text()
        app, _version = await store.import_app(db, dsl)
        token, _info = await keys.create_key(db, app.id)
        first = _get(live_server, "/parameters", token)
        assert first.status_code == 200
        assert first.json()["opening_statement"] == "Hello! Ask me anything."
        await store.import_app(db, dsl.replace("Hello! Ask me anything.", "A new greeting."), app.id)
        greeting = _within_bound(
            live_server,
            "/parameters",
            token,
            lambda r: r.json()["opening_statement"] != "Hello! Ask me anything.",
        )
        assert greeting.json()["opening_statement"] == "A new greeting."
        async with db.transaction() as session:
            row = await session.get(App, app.id)
            assert row is not None
            row.status = "banned"
        resp = _within_bound(live_server, "/parameters", token, lambda r: r.status_code != 200)
        assert resp.status_code == 403
        assert resp.json() == {"code": "forbidden", "message": "The app's status is abnormal.", "status": 403}
        assert _get(live_server, "/parameters", "app-" + "x" * 24).status_code == 401
        assert _get(live_server, "/parameters", "not-a-key").status_code == 401
    finally:
        await db.dispose()


def test_the_key_cache_never_outlives_one_second() -> None:
    from impl.config import Settings

    assert Settings.from_env({}).key_cache_seconds == 1.0
    assert Settings.from_env({"KEY_CACHE_SECONDS": "30"}).key_cache_seconds == 1.0
    assert Settings.from_env({"KEY_CACHE_SECONDS": "0"}).key_cache_seconds == 0.0
