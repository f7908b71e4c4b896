"""App API keys: `app-` + 24 alphanumerics, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from impl.db.engine import Database
from impl.db.models import ApiKey, App, utcnow
from impl.errors import ApiError, not_found

KEY_PREFIX = "app-"
KEY_BODY_LENGTH = 24
KEY_PATTERN = re.compile(r"^app-[A-Za-z0-9]{24}$")
_ALPHABET = string.ascii_letters + string.digits
# last_used_at is written at most this often per key, to keep reads cheap.
LAST_USED_GRANULARITY = timedelta(seconds=60)


@dataclass(frozen=True)
class KeyInfo:
    id: str
    app_id: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def generate_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(KEY_BODY_LENGTH))


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: str) -> bool:
    return bool(KEY_PATTERN.match(token))


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.app_id, row.prefix, row.created_at, row.last_used_at, row.revoked_at)


async def create_key(db: Database, app_id: str) -> tuple[str, KeyInfo]:
    """Create a key for the app; returns the plain key (shown once) and its stored record."""
    async with db.transaction() as session:
        if await session.get(App, app_id) is None:
            raise not_found(f"App {app_id} not found.")
        token = generate_key()
        row = ApiKey(app_id=app_id, token_hash=hash_key(token), prefix=token[:8])
        session.add(row)
        await session.flush()
        return token, _info(row)


async def list_keys(
    db: Database, app_id: str | None = None, *, include_revoked: bool = True
) -> list[KeyInfo]:
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if app_id is not None:
        stmt = stmt.where(ApiKey.app_id == app_id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    async with db.session() as session:
        return [_info(row) for row in (await session.scalars(stmt)).all()]


async def revoke_key(db: Database, key_id_or_token: str) -> KeyInfo:
    """Revoke by key id or by the plain key itself."""
    async with db.transaction() as session:
        row = await session.get(ApiKey, key_id_or_token)
        if row is None and well_formed(key_id_or_token):
            row = await session.scalar(select(ApiKey).where(ApiKey.token_hash == hash_key(key_id_or_token)))
        if row is None:
            raise ApiError("not_found", f"API key {key_id_or_token} not found.", 404)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return _info(row)


def matches(row: ApiKey | None, digest: str) -> bool:
    """The stored key is `digest`'s (compared in constant time) and not revoked."""
    return row is not None and hmac.compare_digest(row.token_hash, digest) and row.revoked_at is None


async def touch(session: AsyncSession, row: ApiKey) -> None:
    """Record a use of the key, at most once per `LAST_USED_GRANULARITY` (commits when it writes)."""
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
        row.last_used_at = now
        await session.commit()


async def find_active_key(db: Database, token: str) -> KeyInfo | None:
    """The active key record matching `token`, or None; records its last use."""
    if not well_formed(token):
        return None
    digest = hash_key(token)
    async with db.session() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.token_hash == digest))
        if row is None or not matches(row, digest):
            return None
        await touch(session, row)
        return _info(row)
