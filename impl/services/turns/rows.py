"""The rows of a conversation turn: the conversation it starts or continues, its message and the
files the user sent, and the model's memory of the turns before it.

Chat, completion and agent-chat turns (`turns.generation`) and chatflow turns
(`workflows.chatflow`) write and read their conversations through these functions.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from impl.db.models import Conversation, Message, MessageFile, new_id
from impl.db.writer import Statement
from impl.errors import ApiError, invalid_param, not_found
from impl.providers import PromptMessage
from impl.services.apps.scope import AppScope
from impl.services.media.files import RequestFile

NEW_CONVERSATION_NAME = "New conversation"
CONVERSATION_NOT_FOUND = "Conversation Not Exists."


def parse_conversation_id(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid_param("conversation_id must be a valid UUID")
    text = raw.strip()
    if not text:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise invalid_param("conversation_id must be a valid UUID") from None


async def conversation_history(
    session: AsyncSession, conversation_id: str, turns: int
) -> list[PromptMessage]:
    """The model's memory of a conversation: its last `turns` turns that did not fail, oldest
    first, as user / assistant prompt messages (a turn without an answer gives only its query)."""
    if turns <= 0:
        return []
    rows = (
        await session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.status == "normal")
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(turns)
        )
    ).all()
    history: list[PromptMessage] = []
    for row in reversed(rows):
        history.append(PromptMessage("user", row.query))
        if row.answer:
            history.append(PromptMessage("assistant", row.answer))
    return history


def check_conversation(conversation: Conversation | None, app_id: str, end_user_id: str) -> Conversation:
    """The conversation a new turn continues: 404 unless it is this app's and this user's and not
    deleted; 400 `conversation_completed` once it has ended."""
    if (
        conversation is None
        or conversation.app_id != app_id
        or conversation.end_user_id != end_user_id
        or conversation.is_deleted
    ):
        raise not_found(CONVERSATION_NOT_FOUND)
    if conversation.status != "normal":
        raise ApiError(
            "conversation_completed", "The conversation has ended. Please start a new conversation.", 400
        )
    return conversation


def _conversation_values(
    ctx: AppScope, version_id: str | None, end_user_id: str, inputs: dict[str, Any], introduction: str,
    now: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The columns of a new conversation (`add_conversation`'s row, or a first turn's INSERT)."""
    return {
        "id": new_id(),
        "app_id": ctx.app_id,
        "app_version_id": version_id,
        "end_user_id": end_user_id,
        "name": NEW_CONVERSATION_NAME,
        "inputs": inputs,
        "introduction": introduction,
        "mode": ctx.mode,
        "created_at": now,
        "updated_at": now,
    }


def _message_values(
    app_id: str, version_id: str | None, conversation_id: str, end_user_id: str | None, *,
    parent_message_id: str | None, query: str, inputs: dict[str, Any], task_id: str,
    trace_id: str | None, now: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The columns of a new turn's message, no answer yet (`add_message`'s row, or a first turn's
    INSERT)."""
    return {
        "id": new_id(),
        "app_id": app_id,
        "app_version_id": version_id,
        "conversation_id": conversation_id,
        "end_user_id": end_user_id,
        "parent_message_id": parent_message_id,
        "query": query,
        "inputs": inputs,
        "answer": "",
        "status": "normal",
        "task_id": task_id,
        "trace_id": trace_id,
        "created_at": now,
        "updated_at": now,
    }


async def add_conversation(
    session: AsyncSession,
    ctx: AppScope,
    version_id: str | None,
    end_user_id: str,
    inputs: dict[str, Any],
    introduction: str,
    now: datetime,
) -> Conversation:
    """Store a new conversation of this app and end user, named `New conversation` until a title
    is generated; it keeps the first turn's inputs for the later turns."""
    conversation = Conversation(
        **_conversation_values(ctx, version_id, end_user_id, inputs, introduction, now)
    )
    # Not flushed here: the id is set, and the row goes to the database with the first message
    # (or with any earlier query, through autoflush).
    session.add(conversation)
    return conversation


_INSERT_CONVERSATION = insert(Conversation.metadata.tables[Conversation.__tablename__])
_INSERT_MESSAGE = insert(Message.metadata.tables[Message.__tablename__])


def first_turn_statements(
    ctx: AppScope,
    version_id: str | None,
    end_user_id: str,
    *,
    inputs: dict[str, Any],
    introduction: str,
    query: str,
    task_id: str,
    trace_id: str | None,
    now: datetime,
) -> tuple[list[Statement], str, str]:
    """The rows `add_conversation` and `add_message` store for a new conversation's first turn
    (no files), as plain INSERTs for a `Statements` write: (statements, message id, conversation
    id). In a batch of the SQLite writer the first turns of many conversations are then three
    executemany statements, without the ORM's unit of work."""
    # The ORM path counts the turn on the conversation (`add_message`); here it is written as 1.
    conversation = {
        **_conversation_values(ctx, version_id, end_user_id, inputs, introduction, now),
        "dialogue_count": 1,
    }
    message = _message_values(
        ctx.app_id, version_id, conversation["id"], end_user_id, parent_message_id=None, query=query,
        inputs=inputs, task_id=task_id, trace_id=trace_id, now=now,
    )  # fmt: skip
    statements: list[Statement] = [(_INSERT_CONVERSATION, conversation), (_INSERT_MESSAGE, message)]
    return statements, message["id"], conversation["id"]


_ADDED_MESSAGES = "turns.added_messages"  # the key of `add_message`'s index in `session.info`


async def add_message(
    session: AsyncSession,
    conversation: Conversation,
    *,
    version_id: str | None,
    query: str,
    inputs: dict[str, Any],
    task_id: str,
    trace_id: str | None,
    files: list[RequestFile],
    now: datetime,
    threaded: bool = True,
    flush: bool = True,
) -> Message:
    """Add a new turn to a conversation: count it, store its message row (no answer yet; its
    parent is the conversation's latest message when `threaded`) and the files the user sent.
    With `flush` the rows are written at once; else with the session's next flush."""
    # A conversation not yet written (created in this transaction) has no messages to thread on.
    # The lookup does not autoflush: the conversation's pending changes (updated_at) go out in one
    # UPDATE with the new dialogue_count; no message of this turn is pending before this point.
    parent = None
    # The turns this session added, by conversation: one batch of the SQLite writer holds many
    # turns, and scanning `session.new` for each made a batch's cost grow with its square.
    added: dict[str, list[Message]] = session.info.setdefault(_ADDED_MESSAGES, {})
    earlier = [m for m in added.get(conversation.id, ()) if inspect(m).pending]
    if threaded and earlier:  # a turn of this conversation written in the same (unflushed) batch
        parent = max(earlier, key=lambda m: (m.created_at, m.id)).id
    elif threaded and not inspect(conversation).pending:
        with session.no_autoflush:
            parent = await session.scalar(
                select(Message.id)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.created_at.desc(), Message.id.desc())
                .limit(1)
            )
    conversation.dialogue_count = (conversation.dialogue_count or 0) + 1
    message = Message(
        **_message_values(
            conversation.app_id,
            version_id,
            conversation.id,
            conversation.end_user_id,
            parent_message_id=parent,
            query=query,
            inputs=inputs,
            task_id=task_id,
            trace_id=trace_id,
            now=now,
        )  # fmt: skip
    )
    session.add(message)
    added[conversation.id] = [*earlier, message]
    if flush:
        await session.flush()
    for f in files:
        session.add(
            MessageFile(
                message_id=message.id,
                type=f.type,
                transfer_method=f.transfer_method,
                url=f.url,
                upload_file_id=f.upload.id if f.upload else None,
                belongs_to="user",
            )
        )
    return message
