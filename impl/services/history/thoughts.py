"""Stored agent thoughts, read back for `GET /messages` (`agent_thoughts` of each message).

Reading needs only the stored rows: this module does not import the agent loop that writes them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from impl.db.chat_extras_models import AgentThoughtRow
from impl.db.models import to_unix


def thought_json(row: AgentThoughtRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "chain_id": None,
        "message_id": row.message_id,
        "position": row.position,
        "thought": row.thought,
        "tool": row.tool,
        "tool_labels": dict(row.tool_labels or {}),
        "tool_input": row.tool_input,
        "observation": row.observation,
        "files": [str(f) for f in row.files or []],
        "created_at": to_unix(row.created_at),
    }


async def thoughts_for(session: AsyncSession, message_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Stored thoughts of these messages, by message id, in position order (for GET /messages)."""
    if not message_ids:
        return {}
    rows = (
        await session.scalars(
            select(AgentThoughtRow)
            .where(AgentThoughtRow.message_id.in_(message_ids))
            .order_by(AgentThoughtRow.message_id, AgentThoughtRow.position)
        )
    ).all()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.message_id, []).append(thought_json(row))
    return out
