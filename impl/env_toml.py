"""A TOML file named by an environment variable, and what is built from it, kept up to date.

The model routing (`DIFY_MODEL_ROUTES`) and the local knowledge bases (`DIFY_KNOWLEDGE`) are
both configured this way: an optional TOML file plus some environment variables that override
or extend it. `EnvToml.current()` gives the value built from them and builds it again only when
the file's path or modification time, or one of the variables it depends on, has changed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def read_toml(env_name: str, path: str) -> dict[str, Any]:
    """The table in the file `path` names; `ValueError` saying which variable named it."""
    try:
        return tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{env_name}: cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{env_name}: {path} is not valid TOML: {exc}") from exc


class EnvToml(Generic[T]):
    """The value `build(os.environ)` makes, rebuilt when the file `env_name` names changes or a
    variable for which `relevant(name)` holds changes."""

    def __init__(
        self, env_name: str, relevant: Callable[[str], bool], build: Callable[[Mapping[str, str]], T]
    ) -> None:
        self.env_name = env_name
        self._relevant = relevant
        self._build = build
        self._cache: tuple[tuple[Any, ...], T] | None = None
        self._seen: tuple[dict[Any, Any], tuple[tuple[str, str], ...]] | None = None

    def _fingerprint(self) -> tuple[Any, ...]:
        path = os.environ.get(self.env_name) or ""
        try:
            stamp = os.stat(path).st_mtime_ns if path else 0
        except OSError:
            stamp = -1
        return (path, stamp, self._variables())

    def _variables(self) -> tuple[tuple[str, str], ...]:
        """The relevant variables, decoded again only when the environment changed (a turn's
        start asks for the model routes: 1.5 µs instead of 22 µs on the build machine)."""
        raw = getattr(os.environ, "_data", None)  # the encoded variables behind os.environ
        if isinstance(raw, dict) and self._seen is not None and raw == self._seen[0]:
            return self._seen[1]
        variables = tuple(sorted((k, v) for k, v in os.environ.items() if self._relevant(k)))
        if isinstance(raw, dict):
            self._seen = (dict(raw), variables)
        return variables

    def current(self) -> T:
        key = self._fingerprint()
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._build(os.environ))
        return self._cache[1]
