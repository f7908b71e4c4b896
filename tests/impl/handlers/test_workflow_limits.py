"""The execution-time budget: a run that executes too long is stopped; time paused for a human
does not count."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.server import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
import live_workflows as lw


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"WORKFLOW_MAX_EXECUTION_TIME": "1"}
    with lw.workflow_server(tmp_path_factory.mktemp("wf-limits"), extra_env=env) as live:
        yield live


def test_a_run_over_budget_is_stopped(server: LiveServer) -> None:
    doc = lw.example_doc("workflow-llm.yml")
    doc["workflow"]["graph"]["nodes"][1]["data"]["model"]["completion_params"] = {
        "token_delay": 0.05,
        "reply_tokens": 100,
    }
    key = lw.install(server, yaml.safe_dump(doc))[0]
    started = time.monotonic()
    events = lw.stream(
        server, key, "/workflows/run", {"inputs": {"topic": "t"}, "user": "u", "response_mode": "streaming"}
    )
    assert 0.9 < time.monotonic() - started < 3.0
    assert lw.check_stream(events, "workflow") == ["stopped"]
    assert events[-1]["data"]["error"] == "The run exceeded the maximum execution time (1 s)."


def test_paused_time_does_not_count(server: LiveServer) -> None:
    key = lw.install(server, lw.example_text("workflow-human-input.yml"))[0]
    with lw.client(server, key) as c:
        run = c.post("/workflows/run", json={"inputs": {"draft": "x"}, "user": "u"}).json()["data"]
        assert run["status"] == "paused"
        time.sleep(1.3)
        events = lw.stream(
            server, key, f"/workflow/{run['id']}/events", {}, method="GET", params={"user": "u"}
        )
        token = [e for e in events if e["event"] == "human_input_required"][0]["data"]["form_token"]
        c.post(f"/form/human_input/{token}", json={"inputs": {}, "action": "approve", "user": "u"})
        lw.wait_until(lambda: c.get(f"/workflows/run/{run['id']}").json()["status"] != "paused")
        lw.wait_until(lambda: c.get(f"/workflows/run/{run['id']}").json()["status"] != "running")
        assert c.get(f"/workflows/run/{run['id']}").json()["status"] == "succeeded"


def test_an_expired_form_fails_the_node_or_takes_the_timeout_branch(server: LiveServer) -> None:
    doc = lw.example_doc("workflow-human-input.yml")
    doc["workflow"]["graph"]["nodes"][1]["data"]["timeout"] = 0.0003  # hours: about one second
    key = lw.install(server, yaml.safe_dump(doc))[0]
    with lw.client(server, key) as c:
        run = c.post("/workflows/run", json={"inputs": {"draft": "x"}, "user": "u"}).json()["data"]
        events = lw.stream(
            server, key, f"/workflow/{run['id']}/events", {}, method="GET", params={"user": "u"}
        )
        token = [e for e in events if e["event"] == "human_input_required"][0]["data"]["form_token"]
        lw.wait_until(lambda: c.get(f"/workflows/run/{run['id']}").json()["status"] == "failed")
        expired = c.post(f"/form/human_input/{token}", json={"inputs": {}, "action": "approve", "user": "u"})
        assert expired.status_code == 412 and expired.json()["code"] == "human_input_form_expired"
    replay = lw.stream(server, key, f"/workflow/{run['id']}/events", {}, method="GET", params={"user": "u"})
    assert lw.check_stream(replay, "workflow-events") == ["failed"]
    assert "human_input_form_timeout" in lw.names(replay)
    # with a `__timeout` edge the run goes on along it
    doc["workflow"]["graph"]["edges"].append(
        {
            "id": "t",
            "source": "review",
            "sourceHandle": "__timeout",
            "target": "rejected",
            "targetHandle": "target",
        }
    )
    key = lw.install(server, yaml.safe_dump(doc))[0]
    with lw.client(server, key) as c:
        run = c.post("/workflows/run", json={"inputs": {"draft": "x"}, "user": "u"}).json()["data"]
        lw.wait_until(lambda: c.get(f"/workflows/run/{run['id']}").json()["status"] == "succeeded")
        outputs = c.get(f"/workflows/run/{run['id']}").json()["outputs"]
        assert outputs["decision"] == "__timeout" and outputs["rejected"] == "rejected: looks fine"
