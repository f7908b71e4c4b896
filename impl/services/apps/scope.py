"""Who is asking: the app context of the key and the end user named by `user`."""

from __future__ import annotations

import dataclasses

from impl import runtime
from impl.db.models import EndUser
from impl.errors import ApiError
from impl.providers import ChatModel, ModelConfig, ProviderError, build_model
from impl.services.apps.end_users import get_or_create
from impl.services.apps.store import AppContext

AppScope = AppContext


async def end_user_for(ctx: AppScope, user: str) -> EndUser:
    """The end user `user` of this app (created on first use, as Dify does)."""
    return await get_or_create(runtime.current().database, ctx.app_id, user)


def model_for(config: ModelConfig) -> ChatModel:
    """The app's model, with the server's provider settings filling what the DSL leaves out."""
    settings = runtime.current().settings
    if config.base_url is None and settings.openai_api_base:
        config = dataclasses.replace(config, base_url=settings.openai_api_base)
    if config.api_key is None and settings.openai_api_key:
        config = dataclasses.replace(config, api_key=settings.openai_api_key)
    try:
        return build_model(config)
    except ProviderError as exc:  # e.g. provider_not_initialize: no endpoint or key for the model
        raise ApiError(exc.code, exc.message, exc.status) from exc
