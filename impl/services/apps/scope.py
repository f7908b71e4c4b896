"""Who is asking: the app context of the key and the end user named by `user`."""

from __future__ import annotations

import dataclasses

from impl import runtime
from impl.db.models import EndUser
from impl.errors import ApiError
from impl.providers import ChatModel, ModelConfig, ProviderError, build_model, build_tool_model
from impl.providers.function_calling import FunctionCallingModel
from impl.providers.routing import provider_key
from impl.services.apps.end_users import get_or_create
from impl.services.apps.store import AppContext

AppScope = AppContext


async def end_user_for(ctx: AppScope, user: str) -> EndUser:
    """The end user `user` of this app (created on first use, as Dify does)."""
    return await get_or_create(runtime.current().database, ctx.app_id, user)


def _with_settings(config: ModelConfig) -> ModelConfig:
    """The server's OpenAI settings (`--openai-api-base` …) for the two OpenAI provider names."""
    if provider_key(config.provider) not in ("openai", "openai_api_compatible"):
        return config
    settings = runtime.current().settings
    if config.base_url is None and settings.openai_api_base:
        config = dataclasses.replace(config, base_url=settings.openai_api_base)
    if config.api_key is None and settings.openai_api_key:
        config = dataclasses.replace(config, api_key=settings.openai_api_key)
    return config


def model_for(config: ModelConfig) -> ChatModel:
    """The app's model on its routed back end (`impl.providers.routing`); the server's
    OpenAI settings fill what the DSL and the environment leave out.  A provider that is not
    configured (no route, no key) is Dify's `provider_not_initialize` (400), raised before any
    stream opens."""
    try:
        return build_model(_with_settings(config))
    except ProviderError as exc:
        raise ApiError(exc.code, exc.message, exc.status) from exc


def tool_model_for(config: ModelConfig, strategy: str = "function_call") -> FunctionCallingModel:
    """The function-calling view of the same model (agent-chat apps and agent nodes)."""
    return build_tool_model(_with_settings(config), strategy)
