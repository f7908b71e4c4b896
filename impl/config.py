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
| `OPENAI_API_BASE` | unset | base URL of an OpenAI-compatible provider |
| `OPENAI_API_KEY` | unset | its key |
| `VALIDATE_RESPONSES` | false | check every JSON response against the spec |
| `LOG_LEVEL` | `INFO` | Python logging level |
| `DIFY_SPEC_PATH` | `<repo>/spec/openapi.yaml` | the OpenAPI document the server routes by |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

MB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC_PATH = REPO_ROOT / "spec" / "openapi.yaml"

_TRUE = {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        if self.database_url_override:
            return self.database_url_override
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'dify.db'}"

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

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
        )
        return settings.with_overrides(**overrides)
