"""The workflow and chatflow paths on a real PostgreSQL database (JSON columns, keyword search,
composite keys of conversation variables, pause and resume)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.postgres import PostgresCluster
from support.server import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
import live_workflows as lw


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, postgres_cluster: PostgresCluster
) -> Iterator[LiveServer]:
    url = postgres_cluster.create_database("dify_workflows")
    with lw.workflow_server(tmp_path_factory.mktemp("wf-pg"), url) as live:
        yield live


def test_workflows_on_postgres(server: LiveServer) -> None:
    key = lw.install(server, lw.example_text("workflow-iteration.yml"))[0]
    with lw.client(server, key) as c:
        data = c.post("/workflows/run", json={"inputs": {"text": "items: ä, b"}, "user": "pg"}).json()["data"]
        assert data["outputs"] == {"lines": ["1. ä", "2. b"], "counted": 3}
        assert json.loads(c.get(f"/workflows/run/{data['id']}").json()["inputs"]) == {"text": "items: ä, b"}
        assert c.get("/workflows/logs", params={"keyword": "ITEMS"}).json()["total"] == 1
        assert c.get("/workflows/logs", params={"keyword": "50%_"}).json()["total"] == 0
        assert c.get("/workflows/logs", params={"keyword": "ä, b"}).json()["total"] == 1
    events = lw.stream(
        server,
        key,
        "/workflows/run",
        {"inputs": {"text": "items: x"}, "user": "pg", "response_mode": "streaming"},
    )
    assert lw.check_stream(events, "workflow") == ["normal"]
    human = lw.install(server, lw.example_text("workflow-human-input.yml"))[0]
    with lw.client(server, human) as c:
        run = c.post("/workflows/run", json={"inputs": {"draft": "pg"}, "user": "pg"}).json()["data"]
        assert run["status"] == "paused"
    replay = lw.stream(
        server, human, f"/workflow/{run['id']}/events", {}, method="GET", params={"user": "pg"}
    )
    token = [e for e in replay if e["event"] == "human_input_required"][0]["data"]["form_token"]
    with lw.client(server, human) as c:
        c.post(
            f"/form/human_input/{token}", json={"inputs": {"comment": "no"}, "action": "reject", "user": "pg"}
        )
        lw.wait_until(lambda: c.get(f"/workflows/run/{run['id']}").json()["status"] == "succeeded")
        assert c.get(f"/workflows/run/{run['id']}").json()["outputs"]["rejected"] == "rejected: no"


def test_chatflow_variables_on_postgres(server: LiveServer) -> None:
    key = lw.install(server, lw.example_text("chatflow-memory.yml"))[0]
    with lw.client(server, key) as c:
        first = c.post("/chat-messages", json={"inputs": {}, "query": "one", "user": "pg"}).json()
        cid = first["conversation_id"]
        c.post("/chat-messages", json={"inputs": {}, "query": "two", "user": "pg", "conversation_id": cid})
        variables = {
            v["name"]: v
            for v in c.get(f"/conversations/{cid}/variables", params={"user": "pg"}).json()["data"]
        }
        assert variables["turns"]["value"] == "2" and json.loads(variables["topics"]["value"]) == [
            "one",
            "two",
        ]
        url = f"/conversations/{cid}/variables/{variables['topics']['id']}"
        assert c.put(url, json={"value": ["x"], "user": "pg"}).json()["value"] == '["x"]'
        assert c.put(url, json={"value": [1], "user": "pg"}).status_code == 400
        history = c.get("/messages", params={"conversation_id": cid, "user": "pg"}).json()["data"]
        assert [m["query"] for m in history] == ["one", "two"]
