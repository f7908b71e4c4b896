"""Model routing: which back end serves a provider name from a Dify DSL.

Dify names a model provider in two spellings: the short name of its built-in providers
(`openai`, `deepseek`, `ollama`, `volcengine_maas` …) and the plugin form
`<author>/<plugin>/<provider>` (`langgenius/openai/openai`, `langgenius/gemini/google`).  Both are
reduced to the provider part (`provider_key`) and looked up in a table of routes.  A route says
which back end serves the provider:

- `openai`: an OpenAI-compatible HTTP API (`/chat/completions`, `/embeddings`,
  `/images/generations`, and `/rerank` where the provider has one), at `base_url`, with the
  bearer key read from the environment variable `api_key_env`;
- `anthropic`: Anthropic's native Messages API (`/v1/messages`: its own streaming events and
  tool-use blocks), key in `api_key_env`;
- `builtin`: the deterministic offline model (`impl.providers.builtin`).

`DEFAULT_ROUTES` ships the public endpoints of the common providers; local servers (Ollama, vLLM,
LM Studio, Xinference) need no key.  A TOML file named by `DIFY_MODEL_ROUTES` adds or replaces
routes and maps Dify tool providers to MCP servers:

    [providers.my_gateway]            # a provider name a DSL uses
    backend = "openai"                # openai | anthropic | builtin
    base_url = "https://llm.example.com/v1"
    api_key_env = "MY_GATEWAY_KEY"
    rerank = true                     # the endpoint also serves POST /rerank
    [providers.my_gateway.models]     # optional: rename models the DSL names
    "gpt-4o" = "my-gpt-4o"
    [providers.ollama]
    base_url = "http://gpu-box:11434/v1"

    [mcp_servers.rss]                 # see impl.tools.mcp
    transport = "stdio"
    command = "python3"
    args = ["rss_server.py"]
    [tool_providers]
    "jaguarliuu/rookie_rss/rookie_rss" = "rss"

Environment overrides, per provider key `P` upper-cased (`-`, `/` and `.` become `_`):
`P_API_BASE` replaces the base URL and `P_API_KEY` is the default key variable (so
`DEEPSEEK_API_KEY=…` is all DeepSeek needs).  `OPENAI_API_BASE` / `OPENAI_API_KEY` serve
`openai` and `openai_api_compatible` as before.  `DIFY_BUILTIN_MODELS=1` runs every app on the
builtin model whatever its DSL names (demos, tests, load tests).

Client libraries: the OpenAI-compatible and Anthropic back ends speak HTTP through `httpx` (already
a dependency) rather than the official `openai` / `anthropic` SDKs.  The server needs four small
calls per back end, streamed, with one error mapping to Dify's codes; the SDKs add their own retry
loops, typed exceptions and response models (all of which would be undone to map errors and
forward stop), and they pin versions of httpx/pydantic.  httpx keeps one timeout, one error path
and an injectable transport for the loopback tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from impl.env_toml import EnvToml, read_toml
from impl.providers.base import ProviderNotInitializeError

Backend = Literal["openai", "anthropic", "builtin"]
BACKENDS: tuple[Backend, ...] = ("openai", "anthropic", "builtin")
CONFIG_ENV = "DIFY_MODEL_ROUTES"
BUILTIN_SWITCH_ENV = "DIFY_BUILTIN_MODELS"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Route:
    """How one provider is reached."""

    backend: Backend
    base_url: str = ""
    api_key_env: str = ""
    key_required: bool = True
    rerank: bool = False
    models: Mapping[str, str] = field(default_factory=dict)  # DSL model name -> upstream name


def _oa(base_url: str, key: str, *, rerank: bool = False) -> Route:
    return Route("openai", base_url, key, True, rerank)


def _local(base_url: str, key: str) -> Route:
    return Route("openai", base_url, key, False)


# Provider keys as Dify spells them (short names and the last part of the plugin names).
DEFAULT_ROUTES: dict[str, Route] = {
    "builtin": Route("builtin", key_required=False),
    "openai": _oa("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "openai_api_compatible": _oa("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "azure_openai": _oa("", "AZURE_OPENAI_API_KEY"),  # needs AZURE_OPENAI_API_BASE (…/openai/v1)
    "anthropic": Route("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    "deepseek": _oa("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "moonshot": _oa("https://api.moonshot.cn/v1", "MOONSHOT_API_KEY"),
    "tongyi": _oa("https://dashscope.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY"),
    "zhipuai": _oa("https://open.bigmodel.cn/api/paas/v4", "ZHIPUAI_API_KEY"),
    "siliconflow": _oa("https://api.siliconflow.cn/v1", "SILICONFLOW_API_KEY", rerank=True),
    "volcengine_maas": _oa("https://ark.cn-beijing.volces.com/api/v3", "ARK_API_KEY"),
    "minimax": _oa("https://api.minimax.chat/v1", "MINIMAX_API_KEY"),
    "google": _oa("https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY"),
    "openrouter": _oa("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "groq": _oa("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "mistralai": _oa("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "x": _oa("https://api.x.ai/v1", "XAI_API_KEY"),
    "yi": _oa("https://api.lingyiwanwu.com/v1", "YI_API_KEY"),
    "modelscope": _oa("https://api-inference.modelscope.cn/v1", "MODELSCOPE_API_KEY"),
    "jina": _oa("https://api.jina.ai/v1", "JINA_API_KEY", rerank=True),
    "cohere": _oa("https://api.cohere.ai/compatibility/v1", "COHERE_API_KEY"),
    "perplexity": _oa("https://api.perplexity.ai", "PERPLEXITY_API_KEY"),
    "togetherai": _oa("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "fireworks": _oa("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "baichuan": _oa("https://api.baichuan-ai.com/v1", "BAICHUAN_API_KEY"),
    "hunyuan": _oa("https://api.hunyuan.cloud.tencent.com/v1", "HUNYUAN_API_KEY"),
    "wenxin": _oa("https://qianfan.baidubce.com/v2", "QIANFAN_API_KEY"),
    "stepfun": _oa("https://api.stepfun.com/v1", "STEPFUN_API_KEY"),
    "spark": _oa("https://spark-api-open.xf-yun.com/v1", "SPARK_API_KEY"),
    "nvidia": _oa("https://integrate.api.nvidia.com/v1", "NVIDIA_API_KEY"),
    "mimo": _oa("https://api.xiaomimimo.com/v1", "MIMO_API_KEY"),
    # Bedrock speaks its own signed protocol; its OpenAI-compatible access gateway is set with
    # BEDROCK_API_BASE (e.g. https://bedrock-runtime.<region>.amazonaws.com/openai/v1).
    "bedrock": _oa("", "BEDROCK_API_KEY"),
    # Local servers: no key needed.
    "ollama": _local("http://127.0.0.1:11434/v1", "OLLAMA_API_KEY"),
    "vllm": _local("http://127.0.0.1:8000/v1", "VLLM_API_KEY"),
    "lm_studio": _local("http://127.0.0.1:1234/v1", "LM_STUDIO_API_KEY"),
    "xinference": _local("http://127.0.0.1:9997/v1", "XINFERENCE_API_KEY"),
    "localai": _local("http://127.0.0.1:8080/v1", "LOCALAI_API_KEY"),
    "gpustack": _local("http://127.0.0.1:80/v1", "GPUSTACK_API_KEY"),
}

# Other spellings of the same provider.
ALIASES: dict[str, str] = {
    "gemini": "google",
    "openai-compatible": "openai_api_compatible",
    "lm-studio": "lm_studio",
    "lmstudio": "lm_studio",
    "azure": "azure_openai",
    "qwen": "tongyi",
    "dashscope": "tongyi",
    "zhipu": "zhipuai",
    "glm": "zhipuai",
    "volcengine": "volcengine_maas",
    "ark": "volcengine_maas",
    "doubao": "volcengine_maas",
    "claude": "anthropic",
    "kimi": "moonshot",
    "grok": "x",
    "mistral": "mistralai",
}


def provider_key(provider: str | None) -> str:
    """`langgenius/gemini/google` -> `google`; `lm-studio` -> `lm_studio`; '' for nothing."""
    short = (provider or "").strip().rsplit("/", 1)[-1].strip().lower()
    return ALIASES.get(short, short)


def env_prefix(key: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in key).upper()


@dataclass(frozen=True)
class Resolved:
    """A route made concrete for one call: the back end, where, with which key, which model."""

    provider: str
    backend: Backend
    base_url: str
    api_key: str | None
    model: str
    rerank: bool = False


@dataclass(frozen=True)
class Routes:
    """The active routing table, MCP servers and tool-provider mapping."""

    providers: Mapping[str, Route]
    env: Mapping[str, str]
    all_builtin: bool = False
    mcp_servers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tool_providers: Mapping[str, str] = field(default_factory=dict)

    def route(self, provider: str | None) -> Route | None:
        key = provider_key(provider)
        if self.all_builtin or key in ("", "builtin"):
            return DEFAULT_ROUTES["builtin"]
        return self.providers.get(key)

    def resolve(self, provider: str | None, model: str = "") -> Resolved:
        """The concrete back end for `provider`/`model`; `ProviderNotInitializeError` when the
        provider is unknown here or its key (or base URL) is not configured."""
        key = provider_key(provider)
        route = self.route(provider)
        if route is None:
            raise ProviderNotInitializeError(
                f"Model provider '{provider}' is not configured on this server "
                f"(add it to the {CONFIG_ENV} file)."
            )
        if route.backend == "builtin":
            return Resolved("builtin", "builtin", "", None, model or "builtin-echo")
        prefix = env_prefix(key)
        base_url = (self.env.get(f"{prefix}_API_BASE") or route.base_url).rstrip("/")
        api_key = self.env.get(route.api_key_env) if route.api_key_env else None
        api_key = api_key or self.env.get(f"{prefix}_API_KEY") or None
        if not base_url:
            raise ProviderNotInitializeError(
                f"Model provider '{provider}' has no endpoint: set {prefix}_API_BASE."
            )
        if api_key is None and route.key_required:
            variable = route.api_key_env or f"{prefix}_API_KEY"
            raise ProviderNotInitializeError(
                f"Model provider '{provider}' is not initialized: set {variable} on the server."
            )
        upstream = route.models.get(model, model)
        return Resolved(key, route.backend, base_url, api_key or "not-needed", upstream, route.rerank)

    def is_configured(self, provider: str | None, model: str = "") -> tuple[bool, str]:
        """(usable, why not) for an import warning or `apps check`."""
        try:
            self.resolve(provider, model)
        except ProviderNotInitializeError as exc:
            return False, exc.message
        return True, ""


def _route_from(table: Mapping[str, Any], base: Route | None, where: str) -> Route:
    backend = str(table.get("backend") or (base.backend if base else "openai"))
    if backend not in BACKENDS:
        raise ValueError(f"{where}: backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    start = base if base is not None and base.backend == backend else Route(backend)
    models = table.get("models") or {}
    if not isinstance(models, Mapping):
        raise ValueError(f"{where}.models must be a table of model names")
    changes: dict[str, Any] = {
        "backend": backend,
        "models": {**start.models, **{str(k): str(v) for k, v in models.items()}},
    }
    for name in ("base_url", "api_key_env"):
        if name in table:
            changes[name] = str(table[name])
    for name in ("key_required", "rerank"):
        if name in table:
            changes[name] = bool(table[name])
    return replace(start, **changes)


def parse_config(data: Mapping[str, Any], env: Mapping[str, str], where: str = "routes") -> Routes:
    """Routes from a parsed configuration (the TOML file's tables) on top of the defaults."""
    providers = dict(DEFAULT_ROUTES)
    raw = data.get("providers") or {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: [providers] must be a table")
    for name, table in raw.items():
        if not isinstance(table, Mapping):
            raise ValueError(f"{where}: providers.{name} must be a table")
        key = provider_key(str(name))
        providers[key] = _route_from(table, providers.get(key), f"{where}: providers.{name}")
    servers = data.get("mcp_servers") or {}
    mapping = data.get("tool_providers") or {}
    if not isinstance(servers, Mapping) or not all(isinstance(v, Mapping) for v in servers.values()):
        raise ValueError(f"{where}: [mcp_servers] must hold one table per server")
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{where}: [tool_providers] must map tool provider names to MCP server names")
    for tool_provider, server in mapping.items():
        if str(server) not in servers:
            raise ValueError(
                f"{where}: tool provider {tool_provider!r} names the unknown MCP server {server!r}"
            )
    return Routes(
        providers=providers,
        env=dict(env),
        all_builtin=str(env.get(BUILTIN_SWITCH_ENV, "")).strip().lower() in _TRUE,
        mcp_servers={str(k): dict(v) for k, v in servers.items()},
        tool_providers={str(k): str(v) for k, v in mapping.items()},
    )


def load(env: Mapping[str, str] | None = None) -> Routes:
    """Routes for this environment: the defaults, the `DIFY_MODEL_ROUTES` file, overrides."""
    env = dict(os.environ if env is None else env)
    path = env.get(CONFIG_ENV)
    data = read_toml(CONFIG_ENV, path) if path else {}
    return parse_config(data, env, path or "routes")


_pinned: Routes | None = None
_routes = EnvToml(
    CONFIG_ENV,
    lambda name: name.endswith(("_API_KEY", "_API_BASE")) or name in (CONFIG_ENV, BUILTIN_SWITCH_ENV),
    load,
)


def active() -> Routes:
    """The routes in force: pinned by `use()`, else loaded from the environment (reloaded when
    the file or a relevant variable changes)."""
    return _pinned if _pinned is not None else _routes.current()


def use(routes: Routes | None) -> None:
    """Pin the routes (None: back to the environment)."""
    global _pinned
    _pinned = routes


def is_configured(provider: str | None, model: str = "") -> tuple[bool, str]:
    """Whether this server can call `provider`/`model`, and if not, why."""
    return active().is_configured(provider, model)
