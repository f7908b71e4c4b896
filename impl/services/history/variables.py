"""Chatflow conversation variables: created from the DSL per conversation, read by the graph,
written by assigner nodes and by `PUT /conversations/{id}/variables/{variable_id}` (type-checked)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from impl import runtime
from impl.db.models import to_unix, utcnow
from impl.db.workflow_models import ConversationVariable
from impl.errors import bad_request, invalid_param, not_found
from impl.services.apps.scope import end_user_for
from impl.services.apps.store import AppContext
from impl.services.history.conversations import visible_conversation

VARIABLE_NOT_EXISTS = "Conversation Variable Not Exists."
_NAMESPACE = uuid.UUID("5b0c6f7e-5d0e-4a53-9a3c-2d54c1f0e6a1")
PY_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", dict: "dict", list: "list"}


def _default(value_type: str) -> Any:
    if value_type.startswith("array"):
        return []
    if value_type == "object":
        return {}
    if value_type == "number":
        return 0
    if value_type == "boolean":
        return False
    return ""


def variable_id(app_id: str, raw_id: Any, name: str) -> str:
    try:
        return str(uuid.UUID(str(raw_id)))
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, f"{app_id}:{name}"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def matches(value_type: str, value: Any) -> bool:
    """Whether `value` fits a declared type (an integer is a number)."""
    if value_type in ("string", "secret"):
        return isinstance(value, str)
    if value_type == "number":
        return _is_number(value)
    if value_type == "boolean":
        return isinstance(value, bool)
    if value_type == "object":
        return isinstance(value, dict)
    if value_type.startswith("array"):
        if not isinstance(value, list):
            return False
        inner = value_type[6:-1] if value_type.endswith("]") else ""
        return all(matches(inner, v) for v in value) if inner else True
    return True


def _type_name(value: Any) -> str:
    return PY_TYPE_NAMES.get(type(value), type(value).__name__) if value is not None else "NoneType"


def mismatch(name: str, value_type: str, value: Any) -> str:
    return f"Type mismatch: variable '{name}' expects {value_type}, but got {_type_name(value)} type"


async def create_for(session: AsyncSession, app_id: str, conversation_id: str, declared: Any) -> None:
    """Create the declared variables a conversation does not have yet (all of them for a new
    conversation; those added by a later version of the app for an existing one)."""
    now = utcnow()
    existing = set(
        (
            await session.scalars(
                select(ConversationVariable.name).where(
                    ConversationVariable.conversation_id == conversation_id
                )
            )
        ).all()
    )
    for item in declared or []:
        if not isinstance(item, Mapping) or not item.get("name") or str(item["name"]) in existing:
            continue
        name = str(item["name"])
        value_type = str(item.get("value_type") or "string")
        value = item.get("value")
        if value is None or not matches(value_type, value):
            value = _default(value_type) if value is None else value
        session.add(
            ConversationVariable(
                id=variable_id(app_id, item.get("id"), name),
                conversation_id=conversation_id,
                app_id=app_id,
                name=name,
                value_type=value_type,
                value=value,
                description=str(item.get("description") or ""),
                created_at=now,
                updated_at=now,
            )
        )
    await session.flush()


async def values_of(session: AsyncSession, conversation_id: str) -> dict[str, Any]:
    rows = (
        await session.scalars(
            select(ConversationVariable).where(ConversationVariable.conversation_id == conversation_id)
        )
    ).all()
    return {r.name: r.value for r in rows}


async def write(conversation_id: str, name: str, value: Any) -> None:
    """An assigner node wrote a conversation variable."""
    async with runtime.current().database.transaction() as session:
        row = await session.scalar(
            select(ConversationVariable).where(
                ConversationVariable.conversation_id == conversation_id, ConversationVariable.name == name
            )
        )
        if row is None:
            return
        if not matches(row.value_type, value):
            raise ValueError(mismatch(name, row.value_type, value))
        row.value = value
        row.updated_at = utcnow()


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def variable_json(row: ConversationVariable) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "value_type": row.value_type,
        "value": _text(row.value),
        "description": row.description or "",
        "created_at": to_unix(row.created_at),
        "updated_at": to_unix(row.updated_at),
    }


async def list_variables(
    ctx: AppContext, user: str, conversation_id: str, *, last_id: str | None, limit: int, name: str | None
) -> dict[str, Any]:
    end_user = await end_user_for(ctx, user)
    async with runtime.current().database.session() as session:
        conversation = await visible_conversation(session, ctx, end_user.id, conversation_id)
        rows = list(
            (
                await session.scalars(
                    select(ConversationVariable)
                    .where(ConversationVariable.conversation_id == conversation.id)
                    .order_by(ConversationVariable.created_at.asc(), ConversationVariable.id.asc())
                )
            ).all()
        )
    if name:
        rows = [r for r in rows if name.lower() in r.name.lower()]
    if last_id:
        ids = [r.id for r in rows]
        if last_id not in ids:
            if ctx.mode != "advanced-chat":
                # Chat and agent-chat apps declare no conversation variables at all.
                raise not_found(VARIABLE_NOT_EXISTS)
            raise invalid_param("last_id does not name a variable of this conversation")
        rows = rows[ids.index(last_id) + 1 :]
    return {"limit": limit, "has_more": len(rows) > limit, "data": [variable_json(r) for r in rows[:limit]]}


async def update_variable(
    ctx: AppContext, user: str, conversation_id: str, variable_id_: str, value: Any
) -> dict[str, Any]:
    end_user = await end_user_for(ctx, user)
    async with runtime.current().database.transaction() as session:
        conversation = await visible_conversation(session, ctx, end_user.id, conversation_id)
        row = await session.get(ConversationVariable, (variable_id_, conversation.id))
        if row is None:
            raise not_found(VARIABLE_NOT_EXISTS)
        if not matches(row.value_type, value):
            raise bad_request(mismatch(row.name, row.value_type, value))
        row.value = value
        row.updated_at = utcnow()
        await session.flush()
        return variable_json(row)
