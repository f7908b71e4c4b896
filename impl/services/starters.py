"""The chat-mode starters: which service starts a turn of each app mode.

`POST /chat-messages` and `POST /completion-messages` serve several app modes; each mode's turn is
started by one function, listed here in one table (as the engine lists its node types). The app
factory checks the table against the spec at startup: every mode that an operation generating
messages declares in `x-app-modes` must have a starter, so no behaviour depends on which module
happened to be imported first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impl.errors import ApiError
from impl.services.agent.loop import start_agent_chat
from impl.services.apps.scope import AppScope
from impl.services.turns.features import start_chat
from impl.services.turns.generation import GenerateParams, RunningGeneration, Starter
from impl.services.workflows.chatflow import start_turn

# The operations that start a turn: every mode they serve needs a starter.
GENERATING_OPERATIONS = ("sendChatMessage", "sendCompletionMessage")

STARTERS: Mapping[str, Starter] = {
    "chat": start_chat,  # annotation reply, moderation, TTS autoplay around the model
    "completion": start_chat,  # the same pipeline; completion apps have no annotation reply
    "agent-chat": start_agent_chat,  # the tool-calling loop
    "advanced-chat": start_turn,  # the chatflow graph behind a chat turn
}


async def start_for_mode(ctx: AppScope, user: str, params: GenerateParams) -> RunningGeneration:
    """Start a turn of the key's app with its mode's starter."""
    starter = STARTERS.get(ctx.mode)
    if starter is None:
        raise ApiError("app_unavailable", f"App mode {ctx.mode!r} cannot generate messages.", 400)
    return await starter(ctx, user, params)


def modes_without_starter(spec: Mapping[str, Any]) -> list[str]:
    """The modes that a generating operation of `spec` serves but this table cannot start."""
    missing: set[str] = set()
    for path_item in (spec.get("paths") or {}).values():
        for operation in path_item.values():
            if isinstance(operation, Mapping) and operation.get("operationId") in GENERATING_OPERATIONS:
                missing.update(m for m in operation.get("x-app-modes") or () if m not in STARTERS)
    return sorted(missing)
