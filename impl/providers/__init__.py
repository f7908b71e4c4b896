"""LLM back ends: the `ChatModel` protocol, the builtin model, OpenAI-compatible endpoints."""

from __future__ import annotations

import dataclasses

from impl.providers.anthropic import AnthropicModel
from impl.providers.base import (
    ERRORS_BY_CODE,
    ChatModel,
    CompletionRequestError,
    ImageInput,
    ModelConfig,
    ModelCurrentlyNotSupportError,
    ModelRequest,
    PromptMessage,
    ProviderError,
    ProviderNotInitializeError,
    ProviderQuotaExceededError,
    RateLimitError,
    StreamItem,
    StructuredOutputMode,
    TextDelta,
    Usage,
    collect,
    structured_output_mode,
    until_stopped,
)
from impl.providers.builtin import BuiltinModel
from impl.providers.builtin_tools import BuiltinToolModel
from impl.providers.function_calling import FunctionCallingModel
from impl.providers.openai_compatible import OpenAICompatibleModel
from impl.providers.openai_tools import OpenAIToolModel
from impl.providers.react import ReactModel
from impl.providers.routing import Resolved, active, is_configured, provider_key

__all__ = [
    "ERRORS_BY_CODE",
    "AnthropicModel",
    "BuiltinModel",
    "ChatModel",
    "CompletionRequestError",
    "ImageInput",
    "ModelConfig",
    "ModelCurrentlyNotSupportError",
    "ModelRequest",
    "OpenAICompatibleModel",
    "PromptMessage",
    "ProviderError",
    "ProviderNotInitializeError",
    "ProviderQuotaExceededError",
    "RateLimitError",
    "StreamItem",
    "StructuredOutputMode",
    "TextDelta",
    "Usage",
    "build_model",
    "build_tool_model",
    "collect",
    "is_configured",
    "provider_key",
    "resolve",
    "structured_output_mode",
    "until_stopped",
]


def resolve(config: ModelConfig) -> Resolved:
    """The back end serving the model an app's DSL names (`impl.providers.routing`).  Connection
    details given in the config (the server's `--openai-api-base` / key settings for the OpenAI
    providers) win over the route's.  `ProviderNotInitializeError` when it is not configured."""
    routes = active()
    key = provider_key(config.provider)
    if routes.all_builtin or key in ("", "builtin"):
        return Resolved("builtin", "builtin", "", None, config.name or "builtin-echo")
    route = routes.route(config.provider)
    if route is not None and route.backend != "builtin" and (config.base_url or config.api_key):
        # Explicit details fill in what the environment leaves out.
        env = dict(routes.env)
        prefix = "".join(ch if ch.isalnum() else "_" for ch in key).upper()
        if config.base_url and not env.get(f"{prefix}_API_BASE"):
            env[f"{prefix}_API_BASE"] = config.base_url
        if config.api_key and not env.get(route.api_key_env or f"{prefix}_API_KEY"):
            env[route.api_key_env or f"{prefix}_API_KEY"] = config.api_key
        return dataclasses.replace(routes, env=env).resolve(config.provider, config.name)
    return routes.resolve(config.provider, config.name)


def build_model(config: ModelConfig) -> ChatModel:
    """The chat model an app's DSL names, on the back end its provider is routed to."""
    resolved = resolve(config)
    if resolved.backend == "builtin":
        return BuiltinModel(config.name or "builtin-echo")
    vision = True if config.vision is None else config.vision
    if resolved.backend == "anthropic":
        return AnthropicModel(
            resolved.model, resolved.base_url, resolved.api_key, vision=vision, timeout=config.timeout
        )
    return OpenAICompatibleModel(
        resolved.model, resolved.base_url, resolved.api_key, vision=vision, timeout=config.timeout
    )


def build_tool_model(config: ModelConfig, strategy: str = "function_call") -> FunctionCallingModel:
    """The function-calling view of the same model: native tool calls, or a ReAct prompt over
    the chat model when `strategy` is `react` (Dify's `ReAct`).  The builtin model calls tools
    deterministically either way."""
    resolved = resolve(config)
    if resolved.backend == "builtin":
        return BuiltinToolModel(config.name or "builtin-echo")
    if strategy.lower() == "react":
        return ReactModel(build_model(config))
    if resolved.backend == "anthropic":
        return AnthropicModel(resolved.model, resolved.base_url, resolved.api_key, timeout=config.timeout)
    return OpenAIToolModel(resolved.model, resolved.base_url, resolved.api_key, timeout=config.timeout)
