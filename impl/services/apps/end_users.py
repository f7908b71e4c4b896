"""End users: one per (app, `user` string), created on first use, as Dify does."""

from __future__ import annotations

import uuid
import weakref
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from impl.db.engine import Database
from impl.db.models import EndUser, to_iso
from impl.errors import not_found

DEFAULT_USER = "DEFAULT-USER"
SERVICE_API = "service-api"


async def get_or_create(db: Database, app_id: str, user: str) -> EndUser:
    """The end user `user` of the app, created (type service-api) when absent."""
    async with db.session() as session:
        return await get_or_create_in(session, app_id, user)


async def get_or_create_in(session: AsyncSession, app_id: str, user: str) -> EndUser:
    """`get_or_create` in the caller's session (which must have nothing pending): a created or
    retyped end user is committed at once, whatever the caller does with the session next."""
    stmt = select(EndUser).where(EndUser.app_id == app_id, EndUser.session_id == user)
    found = await session.scalar(stmt)
    if found is not None:
        if found.type != SERVICE_API:
            found.type = SERVICE_API
            await session.commit()
        return found
    row = EndUser(
        app_id=app_id,
        type=SERVICE_API,
        session_id=user,
        external_user_id=user,
        is_anonymous=user == DEFAULT_USER,
    )
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        # Another request created it first.
        await session.rollback()
        existing = await session.scalar(stmt)
        if existing is None:
            raise
        return existing
    return row


# End user ids already seen, per engine: (app id, `user`) -> id.  An end user row is never deleted
# or moved to another app, so a known id stays right; a new turn's start needs only the id.
_known_ids: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], str]] = weakref.WeakKeyDictionary()
KNOWN_IDS_MAX = 10_000


def known_end_user_id(engine: Any, app_id: str, user: str) -> str | None:
    """The id of the end user `user` of the app, when this process has seen it on `engine`."""
    known = _known_ids.get(engine)
    return None if known is None else known.get((app_id, user))


async def end_user_id_in(session: AsyncSession, app_id: str, user: str) -> str:
    """The id of `get_or_create_in`'s end user, from memory when this process saw it already
    (no query: a thousand turns starting at once do not each read the same row)."""
    found = known_end_user_id(session.bind, app_id, user)
    if found is not None:
        return found
    row = await get_or_create_in(session, app_id, user)
    known = _known_ids.setdefault(session.bind, {})
    if len(known) >= KNOWN_IDS_MAX:
        known.clear()
    known[(app_id, user)] = row.id
    return row.id


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def get_end_user(db: Database, app_id: str, end_user_id: str) -> EndUser:
    """The end user with this id, when it belongs to the app; else 404 end_user_not_found."""
    if _is_uuid(end_user_id):
        async with db.session() as session:
            row = await session.get(EndUser, end_user_id.lower())
            if row is not None and row.app_id == app_id:
                return row
    raise not_found("End user not found.", code="end_user_not_found")


def end_user_json(row: EndUser) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenant_id": row.tenant_id,
        "app_id": row.app_id,
        "type": row.type,
        "external_user_id": row.external_user_id,
        "name": row.name,
        "is_anonymous": row.is_anonymous,
        "session_id": row.session_id,
        "created_at": to_iso(row.created_at),
        "updated_at": to_iso(row.updated_at),
    }
