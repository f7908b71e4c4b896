"""The dify-service CLI: import, list, keys, revoke, db upgrade — checked against a live server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from support.server import LiveServer, run_cli

from impl import cli
from impl.db.migrate import current_revision, head_revision

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "apps"
KEY_RE = re.compile(r"^key: (app-[A-Za-z0-9]{24})$", re.M)
APP_RE = re.compile(r"^app ([0-9a-f-]{36}) \((\w[\w-]*)\) version (\d+)$", re.M)
TIMEOUT = 10.0


def _info(server: LiveServer, key: str) -> httpx.Response:
    return httpx.get(server.base_url + "/info", headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)


def test_import_list_keys_revoke_round_trip(live_server: LiveServer, tmp_path: Path) -> None:
    data = ["--data-dir", str(live_server.data_dir)]
    imported = run_cli("apps", "import", str(EXAMPLES / "chat.yml"), *data)
    assert imported.returncode == 0, imported.stderr
    app_match = APP_RE.search(imported.stdout)
    key_match = KEY_RE.search(imported.stdout)
    assert app_match and key_match, imported.stdout
    app_id, first_key = app_match.group(1), key_match.group(1)
    assert app_match.group(2) == "chat" and app_match.group(3) == "1"
    assert _info(live_server, first_key).json()["name"] == "Demo Chat"

    listed = run_cli("apps", "list", "--json", *data)
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["id"] == app_id)
    assert row == {
        "id": app_id,
        "name": "Demo Chat",
        "mode": "chat",
        "version": 1,
        "enable_api": True,
        "active_keys": 1,
    }

    created = run_cli("apps", "keys", "create", app_id, *data)
    assert created.returncode == 0, created.stderr
    key_match2 = KEY_RE.search(created.stdout)
    assert key_match2
    second_key = key_match2.group(1)
    assert second_key != first_key
    assert _info(live_server, second_key).status_code == 200

    keys_out = run_cli("apps", "keys", "list", app_id, *data)
    assert keys_out.returncode == 0
    lines = keys_out.stdout.strip().splitlines()
    assert len(lines) == 2
    assert first_key not in keys_out.stdout and second_key not in keys_out.stdout
    assert any(first_key[:8] in line for line in lines)

    revoked = run_cli("apps", "keys", "revoke", first_key, *data)
    assert revoked.returncode == 0, revoked.stderr
    gone = _info(live_server, first_key)
    assert gone.status_code == 401
    assert gone.json()["message"] == "Access token is invalid"
    assert _info(live_server, second_key).status_code == 200

    key_id = next(
        line.split()[0]
        for line in run_cli("apps", "keys", "list", app_id, *data).stdout.splitlines()
        if "active" in line
    )
    assert run_cli("apps", "keys", "revoke", key_id, *data).returncode == 0
    assert _info(live_server, second_key).status_code == 401
    assert run_cli("apps", "keys", "revoke", "no-such-key", *data).returncode == 1

    # A new version of the same app: the name changes, the keys stay.
    renamed = tmp_path / "renamed.yml"
    renamed.write_text((EXAMPLES / "chat.yml").read_text().replace("name: Demo Chat", "name: Renamed Chat"))
    update = run_cli("apps", "import", str(renamed), "--app-id", app_id, "--new-key", *data)
    assert update.returncode == 0, update.stderr
    assert f"app {app_id} (chat) version 2" in update.stdout
    key_match3 = KEY_RE.search(update.stdout)
    assert key_match3
    assert _info(live_server, key_match3.group(1)).json()["name"] == "Renamed Chat"

    wrong_mode = run_cli("apps", "import", str(EXAMPLES / "completion.yml"), "--app-id", app_id, *data)
    assert wrong_mode.returncode == 1
    assert "is a chat app; the DSL describes a completion app" in wrong_mode.stderr


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_refuses_graphs_the_engine_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every app mode has a runtime now; a workflow with a node type the engine lacks is refused.
    dsl = (
        (EXAMPLES / "workflow.yml")
        .read_text()
        .replace("type: template-transform", "type: knowledge-retrieval")
    )
    path = tmp_path / "retrieval.yml"
    path.write_text(dsl)
    code, out, err = _main(capsys, "apps", "import", str(path), "--data-dir", str(tmp_path))
    assert code == 2
    assert "does not support: knowledge-retrieval" in err
    assert out == ""


def test_import_reports_invalid_dsl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("app: {mode: chat, name: x}\nmodel_config: {pre_prompt: hi}\n")
    code, _out, err = _main(capsys, "apps", "import", str(bad), "--data-dir", str(tmp_path))
    assert code == 2
    assert "invalid DSL: model_config.model is missing" in err
    broken = tmp_path / "broken.yml"
    broken.write_text("app: [")
    code, _out, err = _main(capsys, "apps", "import", str(broken), "--data-dir", str(tmp_path))
    assert code == 2
    assert "not valid YAML" in err
    code, _out, err = _main(capsys, "apps", "import", str(tmp_path / "nope.yml"), "--data-dir", str(tmp_path))
    assert code == 1
    assert "nope.yml" in err


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = run_cli("db", "upgrade", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    head = head_revision()
    assert head is not None and head >= "0001"
    assert f"database at revision {head}" in result.stdout
    assert current_revision(f"sqlite+aiosqlite:///{tmp_path / 'dify.db'}") == head


def test_demo_keys_file_matches_the_server(live_server: LiveServer) -> None:
    keys = json.loads((live_server.data_dir / "demo-keys.json").read_text())
    assert set(keys) == {"chat", "completion", "agent-chat", "advanced-chat", "workflow"}
    for mode, key in keys.items():
        assert re.fullmatch(r"app-[A-Za-z0-9]{24}", key)
        assert _info(live_server, key).json()["mode"] == mode


def test_import_warns_about_tools_and_models_it_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIFY_BUILTIN_MODELS", raising=False)
    monkeypatch.delenv("DIFY_MODEL_ROUTES", raising=False)
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    dsl = (EXAMPLES / "workflow.yml").read_text()
    tool = (
        "    - id: rss\n      data:\n        type: tool\n        title: RSS\n"
        "        provider_id: acme/rss/rss\n        tool_name: fetch\n"
        "    - id: talk\n      data:\n        type: llm\n        title: Talk\n"
        "        model: {provider: moonshot, name: kimi, mode: chat}\n        prompt_template: []\n"
    )
    path = tmp_path / "needs.yml"
    path.write_text(dsl.replace("    nodes:\n", "    nodes:\n" + tool, 1))
    code, out, _err = _main(capsys, "apps", "import", str(path), "--data-dir", str(tmp_path))
    assert code == 0, out
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: model moonshot/kimi: Model provider 'moonshot' is not initialized: "
        "set MOONSHOT_API_KEY on the server.",
        "warning: tool acme/rss/rss/fetch: not available on this server (map it to an MCP server)",
    ]
