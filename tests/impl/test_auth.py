"""Keys: hashed storage, revocation, disabled apps, app scoping — on a live server."""

from __future__ import annotations

import hashlib
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


def _get(server: LiveServer, path: str, key: str) -> httpx.Response:
    return httpx.get(server.base_url + path, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)


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
        resp = _get(live_server, "/info", token)
        assert resp.status_code == 403
        assert resp.json() == {
            "code": "forbidden",
            "message": "The app's API service has been disabled.",
            "status": 403,
        }
        await store.set_api_enabled(db, app.id, True)
        assert _get(live_server, "/info", token).status_code == 200
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
        resp = _get(live_server, "/info", token)
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
    """The server caches parsed app versions, never an app's status: an abnormal app is refused
    at once, and a newly imported version is what the next request sees."""
    db = _db(live_server)
    try:
        dsl = (EXAMPLES / "chat.yml").read_text()
        app, _version = await store.import_app(db, dsl)
        token, _info = await keys.create_key(db, app.id)
        first = _get(live_server, "/parameters", token)
        assert first.status_code == 200
        assert first.json()["opening_statement"] == "Hello! Ask me anything."
        await store.import_app(db, dsl.replace("Hello! Ask me anything.", "A new greeting."), app.id)
        assert _get(live_server, "/parameters", token).json()["opening_statement"] == "A new greeting."
        async with db.transaction() as session:
            row = await session.get(App, app.id)
            assert row is not None
            row.status = "banned"
        resp = _get(live_server, "/parameters", token)
        assert resp.status_code == 403
        assert resp.json() == {"code": "forbidden", "message": "The app's status is abnormal.", "status": 403}
        assert _get(live_server, "/parameters", "app-" + "x" * 24).status_code == 401
        assert _get(live_server, "/parameters", "not-a-key").status_code == 401
    finally:
        await db.dispose()
