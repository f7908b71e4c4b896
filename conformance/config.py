"""Run configuration: `conformance.toml` (validated by config.schema.json) merged with CLI options."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

MODES = ("chat", "agent-chat", "advanced-chat", "workflow", "completion")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """The configuration is invalid; the run cannot start."""


@dataclasses.dataclass
class Limits:
    request_timeout: float = 10.0
    stream_idle_timeout: float = 15.0
    stream_deadline: float = 60.0
    close_grace: float = 2.0
    fuzz_examples: int | None = None
    page_items: int = 7
    stop_timeout: float = 3.0


@dataclasses.dataclass
class Capabilities:
    """Overrides from the config; None means "discover it from the server" (the default)."""

    file_upload: bool | None = None
    file_types: tuple[str, ...] | None = None
    speech_to_text: bool | None = None
    text_to_speech: bool | None = None
    suggested_questions: bool | None = None
    annotations: bool | None = None
    opening_statement: bool | None = None
    human_input: bool | None = None
    conversation_variables: bool | None = None
    end_users: bool | None = None


@dataclasses.dataclass
class RunConfig:
    base_url: str = ""
    keys: dict[str, str] = dataclasses.field(default_factory=dict)
    spec: str | None = None
    profile: str = "core"
    seed: int = 0
    only: list[str] = dataclasses.field(default_factory=list)
    skip: list[str] = dataclasses.field(default_factory=list)
    reports: list[str] = dataclasses.field(default_factory=list)
    report_dir: str = "conformance-report"
    capabilities: Capabilities = dataclasses.field(default_factory=Capabilities)
    limits: Limits = dataclasses.field(default_factory=Limits)
    strict_headers: bool = False
    # "sdk": streams must use the framing Dify's official SDKs parse (LF, `data: ` with a space, no
    # `event:` lines but the keep-alive); "standard": anything the SSE standard allows (reported as WARN).
    framing: str = "sdk"
    stop_query: str = "Write a long story about a lighthouse keeper, at least 400 words."

    @property
    def fuzz_examples(self) -> int:
        if self.limits.fuzz_examples is not None:
            return self.limits.fuzz_examples
        return 6 if self.profile == "core" else 40

    def selected(self, check_id: str, operation: str, mode: str) -> bool:
        names = (
            check_id,
            operation,
            mode,
            f"{mode}:{operation}",
            f"{check_id}@{operation}",
            f"{check_id}@{mode}:{operation}",
        )

        def hit(patterns: list[str]) -> bool:
            return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names)

        if self.only and not hit(self.only):
            return False
        return not hit(self.skip)

    def validate(self) -> None:
        if not re.match(r"^https?://", self.base_url or ""):
            raise ConfigError("a base URL is required (--base-url or base_url in the config file)")
        if not self.keys:
            raise ConfigError("at least one app key is required (--key MODE=KEY)")
        for mode in self.keys:
            if mode not in MODES:
                raise ConfigError(f"unknown app mode {mode!r}; expected one of {', '.join(MODES)}")
        if self.framing not in ("sdk", "standard"):
            raise ConfigError(f"unknown framing profile {self.framing!r}; expected sdk or standard")
        if self.profile not in ("core", "full"):
            raise ConfigError(f"unknown profile {self.profile!r}")
        for report in self.reports:
            if report not in ("junit", "json", "html"):
                raise ConfigError(f"unknown report format {report!r}")


def config_schema() -> dict[str, Any]:
    text = resources.files("conformance").joinpath("config.schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def _interpolate(value: Any) -> Any:
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                raise ConfigError(f"environment variable {m.group(1)} is not set")
            return os.environ[m.group(1)]

        return _ENV.sub(repl, value)
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    return value


def load_file(path: Path | str) -> RunConfig:
    """Read and validate a conformance.toml."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return from_mapping(raw, where=str(path))


def from_mapping(raw: dict[str, Any], where: str = "config") -> RunConfig:
    errors = sorted(jsonschema.Draft202012Validator(config_schema()).iter_errors(raw), key=lambda e: e.path)
    if errors:
        first = errors[0]
        loc = "/".join(str(p) for p in first.path) or "(top)"
        raise ConfigError(f"{where}: {loc}: {first.message}")
    raw = _interpolate(raw)
    cfg = RunConfig()
    for name in (
        "base_url",
        "spec",
        "profile",
        "seed",
        "only",
        "skip",
        "reports",
        "report_dir",
        "strict_headers",
        "framing",
        "stop_query",
    ):
        if name in raw:
            setattr(cfg, name, raw[name])
    cfg.keys = dict(raw.get("keys", {}))
    caps = dict(raw.get("capabilities", {}))
    if "file_types" in caps:
        caps["file_types"] = tuple(caps["file_types"])
    cfg.capabilities = Capabilities(**caps)
    cfg.limits = Limits(**raw.get("limits", {}))
    return cfg


def parse_key(text: str) -> tuple[str, str]:
    mode, sep, key = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--key expects MODE=APP_KEY, got {text!r}")
    return mode.strip(), key.strip()
