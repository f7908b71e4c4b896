"""The hand-written baselines of bench/server_throughput.py: bare Starlette endpoints doing the
same database work as the server's operations, through the same models and engine, with none
of the contract machinery (routing by spec, validation, middlewares, the generation pipeline).

`BENCH_DATABASE_URL` names the server's database (the bench points it at the server's SQLite).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from impl.db.engine import Database
from impl.db.models import ApiKey, App, Conversation, EndUser, Message

db = Database(os.environ["BENCH_DATABASE_URL"])
KEY_WITH_APP = select(ApiKey.id, App.id, App.name, App.mode).join(App, App.id == ApiKey.app_id)


async def welcome(_request: Request) -> JSONResponse:
    return JSONResponse({"welcome": "Dify OpenAPI", "api_version": "v1", "server_version": "0"})


async def _app_of(request: Request) -> tuple[str, str, str, str] | None:
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    digest = hashlib.sha256(token.encode()).hexdigest()
    async with db.session() as session:
        row = (await session.execute(KEY_WITH_APP.where(ApiKey.token_hash == digest))).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


async def key_lookup(request: Request) -> JSONResponse:
    """`GET /parameters`' database work without a cache: the key joined with its app."""
    found = await _app_of(request)
    if found is None:
        return JSONResponse({"code": "unauthorized"}, status_code=401)
    return JSONResponse({"app_id": found[1], "name": found[2], "mode": found[3]})


async def chat_turn(request: Request) -> JSONResponse:
    """A blocking chat turn's database work: the key, the end user, a conversation and a message
    written, then the answer stored."""
    found = await _app_of(request)
    if found is None:
        return JSONResponse({"code": "unauthorized"}, status_code=401)
    body = await request.json()
    app_id = found[1]
    async with db.transaction() as session:
        user = await session.scalar(
            select(EndUser).where(EndUser.app_id == app_id, EndUser.session_id == body["user"])
        )
        if user is None:
            user = EndUser(app_id=app_id, session_id=body["user"])
            session.add(user)
            await session.flush()
        conversation = Conversation(app_id=app_id, end_user_id=user.id, mode="chat", name="bench")
        session.add(conversation)
        await session.flush()
        message = Message(
            app_id=app_id,
            conversation_id=conversation.id,
            end_user_id=user.id,
            query=body["query"],
            answer="",
        )
        session.add(message)
        await session.flush()
        message_id, conversation_id = message.id, conversation.id
    answer = f"You said: {body['query']}."
    async with db.transaction() as session:
        stored = await session.get(Message, message_id)
        if stored is not None:
            stored.answer = answer
    return JSONResponse(
        {
            "event": "message",
            "task_id": str(uuid.uuid4()),
            "message_id": message_id,
            "conversation_id": conversation_id,
            "answer": answer,
            "created_at": int(time.time()),
        }
    )


app = Starlette(
    routes=[Route("/", welcome), Route("/key", key_lookup), Route("/chat", chat_turn, methods=["POST"])]
)
