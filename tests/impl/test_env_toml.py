"""`impl.env_toml`: a TOML file named by a variable, rebuilt only when it or its variables change."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from impl.env_toml import EnvToml, read_toml

ENV = "TEST_ENV_TOML_FILE"


def test_rebuilt_only_when_the_file_or_a_relevant_variable_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[dict[str, object]] = []

    def build(env: Mapping[str, str]) -> dict[str, object]:
        data = read_toml(ENV, env[ENV])
        value = {**data, "extra": env.get("TEST_ENV_TOML_EXTRA")}
        built.append(value)
        return value

    file = tmp_path / "conf.toml"
    file.write_text('name = "one"\n')
    monkeypatch.setenv(ENV, str(file))
    monkeypatch.delenv("TEST_ENV_TOML_EXTRA", raising=False)
    watched = EnvToml(ENV, lambda name: name.startswith("TEST_ENV_TOML_EXTRA"), build)

    assert watched.current() == {"name": "one", "extra": None}
    assert watched.current() is watched.current() and len(built) == 1
    monkeypatch.setenv("UNRELATED_VARIABLE_FOR_ENV_TOML", "x")
    watched.current()
    assert len(built) == 1

    monkeypatch.setenv("TEST_ENV_TOML_EXTRA", "on")
    assert watched.current() == {"name": "one", "extra": "on"}
    file.write_text('name = "two"\n')
    os.utime(file, ns=(1, 10**18))  # a modification time surely different from the first write
    assert watched.current() == {"name": "two", "extra": "on"}
    assert len(built) == 3


def test_a_missing_or_malformed_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"{ENV}: cannot read"):
        read_toml(ENV, str(tmp_path / "absent.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ValueError, match=f"{ENV}: .* is not valid TOML"):
        read_toml(ENV, str(bad))
