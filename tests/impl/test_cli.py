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


GAPS_DSL = """
app: {mode: workflow, name: Gaps}
kind: app
version: 0.3.0
workflow:
  graph:
    edges:
    - {id: e1, source: start, target: run, sourceHandle: source}
    - {id: e2, source: run, target: search, sourceHandle: source}
    - {id: e3, source: search, target: recall, sourceHandle: source}
    - {id: e4, source: recall, target: write, sourceHandle: source}
    - {id: e5, source: write, target: end, sourceHandle: source}
    nodes:
    - {id: start, data: {type: start, title: Start, variables: []}}
    - {id: run, data: {type: code, title: Run, code_language: python3, code: "def main(): return {}"}}
    - id: search
      data: {type: tool, title: Search, provider_type: builtin, provider_id: tavily, tool_name: tavily_search}
    - {id: recall, data: {type: knowledge-retrieval, title: Recall, dataset_ids: [ds-1]}}
    - id: write
      data:
        type: llm
        title: Write
        model: {provider: langgenius/anthropic/anthropic, name: claude-x, mode: chat}
        prompt_template: [{role: user, text: hi}]
    - {id: end, data: {type: end, title: End, outputs: []}}
"""


def test_import_warns_about_what_cannot_run_and_check_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANTHROPIC_API_KEY", "DIFY_BUILTIN_MODELS", "DIFY_MODEL_ROUTES", "DIFY_KNOWLEDGE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "gaps.yml"
    path.write_text(GAPS_DSL)
    data = ["--data-dir", str(tmp_path)]
    code, out, err = _main(capsys, "apps", "import", str(path), *data)
    assert code == 0 and KEY_RE.search(out), err  # imported as Dify imports it
    warnings = [line for line in err.splitlines() if line.startswith("warning: [")]
    assert warnings == [
        "warning: [models] node write (Write): model 'claude-x': Model provider "
        "'langgenius/anthropic/anthropic' is not initialized: set ANTHROPIC_API_KEY on the server; "
        "runs answer provider_not_initialize",
        "warning: [tools] node search (Search): tool 'tavily_search' of builtin provider 'tavily' is "
        "neither builtin here nor mapped to an MCP server; the node fails with ToolNodeError",
        "warning: [knowledge] node recall (Recall): dataset(s) ds-1 not mapped to local files (set "
        "DIFY_KNOWLEDGE or DIFY_DATASET_DS_1); retrieval returns nothing for them",
    ]
    match = APP_RE.search(out)
    assert match
    # `apps check` reads a file or an imported app, and says the same
    for target in (str(path), match.group(1)):
        code, out, err = _main(capsys, "apps", "check", target, *data)
        assert code == 1 and out.endswith(": 3 warning(s)\n")
        assert [line for line in err.splitlines() if line.startswith("warning: [")] == warnings
    code, out, err = _main(capsys, "apps", "check", str(EXAMPLES / "workflow.yml"), *data)
    assert code == 0 and "available here" in out and err == ""
    code, out, err = _main(capsys, "apps", "check", "no-such-app", *data)
    assert code == 2 and "App no-such-app not found" in err


AGENT_DSL = """
app: {mode: agent-chat, name: Agent gaps}
model_config:
  model: {provider: langgenius/openai/openai, name: gpt-4o, mode: chat}
  agent_mode:
    enabled: true
    strategy: function_call
    tools:
    - {enabled: true, provider_type: builtin, provider_id: time, tool_name: current_time}
    - {enabled: true, provider_type: builtin, provider_id: google, tool_name: google_search}
  dataset_configs:
    retrieval_model: multiple
    datasets:
      datasets:
      - dataset: {enabled: true, id: ds-7}
"""


def test_check_names_chat_models_agent_tools_and_datasets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = tmp_path / "agent.yml"
    path.write_text(AGENT_DSL)
    code, _out, err = _main(capsys, "apps", "check", str(path), "--data-dir", str(tmp_path))
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("warning: [")] == [
        "warning: [models] model_config: model 'gpt-4o': Model provider 'langgenius/openai/openai' is "
        "not initialized: set OPENAI_API_KEY on the server; runs answer provider_not_initialize",
        "warning: [tools] model_config.agent_mode: tool 'google_search' of builtin provider 'google' is "
        "neither builtin here nor mapped to an MCP server; chat turns run without it",
        "warning: [knowledge] model_config.dataset_configs: dataset(s) ds-7 not mapped to local files "
        "(set DIFY_KNOWLEDGE or DIFY_DATASET_DS_7); retrieval returns nothing for them; the app answers "
        "without them",
    ]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, _out, err = _main(capsys, "apps", "check", str(path), "--data-dir", str(tmp_path))
    assert code == 1 and "[models]" not in err and "[tools]" in err


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
