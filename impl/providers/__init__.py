"""LLM back ends: the `ChatModel` protocol, the builtin model, OpenAI-compatible endpoints."""

from __future__ import annotations

import os

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
    TextDelta,
    Usage,
    collect,
    until_stopped,
)
from impl.providers.builtin import BuiltinModel
from impl.providers.openai_compatible import OpenAICompatibleModel

OPENAI_COMPATIBLE = ("openai-compatible", "openai_api_compatible", "openai")

__all__ = [
    "ERRORS_BY_CODE",
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
    "TextDelta",
    "Usage",
    "build_model",
    "collect",
    "until_stopped",
]


def build_model(config: ModelConfig) -> ChatModel:
    """The model an app's DSL names. Remote connection details fall back to the environment
    (`OPENAI_API_BASE` / `OPENAI_API_KEY`)."""
    provider = config.provider.rsplit("/", 1)[-1].lower()
    if provider in ("builtin", ""):
        return BuiltinModel(config.name or "builtin-echo")
    if provider in OPENAI_COMPATIBLE:
        base_url = config.base_url or os.environ.get("OPENAI_API_BASE") or "https://api.openai.com/v1"
        api_key = config.api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key:  # a configuration problem: reported before any stream opens
            raise ProviderNotInitializeError("No API key is configured for the OpenAI-compatible provider.")
        return OpenAICompatibleModel(
            config.name,
            base_url,
            api_key,
            vision=True if config.vision is None else config.vision,
            timeout=config.timeout,
        )
    raise ProviderNotInitializeError(f"Model provider '{config.provider}' is not configured on this server.")
