"""Who is asking: the app context of the key and the end user named by `user`."""

from __future__ import annotations

import dataclasses
from typing import Any

from impl import runtime
from impl.db.models import TENANT_ID, EndUser
from impl.providers import ChatModel, ModelConfig, build_model, build_tool_model
from impl.providers.function_calling import FunctionCallingModel
from impl.services.apps import AppContext
from impl.services.end_users import get_or_create
from impl.services.files import preview_path, store_upload
from impl.tools import ToolFile

AppScope = AppContext


async def end_user_for(ctx: AppScope, user: str) -> EndUser:
    """The end user `user` of this app (created on first use, as Dify does)."""
    return await get_or_create(runtime.current().database, ctx.app_id, user)


def _with_settings(config: ModelConfig) -> ModelConfig:
    settings = runtime.current().settings
    if config.base_url is None and settings.openai_api_base:
        config = dataclasses.replace(config, base_url=settings.openai_api_base)
    if config.api_key is None and settings.openai_api_key:
        config = dataclasses.replace(config, api_key=settings.openai_api_key)
    return config


def model_for(config: ModelConfig) -> ChatModel:
    """The app's model on its routed back end (`impl.providers.routing`); the server's
    OpenAI settings fill what the DSL and the environment leave out."""
    return build_model(_with_settings(config))


def tool_model_for(config: ModelConfig, strategy: str = "function_call") -> FunctionCallingModel:
    """The function-calling view of the same model (agent-chat apps and agent nodes)."""
    return build_tool_model(_with_settings(config), strategy)


async def store_tool_file(app_id: str, end_user_id: str, file: ToolFile) -> dict[str, Any]:
    """Keep a file a tool made as an upload; return the engine's file mapping for it."""
    rt = runtime.current()
    async with rt.database.transaction() as session:
        upload = await store_upload(
            session,
            rt.settings,
            app_id=app_id,
            tenant_id=TENANT_ID,
            end_user_id=end_user_id,
            filename=file.filename,
            mime_type=file.mime_type,
            data=file.data,
        )
        upload_id, size, extension = upload.id, upload.size, upload.extension
    return {
        "id": upload_id,
        "related_id": upload_id,
        "upload_file_id": upload_id,
        "type": file.type,
        "transfer_method": "tool_file",
        "filename": file.filename,
        "extension": f".{extension}" if extension else None,
        "mime_type": file.mime_type,
        "size": size,
        "url": preview_path(upload_id),
        "remote_url": None,
    }
