"""Who is asking: the app context of the key and the end user named by `user`."""

from __future__ import annotations

from impl import runtime
from impl.db.models import EndUser
from impl.services.apps import AppContext
from impl.services.end_users import get_or_create

AppScope = AppContext


async def end_user_for(ctx: AppScope, user: str) -> EndUser:
    """The end user `user` of this app (created on first use, as Dify does)."""
    return await get_or_create(runtime.current().database, ctx.app_id, user)
