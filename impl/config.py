"""Server settings, read from the environment and overridden by CLI flags.

Environment variables (all optional):

| variable | default | meaning |
| --- | --- | --- |
| `DIFY_DATA_DIR` | `./data` | where the SQLite file and uploaded files live |
| `DATABASE_URL` | `sqlite+aiosqlite:///<data dir>/dify.db` | async URL; `postgresql+psycopg://…` works |
| `UPLOAD_FILE_SIZE_LIMIT` | 15 | MB, documents and other files |
| `UPLOAD_IMAGE_FILE_SIZE_LIMIT` | 10 | MB, images |
| `UPLOAD_AUDIO_FILE_SIZE_LIMIT` | 50 | MB, audio |
| `UPLOAD_VIDEO_FILE_SIZE_LIMIT` | 100 | MB, video |
| `WORKFLOW_FILE_UPLOAD_LIMIT` | 10 | files per workflow input |
| `MAX_REQUEST_BODY_BYTES` | largest upload limit + 1 MB | bodies above this get 413 |
| `MAX_JSON_BODY_BYTES` | 4194304 | JSON bodies above this get 413 |
| `MAX_JSON_DEPTH` | 64 | JSON nested deeper than this gets 400 |
| `MAX_NUMBER_DIGITS` | 64 | a JSON number literal longer than this gets 400 |
| `MAX_TEXT_CHARS` | 1000000 | a JSON string longer than this gets 400 |
| `APP_MAX_ACTIVE_REQUESTS` | 0 | generation requests one app may run at once (0 = none); more get 429 |
| `KEY_CACHE_SECONDS` | 1 | seconds a worker reuses a resolved key (at most 1; 0 = never) |
| `OPENAI_API_BASE` | unset | base URL of an OpenAI-compatible provider |
| `OPENAI_API_KEY` | unset | its key |
| `DIFY_MODEL_ROUTES` | unset | TOML file: model routes, MCP servers, tool providers (see routing) |
| `DIFY_BUILTIN_MODELS` | false | run every app on the builtin model, whatever provider its DSL names |
| `<PROVIDER>_API_KEY`, `<PROVIDER>_API_BASE` | unset | key and endpoint of a routed provider |
| `VALIDATE_RESPONSES` | false | check every JSON response against the spec |
| `LOG_LEVEL` | `INFO` | Python logging level |
| `DIFY_SPEC_PATH` | `<repo>/spec/openapi.yaml` | the OpenAPI document the server routes by |
| `SSE_PING_INTERVAL` | 10 | seconds without output before a stream sends `event: ping` |
| `UPLOAD_FILE_EXTENSION_BLACKLIST` | empty | comma-separated extensions uploads may not have |
| `WORKFLOW_MAX_EXECUTION_TIME` | 1200 | seconds a workflow run may execute, paused time excluded; 0 = none |
| `OUTBOUND_ALLOWED_HOSTS` | empty | non-public hosts, addresses or CIDR networks app requests may reach |
| `REDIS_URL` | unset | `redis://…`: stop flags, event logs, active-request counts shared by workers |
| `RUN_LEASE_SECONDS` | 30 | a run whose worker stopped renewing its lease this long ends as failed |
| `CODE_EXECUTION_TIMEOUT` | 15 | seconds (wall clock and CPU) one code-node run may take in the sandbox |
| `CODE_EXECUTION_MEMORY_MB` | 1024 | address space one code-node run may map in the sandbox |
| `SECRET_KEY` | generated, kept in `<data dir>/secret_key` | signs the keyless URLs of files in run data |
| `FILES_ACCESS_TIMEOUT` | 300 | seconds a signed file URL stays valid |

An app's DSL `app.max_active_requests` overrides `APP_MAX_ACTIVE_REQUESTS` for that app.
`OUTBOUND_ALLOWED_HOSTS` serves workflow http-request nodes and the agent's HTTP tool alike; the two
older names `HTTP_REQUEST_ALLOWED_HOSTS` and `AGENT_HTTP_ALLOWLIST` are read too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from impl.outbound import parse_allow_list

MB = 1024 * 1024
PACKAGE_DIR = Path(__file__).resolve().parent
# The source checkout (spec/, docs/, examples/); an installed server reads only PACKAGE_DIR.
REPO_ROOT = PACKAGE_DIR.parent
# The spec and the demo apps ship inside the package (`_spec/`, `_examples/` mirror `spec/` and
# `examples/apps/` of the repository), so a plain `pip install` serves without the source tree.
DEFAULT_SPEC_PATH = PACKAGE_DIR / "_spec" / "openapi.yaml"
EXAMPLES_DIR = PACKAGE_DIR / "_examples"

_TRUE = {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    return default if raw is None else raw.strip().lower() in _TRUE


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    database_url_override: str | None = None
    upload_file_size_limit: int = 15
    upload_image_file_size_limit: int = 10
    upload_audio_file_size_limit: int = 50
    upload_video_file_size_limit: int = 100
    workflow_file_upload_limit: int = 10
    max_request_bytes_override: int | None = None
    openai_api_base: str | None = None
    openai_api_key: str | None = None
    validate_responses: bool = False
    log_level: str = "INFO"
    spec_path: Path = DEFAULT_SPEC_PATH
    # Seconds without output before a stream sends the keep-alive frame.
    sse_ping_interval: float = 10.0
    # Lower-case extensions (no dot) that uploads may not have.
    upload_extension_blacklist: frozenset[str] = frozenset()
    # Seconds a workflow run may execute (paused time excluded); 0 = no limit.
    workflow_max_execution_time: float = 1200.0
    # Hosts, addresses and CIDR networks that workflow http-request nodes and the agent's HTTP tool
    # may reach although they are not public (see impl.outbound).
    outbound_allowed_hosts: tuple[str, ...] = ()
    # Redis shared by the workers of a deployment (stop flags, live event logs); None = one process.
    redis_url: str | None = None
    # Seconds a run's lease lasts; its worker renews it every third of that.
    run_lease_seconds: float = 30.0
    # Limits of one code-node run in the sandbox (impl.sandbox): seconds and megabytes.
    code_execution_timeout: float = 15.0
    code_execution_memory_mb: int = 1024
    # The JSON body policy (impl.limits.body).
    max_json_body_bytes: int = 4 * MB
    max_json_depth: int = 64
    max_number_digits: int = 64
    max_text_chars: int = 1_000_000
    # Generation requests one app may have running at once; 0 = no limit (Dify's default).
    app_max_active_requests: int = 0
    # Seconds a worker reuses a resolved key (bounds how late a revocation applies); 0 = never.
    key_cache_seconds: float = 1.0
    # Signs keyless file URLs; None = a secret generated once and kept in the data dir.
    secret_key: str | None = field(default=None, repr=False)
    # Seconds a signed file URL stays valid (Dify's FILES_ACCESS_TIMEOUT).
    files_access_timeout: int = 300

    @property
    def database_url(self) -> str:
        if self.database_url_override:
            return self.database_url_override
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'dify.db'}"

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def docs_site_dir(self) -> Path:
        """The built docs site served at `/docs` (written by `dify-service serve`)."""
        return self.data_dir / "docs-site"

    @property
    def max_request_bytes(self) -> int:
        if self.max_request_bytes_override is not None:
            return self.max_request_bytes_override
        largest = max(
            self.upload_file_size_limit,
            self.upload_image_file_size_limit,
            self.upload_audio_file_size_limit,
            self.upload_video_file_size_limit,
        )
        return (largest + 1) * MB

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given fields replaced; `None` values leave a field as it is."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            data_dir=Path(env.get("DIFY_DATA_DIR", "./data")),
            database_url_override=env.get("DATABASE_URL") or None,
            upload_file_size_limit=_int(env, "UPLOAD_FILE_SIZE_LIMIT", 15),
            upload_image_file_size_limit=_int(env, "UPLOAD_IMAGE_FILE_SIZE_LIMIT", 10),
            upload_audio_file_size_limit=_int(env, "UPLOAD_AUDIO_FILE_SIZE_LIMIT", 50),
            upload_video_file_size_limit=_int(env, "UPLOAD_VIDEO_FILE_SIZE_LIMIT", 100),
            workflow_file_upload_limit=_int(env, "WORKFLOW_FILE_UPLOAD_LIMIT", 10),
            max_request_bytes_override=(
                _int(env, "MAX_REQUEST_BODY_BYTES", 0) if env.get("MAX_REQUEST_BODY_BYTES") else None
            ),
            openai_api_base=env.get("OPENAI_API_BASE") or None,
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            validate_responses=_flag(env, "VALIDATE_RESPONSES"),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            spec_path=Path(env.get("DIFY_SPEC_PATH") or DEFAULT_SPEC_PATH),
            sse_ping_interval=_float(env, "SSE_PING_INTERVAL", 10.0),
            upload_extension_blacklist=frozenset(
                item.strip().lower().lstrip(".")
                for item in env.get("UPLOAD_FILE_EXTENSION_BLACKLIST", "").split(",")
                if item.strip()
            ),
            workflow_max_execution_time=max(0.0, _float(env, "WORKFLOW_MAX_EXECUTION_TIME", 1200.0)),
            code_execution_timeout=max(1.0, _float(env, "CODE_EXECUTION_TIMEOUT", 15.0)),
            code_execution_memory_mb=max(128, _int(env, "CODE_EXECUTION_MEMORY_MB", 1024)),
            # One allow-list; the two older names, one per feature, are read as well.
            max_json_body_bytes=max(1, _int(env, "MAX_JSON_BODY_BYTES", 4 * MB)),
            max_json_depth=max(1, _int(env, "MAX_JSON_DEPTH", 64)),
            max_number_digits=max(1, _int(env, "MAX_NUMBER_DIGITS", 64)),
            max_text_chars=max(1, _int(env, "MAX_TEXT_CHARS", 1_000_000)),
            app_max_active_requests=max(0, _int(env, "APP_MAX_ACTIVE_REQUESTS", 0)),
            key_cache_seconds=min(1.0, max(0.0, _float(env, "KEY_CACHE_SECONDS", 1.0))),
            outbound_allowed_hosts=parse_allow_list(
                env.get("OUTBOUND_ALLOWED_HOSTS"),
                env.get("HTTP_REQUEST_ALLOWED_HOSTS"),
                env.get("AGENT_HTTP_ALLOWLIST"),
            ),
            redis_url=env.get("REDIS_URL") or None,
            run_lease_seconds=max(1.0, _float(env, "RUN_LEASE_SECONDS", 30.0)),
            secret_key=env.get("SECRET_KEY") or None,
            files_access_timeout=max(0, _int(env, "FILES_ACCESS_TIMEOUT", 300)),
        )
        return settings.with_overrides(**overrides)
