"""The CLI (exit codes, config file, reports) and the pytest plugin."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fakes import KEYS, FakeDify, serve
from helpers import REPO

from conformance.catalog import CHECKS
from conformance.cli import main
from conformance.config import ConfigError, load_file

FAST = ["--only", "sse.*", "--only", "trace.*"]


def keys_args(keys: dict[str, str]) -> list[str]:
    return [a for mode, key in keys.items() for a in ("--key", f"{mode}={key}")]


def test_checks_lists_every_registered_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checks"]) == 0
    out = capsys.readouterr().out
    assert all(c.id in out for c in CHECKS)


def test_an_unreachable_server_exits_2() -> None:
    assert main(["run", "--base-url", "http://127.0.0.1:9/v1", "--key", "chat=app-x"]) == 2


def test_a_rejected_key_exits_2() -> None:
    with serve(FakeDify().app) as url:
        assert main(["run", "--base-url", url, "--key", "chat=app-wrongkey"]) == 2


def test_a_key_for_another_mode_exits_2() -> None:
    with serve(FakeDify().app) as url:
        assert main(["run", "--base-url", url, "--key", f"completion={KEYS['chat']}"]) == 2


def test_pass_writes_all_three_reports(tmp_path: Path) -> None:
    with serve(FakeDify().app) as url:
        code = main(
            [
                "run",
                "--base-url",
                url,
                *keys_args(KEYS),
                *FAST,
                "--report",
                "junit,json,html",
                "--report-dir",
                str(tmp_path),
                "--seed",
                "3",
            ]
        )
    assert code == 0
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    cases = junit.findall(".//testcase")
    assert cases and all(c.get("name", "").startswith(("sse.", "trace.")) for c in cases)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["exit_code"] == 0 and data["seed"] == 3 and data["totals"]["FAIL"] == 0
    # Discovered per key: the fake's /parameters offers no file upload, and says so.
    assert data["capabilities"]["chat"]["file_upload"] == {
        "available": False,
        "reason": "/parameters has no file_upload settings",
    }
    html = (tmp_path / "report.html").read_text()
    assert "<style>" in html and "<script" not in html and "<link" not in html


def test_a_failure_exits_1_and_the_reports_carry_a_curl(tmp_path: Path) -> None:
    with serve(FakeDify(drop_message_end=True).app) as url:
        code = main(
            [
                "run",
                "--base-url",
                url,
                *keys_args(KEYS),
                "--only",
                "sse.grammar",
                "--report",
                "junit,html",
                "--report-dir",
                str(tmp_path),
            ]
        )
    assert code == 1
    failure = ET.parse(tmp_path / "junit.xml").getroot().find(".//failure")
    assert failure is not None and "curl" in (failure.text or "") and "terminal" in failure.get("message", "")
    assert "Reproduce" in (tmp_path / "report.html").read_text()


def test_the_config_file_is_validated_and_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "conformance.toml"
    path.write_text(
        'base_url = "http://x/v1"\n[keys]\nchat = "${MY_KEY}"\n[capabilities]\nfile_upload = true\n'
    )
    monkeypatch.setenv("MY_KEY", "app-fromenv")
    cfg = load_file(path)
    assert cfg.keys == {"chat": "app-fromenv"} and cfg.capabilities.file_upload
    path.write_text("[capabilities]\ntelepathy = true\n")
    with pytest.raises(ConfigError, match="telepathy"):
        load_file(path)
    assert main(["run", "--config", str(path)]) == 2


def test_the_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFY_KEY_CHAT", "app-example")
    cfg = load_file(REPO / "conformance" / "conformance.example.toml")
    assert cfg.keys == {"chat": "app-example"}


def test_the_pytest_plugin_turns_each_check_into_a_test(tmp_path: Path) -> None:
    # Tokens long enough apart that sse.incremental has a stream to judge.
    with serve(FakeDify(tokens=25, token_delay=0.01).app) as url:
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            str(tmp_path / "none.ini"),
            "--dify-base-url",
            url,
            "--dify-key",
            f"chat={KEYS['chat']}",
            "--dify-only",
            "sse.*",
            "--dify-spec",
            str(REPO / "spec"),
            str(tmp_path),
        ]
        (tmp_path / "none.ini").write_text("[pytest]\n")
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 passed" in done.stdout  # nine checks of the stream, and sse.incremental
