from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.fake_openai import API_KEY, JSON_REPLY, REPLY, running_fake_openai

from impl.providers import (
    CompletionRequestError,
    ImageInput,
    ModelConfig,
    ModelCurrentlyNotSupportError,
    ModelRequest,
    OpenAICompatibleModel,
    PromptMessage,
    ProviderError,
    ProviderNotInitializeError,
    ProviderQuotaExceededError,
    RateLimitError,
    TextDelta,
    Usage,
    build_model,
    collect,
)
from impl.providers.openai_compatible import chat_payload

REQUEST = ModelRequest(
    messages=(
        PromptMessage("system", "Be brief."),
        PromptMessage("user", "Hi", (ImageInput("data:image/png;base64,AA"),)),
    ),
    params={"temperature": 0.2, "max_tokens": 50, "token_delay": 9},
)


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with running_fake_openai() as server:
        yield server


def model(
    fake: tuple[str, list[dict[str, Any]]], name: str, key: str | None = API_KEY
) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(name, fake[0], key, timeout=5)


async def test_streams_deltas_then_reported_usage(fake: tuple[str, list[dict[str, Any]]]) -> None:
    items = [item async for item in model(fake, "ok").stream(REQUEST)]
    assert [i.text for i in items if isinstance(i, TextDelta)] == REPLY
    assert items[-1] == Usage(prompt_tokens=11, completion_tokens=len(REPLY))
    sent = fake[1][-1]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    assert "token_delay" not in sent  # builtin knobs are not forwarded
    user = sent["messages"][1]
    assert user["content"][0] == {"type": "text", "text": "Hi"}
    assert user["content"][1]["image_url"]["url"] == "data:image/png;base64,AA"


async def test_without_vision_images_are_not_sent(fake: tuple[str, list[dict[str, Any]]]) -> None:
    blind = OpenAICompatibleModel("ok", fake[0], API_KEY, vision=False, timeout=5)
    text, _ = await collect(blind, REQUEST)
    assert text == "".join(REPLY)
    assert fake[1][-1]["messages"][1] == {"role": "user", "content": "Hi"}


@pytest.mark.parametrize(
    ("name", "key", "error", "code", "status"),
    [
        ("ok", "sk-wrong", ProviderNotInitializeError, "provider_not_initialize", 400),
        ("rate-limited", API_KEY, RateLimitError, "rate_limit_error", 429),
        ("quota", API_KEY, ProviderQuotaExceededError, "provider_quota_exceeded", 400),
        ("broken", API_KEY, CompletionRequestError, "completion_request_error", 400),
        ("missing", API_KEY, ModelCurrentlyNotSupportError, "model_currently_not_support", 400),
        ("garbage", API_KEY, CompletionRequestError, "completion_request_error", 400),
    ],
)
async def test_upstream_failures_map_to_dify_codes(
    fake: tuple[str, list[dict[str, Any]]],
    name: str,
    key: str,
    error: type[ProviderError],
    code: str,
    status: int,
) -> None:
    with pytest.raises(error) as info:
        await collect(model(fake, name, key), REQUEST)
    assert info.value.code == code
    assert info.value.status == status
    assert info.value.message


async def test_unauthorized_message_comes_from_the_provider(fake: tuple[str, list[dict[str, Any]]]) -> None:
    with pytest.raises(ProviderNotInitializeError, match="Incorrect API key"):
        await collect(model(fake, "ok", "sk-wrong"), REQUEST)


async def test_stream_cut_midway_raises_after_partial_output(fake: tuple[str, list[dict[str, Any]]]) -> None:
    seen: list[str] = []
    with pytest.raises(CompletionRequestError, match="closed the stream"):
        async for item in model(fake, "cut").stream(REQUEST):
            if isinstance(item, TextDelta):
                seen.append(item.text)
    assert seen == REPLY[:3]


async def test_missing_key_is_provider_not_initialize(fake: tuple[str, list[dict[str, Any]]]) -> None:
    with pytest.raises(ProviderNotInitializeError):
        await collect(model(fake, "ok", None), REQUEST)


async def test_unreachable_endpoint_is_completion_request_error() -> None:
    dead = OpenAICompatibleModel("ok", "http://127.0.0.1:9/v1", API_KEY, timeout=2)
    with pytest.raises(CompletionRequestError, match="connection failed"):
        await collect(dead, REQUEST)


async def test_build_model_from_dsl_config(fake: tuple[str, list[dict[str, Any]]]) -> None:
    built = build_model(
        ModelConfig(
            provider="langgenius/openai_api_compatible/openai_api_compatible",
            name="ok",
            base_url=fake[0],
            api_key=API_KEY,
        )
    )
    assert isinstance(built, OpenAICompatibleModel)
    text, usage = await collect(built, REQUEST)
    assert text == "".join(REPLY) and usage.total_tokens == 11 + len(REPLY)
    with pytest.raises(ProviderNotInitializeError):
        build_model(ModelConfig(provider="anthropic", name="x"))


def test_build_model_without_key_fails_before_streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ProviderNotInitializeError):
        build_model(ModelConfig(provider="openai-compatible", name="x", base_url="http://127.0.0.1:9/v1"))


def test_response_format_is_built_as_difys_openai_providers_build_it() -> None:
    """Dify's OpenAI-style model runtimes (`llm.py` of openai / openai_api_compatible):
    `json_schema` takes the `json_schema` parameter as the schema object, any other name becomes
    `{"type": name}`; `json_schema` without a schema is an error."""
    wrapped = '{"name": "llm_response", "schema": {"type": "object"}}'
    payload = chat_payload("m", [], {"response_format": "json_schema", "json_schema": wrapped})
    assert payload["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "llm_response", "schema": {"type": "object"}},
    }
    assert "json_schema" not in payload
    assert chat_payload("m", [], {"response_format": "json_object"})["response_format"] == {
        "type": "json_object"
    }
    given = {"type": "json_object"}
    assert chat_payload("m", [], {"response_format": given})["response_format"] == given
    assert "response_format" not in chat_payload("m", [], {"response_format": "", "json_schema": wrapped})
    with pytest.raises(
        CompletionRequestError, match="Must define JSON Schema when the response format is json_schema"
    ):
        chat_payload("m", [], {"response_format": "json_schema"})
    with pytest.raises(CompletionRequestError, match="not correct json_schema format"):
        chat_payload("m", [], {"response_format": "json_schema", "json_schema": "{oops"})


async def test_json_answers_stream_from_the_endpoint(fake: tuple[str, list[dict[str, Any]]]) -> None:
    base_url, received = fake
    model = OpenAICompatibleModel("json", base_url, API_KEY)
    assert model.structured_output == "native"
    request = ModelRequest(messages=(PromptMessage("user", "Hi"),), params={"response_format": "json_object"})
    text, _usage = await collect(model, request)
    assert text == "".join(JSON_REPLY) and received[-1]["response_format"] == {"type": "json_object"}
