"""Model routing: Dify's provider spellings, shipped defaults, the TOML file, environment
overrides, the builtin switch; chat / embeddings / rerank / images on the routed back end."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.fake_anthropic import API_KEY as ANTHROPIC_KEY
from support.fake_anthropic import running_fake_anthropic
from support.fake_openai import API_KEY, REPLY, completions, running_fake_openai

from impl.providers import (
    AnthropicModel,
    BuiltinModel,
    ModelConfig,
    ModelCurrentlyNotSupportError,
    ModelRequest,
    OpenAICompatibleModel,
    PromptMessage,
    ProviderNotInitializeError,
    build_model,
    build_tool_model,
    collect,
    routing,
)
from impl.providers.builtin_tools import BuiltinToolModel
from impl.providers.embeddings import (
    BuiltinEmbeddings,
    BuiltinRerank,
    build_embedding,
    build_rerank,
    generate_images,
)
from impl.providers.react import ReactModel
from impl.providers.routing import DEFAULT_ROUTES, Routes, load, parse_config, provider_key

CLEAN = {"PATH": "/usr/bin"}


@pytest.fixture(autouse=True)
def unpinned() -> Iterator[None]:
    yield
    routing.use(None)


@pytest.mark.parametrize(
    ("provider", "key"),
    [
        ("openai", "openai"),
        ("langgenius/openai/openai", "openai"),
        ("langgenius/gemini/google", "google"),
        ("gemini", "google"),
        ("langgenius/openai_api_compatible/openai_api_compatible", "openai_api_compatible"),
        ("lm-studio", "lm_studio"),
        ("Volcengine_MaaS", "volcengine_maas"),
        ("", ""),
        (None, ""),
    ],
)
def test_provider_names(provider: str | None, key: str) -> None:
    assert provider_key(provider) == key


def test_every_provider_of_the_corpus_has_a_default_route() -> None:
    for name in (
        "openai", "ollama", "deepseek", "google", "volcengine_maas", "siliconflow", "bedrock",
        "openai_api_compatible", "tongyi", "zhipuai", "minimax", "anthropic", "moonshot",
        "openrouter", "azure_openai", "vllm", "lm_studio", "x", "groq", "mistralai", "modelscope",
        "yi", "mimo",
    ):  # fmt: skip
        assert name in DEFAULT_ROUTES, name


def test_keys_come_from_the_environment() -> None:
    routes = load({**CLEAN, "DEEPSEEK_API_KEY": "sk-d"})
    resolved = routes.resolve("langgenius/deepseek/deepseek", "deepseek-chat")
    assert (resolved.backend, resolved.base_url, resolved.api_key, resolved.model) == (
        "openai", "https://api.deepseek.com/v1", "sk-d", "deepseek-chat",
    )  # fmt: skip
    with pytest.raises(ProviderNotInitializeError, match="set SILICONFLOW_API_KEY"):
        routes.resolve("siliconflow", "Qwen/Qwen3-8B")
    with pytest.raises(ProviderNotInitializeError, match="not configured on this server"):
        routes.resolve("acme/nowhere/nowhere", "m")
    with pytest.raises(ProviderNotInitializeError, match="set BEDROCK_API_BASE"):
        load({**CLEAN, "BEDROCK_API_KEY": "k"}).resolve("bedrock", "m")
    local = routes.resolve("ollama", "llama3")  # local servers need no key
    assert local.base_url == "http://127.0.0.1:11434/v1" and local.api_key == "not-needed"
    moved = load({**CLEAN, "OLLAMA_API_BASE": "http://gpu:11434/v1/"}).resolve(
        "langgenius/ollama/ollama", "q"
    )
    assert moved.base_url == "http://gpu:11434/v1"
    usable, why = routes.is_configured("siliconflow")
    assert not usable and why == (
        "Model provider 'siliconflow' is not initialized: set SILICONFLOW_API_KEY on the server."
    )


def test_the_builtin_switch_serves_every_provider() -> None:
    routes = load({**CLEAN, "DIFY_BUILTIN_MODELS": "1"})
    for provider in ("openai", "acme/nowhere/nowhere", "anthropic"):
        assert routes.resolve(provider, "m").backend == "builtin"
    routing.use(routes)
    assert isinstance(build_model(ModelConfig(provider="anthropic", name="claude")), BuiltinModel)
    assert isinstance(build_tool_model(ModelConfig(provider="deepseek", name="x")), BuiltinToolModel)
    assert isinstance(build_embedding("openai", "text-embedding-3-small"), BuiltinEmbeddings)
    assert isinstance(build_rerank("jina", "jina-reranker"), BuiltinRerank)


def test_the_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(
        """
[providers.my_gateway]
backend = "openai"
base_url = "https://llm.example.com/v1"
api_key_env = "GATEWAY_KEY"
[providers.my_gateway.models]
"gpt-4o" = "gw-4o"
[providers.claude_proxy]
backend = "anthropic"
base_url = "https://proxy.example.com"
api_key_env = "PROXY_KEY"
[providers."langgenius/ollama/ollama"]
base_url = "http://box:11434/v1"
[providers.tongyi]
backend = "builtin"
[mcp_servers.rss]
command = "python3"
[tool_providers]
"jaguarliuu/rookie_rss/rookie_rss" = "rss"
"""
    )
    routes = load({**CLEAN, "DIFY_MODEL_ROUTES": str(path), "GATEWAY_KEY": "g", "PROXY_KEY": "p"})
    gateway = routes.resolve("my_gateway", "gpt-4o")
    assert (gateway.base_url, gateway.api_key, gateway.model) == ("https://llm.example.com/v1", "g", "gw-4o")
    assert routes.resolve("claude_proxy", "c").backend == "anthropic"
    assert routes.resolve("ollama", "q").base_url == "http://box:11434/v1"
    assert routes.resolve("tongyi", "qwen-max").backend == "builtin"
    assert routes.tool_providers == {"jaguarliuu/rookie_rss/rookie_rss": "rss"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"providers": {"x": {"backend": "grpc"}}}, "backend must be one of"),
        ({"providers": {"x": 3}}, "must be a table"),
        ({"tool_providers": {"a": "nowhere"}}, "unknown MCP server"),
        ({"providers": {"x": {"models": 3}}}, "models must be a table"),
    ],
)
def test_bad_configuration_is_explained(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_config(data, CLEAN)


def test_unreadable_configuration(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[providers\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load({"DIFY_MODEL_ROUTES": str(bad)})
    with pytest.raises(ValueError, match="cannot read"):
        load({"DIFY_MODEL_ROUTES": str(tmp_path / "none.toml")})


async def test_chat_goes_to_the_routed_back_end() -> None:
    prompt = ModelRequest(messages=(PromptMessage("user", "hi"),))
    with running_fake_openai() as (openai_base, _), running_fake_anthropic() as (anthropic_base, _):
        routing.use(
            load(
                {
                    **CLEAN,
                    "DEEPSEEK_API_BASE": openai_base,
                    "DEEPSEEK_API_KEY": API_KEY,
                    "ANTHROPIC_API_BASE": anthropic_base,
                    "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
                }
            )
        )
        deepseek = build_model(ModelConfig(provider="langgenius/deepseek/deepseek", name="ok"))
        assert isinstance(deepseek, OpenAICompatibleModel)
        assert (await collect(deepseek, prompt))[0] == "".join(REPLY)
        claude = build_model(ModelConfig(provider="anthropic", name="ok"))
        assert isinstance(claude, AnthropicModel)
        assert (await collect(claude, prompt))[0] == "Bonjour from Claude."
        assert isinstance(build_tool_model(ModelConfig(provider="anthropic", name="ok")), AnthropicModel)
        assert isinstance(build_tool_model(ModelConfig(provider="deepseek", name="ok"), "react"), ReactModel)
        with pytest.raises(ProviderNotInitializeError):
            build_model(ModelConfig(provider="moonshot", name="kimi"))


def test_explicit_settings_fill_what_the_environment_leaves_out() -> None:
    routing.use(load(CLEAN))
    model = build_model(
        ModelConfig(provider="openai", name="gpt", base_url="http://127.0.0.1:1/v1", api_key="k")
    )
    assert isinstance(model, OpenAICompatibleModel) and model.base_url == "http://127.0.0.1:1/v1"


# ---- embeddings, rerank, images --------------------------------------------------------------


async def _embeddings(request: Request) -> Response:
    body = await request.json()
    if body["model"] == "missing":
        return JSONResponse({"error": {"message": "no such model"}}, 404)
    rows = [{"index": i, "embedding": [float(len(t)), 1.0]} for i, t in enumerate(body["input"])]
    return JSONResponse({"data": list(reversed(rows))})


async def _rerank(request: Request) -> Response:
    body = await request.json()
    scores = [{"index": i, "relevance_score": 1.0 / (i + 1)} for i in range(len(body["documents"]))]
    return JSONResponse({"results": scores[: body.get("top_n") or None]})


async def _images(request: Request) -> Response:
    body = await request.json()
    if request.headers.get("authorization") != f"Bearer {API_KEY}":
        return JSONResponse({"error": {"message": "bad key"}}, 401)
    return JSONResponse(
        {"data": [{"b64_json": base64.b64encode(body["prompt"].encode()).decode()}] * body["n"]}
    )


ROUTES = [
    Route("/v1/chat/completions", completions, methods=["POST"]),
    Route("/v1/embeddings", _embeddings, methods=["POST"]),
    Route("/v1/rerank", _rerank, methods=["POST"]),
    Route("/v1/images/generations", _images, methods=["POST"]),
]


async def test_embeddings_rerank_and_images() -> None:
    with running_fake_openai(ROUTES) as (base, received):
        env = {"SILICONFLOW_API_BASE": base, "SILICONFLOW_API_KEY": API_KEY}
        routes: Routes = load({**CLEAN, **env, "OPENAI_API_BASE": base, "OPENAI_API_KEY": API_KEY})
        routing.use(routes)
        vectors = await build_embedding("langgenius/siliconflow/siliconflow", "bge-m3").embed(["a", "abc"])
        assert vectors == [[1.0, 1.0], [3.0, 1.0]]  # put back in input order
        with pytest.raises(ModelCurrentlyNotSupportError):
            await build_embedding("siliconflow", "missing").embed(["a"])
        ranked = await build_rerank("siliconflow", "bge-reranker").rerank("q", ["x", "y", "z"], top_n=2)
        assert ranked == [(0, 1.0), (1, 0.5)]
        with pytest.raises(ModelCurrentlyNotSupportError, match="no rerank"):
            build_rerank("openai", "gpt")
        images = await generate_images(routes.resolve("openai", "dall-e-3"), "a cat", n=2)
        assert images == [b"a cat", b"a cat"]
    offline = await BuiltinEmbeddings().embed(["the cat sat", "the cat sat", "stocks fell"])
    assert offline[0] == offline[1] != offline[2] and abs(sum(v * v for v in offline[0]) - 1.0) < 1e-9
    assert (await BuiltinRerank().rerank("cat sat", ["dogs", "the cat sat"]))[0] == (1, 1.0)
