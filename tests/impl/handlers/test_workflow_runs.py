"""Workflow apps on a live server: every example DSL in both response modes, detail, logs, versions,
inputs validation, stop, resume stream, the HTTP node against a loopback server, human input."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.server import LiveServer

from impl.providers import BuiltinModel, ModelRequest, PromptMessage, collect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
import live_workflows as lw


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with lw.workflow_server(tmp_path_factory.mktemp("wf-live")) as live:
        yield live


@pytest.fixture(scope="module")
def keys(server: LiveServer) -> dict[str, str]:
    """One app per workflow example."""
    found: dict[str, str] = {}
    for path in sorted(lw.EXAMPLES.glob("workflow*.yml")):
        found[path.stem], _app, _version = lw.install(server, path.read_text(encoding="utf-8"))
    return found


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        reply = json.dumps(
            {
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "x": self.headers.get("X-Query"),
                "body": body,
            }
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("workflow", {"name": "Ada"}, {"greeting": "Hello, Ada!"}, "succeeded"),
    (
        "workflow-branching",
        {"name": "Ada", "score": "72", "level": "senior"},
        {"verdict": "Ada passed with 72 (senior).", "branch": "pass"},
        "succeeded",
    ),
    (
        "workflow-branching",
        {"name": "Bo", "score": 20},
        {"verdict": "Bo needs 30 more points.", "branch": "false"},
        "succeeded",
    ),
    (
        "workflow-iteration",
        {"text": "items: apples, pears, plums"},
        {"lines": ["1. apples", "2. pears", "3. plums"], "counted": 3},
        "succeeded",
    ),
    (
        "workflow-classify",
        {"question": "My technical setup crashed"},
        {"team": "technical team", "category": "technical", "reply": "A person will answer soon."},
        "partial-succeeded",
    ),
    ("workflow-llm", {"topic": "owls"}, {"note": None, "topic": "owls"}, "succeeded"),
    (
        "workflow-structured",
        {"topic": "owls"},
        {
            "title": "Points about owls",
            "points": ["Points about owls", "Points about owls"],
            "urgent": False,
            "rendered": "- Points about owls\n- Points about owls\n",
        },
        "succeeded",
    ),
]


def builtin_reply(*messages: tuple[str, str]) -> str:
    """What the builtin model answers to these messages (it is deterministic)."""
    prompt = tuple(PromptMessage(role, text) for role, text in messages)  # type: ignore[arg-type]
    text, _usage = asyncio.run(collect(BuiltinModel(), ModelRequest(messages=prompt)))
    return text


@pytest.mark.parametrize(("app", "inputs", "outputs", "status"), CASES)
def test_examples_run_blocking_and_streaming(
    server: LiveServer,
    keys: dict[str, str],
    app: str,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    status: str,
) -> None:
    key = keys[app]
    if outputs.get("note", "") is None:
        outputs = outputs | {
            "note": builtin_reply(("system", "Write for engineers."), ("user", "A note about owls"))
        }
    with lw.client(server, key) as c:
        resp = c.post("/workflows/run", json={"inputs": inputs, "user": "alice"})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert "event" not in body and body["workflow_run_id"] == body["data"]["id"]
        data = body["data"]
        assert data["status"] == status and data["outputs"] == outputs and data["error"] is None
        assert data["finished_at"] >= data["created_at"] and data["total_steps"] >= 3
        detail = c.get(f"/workflows/run/{data['id']}").json()
        assert detail["status"] == status and detail["outputs"] == outputs
        assert isinstance(detail["inputs"], str) and set(json.loads(detail["inputs"])) <= set(inputs)
        assert detail["total_steps"] == data["total_steps"] and detail["total_tokens"] == data["total_tokens"]
    events = lw.stream(
        server, key, "/workflows/run", {"inputs": inputs, "user": "alice", "response_mode": "streaming"}
    )
    assert lw.check_stream(events, "workflow") == ["normal"]
    finished = events[-1]
    assert finished["event"] == "workflow_finished"
    assert finished["data"]["outputs"] == outputs and finished["data"]["status"] == status
    starts, ends = lw.node_ids(events), lw.node_ids(events, "node_finished")
    assert sorted(starts) == sorted(ends) and starts[0] == "start"
    assert finished["data"]["total_steps"] == len(starts)
    ids = {e["task_id"] for e in events} | {e["workflow_run_id"] for e in events}
    assert len(ids) == 2


def test_stream_shapes_llm_text_chunks_and_retries(server: LiveServer, keys: dict[str, str]) -> None:
    body = {"inputs": {"topic": "owls"}, "user": "alice", "response_mode": "streaming"}
    events = lw.stream(server, keys["workflow-llm"], "/workflows/run", body)
    chunks = [e for e in events if e["event"] == "text_chunk"]
    text = "".join(c["data"]["text"] for c in chunks)
    assert text == events[-1]["data"]["outputs"]["note"]
    assert all(c["data"]["from_variable_selector"] == ["llm", "text"] for c in chunks)
    # text chunks arrive while the LLM node runs
    names = lw.names(events)
    assert names.index("text_chunk") < names.index("node_finished", names.index("text_chunk") - 1) + 10
    body = {"inputs": {"question": "billing please"}, "user": "alice", "response_mode": "streaming"}
    events = lw.stream(server, keys["workflow-classify"], "/workflows/run", body)
    retries = [e for e in events if e["event"] == "node_retry"]
    assert [r["data"]["retry_index"] for r in retries] == [1, 2]
    draft = [e for e in events if e["event"] == "node_finished" and e["data"]["node_id"] == "draft"][0]
    assert (
        draft["data"]["status"] == "exception"
        and draft["data"]["outputs"]["text"] == "A person will answer soon."
    )
    assert (
        events[-1]["data"]["exceptions_count"] == 1
        and events[-1]["data"]["outputs"]["team"] == "billing team"
    )


def test_iteration_and_loop_events_nest(server: LiveServer, keys: dict[str, str]) -> None:
    body = {"inputs": {"text": "items: a, b"}, "user": "alice", "response_mode": "streaming"}
    events = lw.stream(server, keys["workflow-iteration"], "/workflows/run", body)
    lw.check_stream(events, "workflow")
    # no node events for the containers and their start nodes (Dify's response converter)
    started = lw.node_ids(events)
    assert not {"each", "each-start", "count", "count-start"} & set(started)
    inner = [e for e in events if e["event"] == "node_started" and e["data"]["iteration_id"] == "each"]
    assert [e["data"]["node_id"] for e in inner] == ["format"] * 2
    nexts = [e["data"]["index"] for e in events if e["event"] == "iteration_next"]
    assert nexts == [0, 1]
    # loop_next follows each round that does not end the loop, with an empty pre_loop_output
    loops = [e for e in events if e["event"] == "loop_next"]
    assert [(e["data"]["index"], e["data"]["pre_loop_output"]) for e in loops] == [(1, {}), (2, {})]
    done = [e for e in events if e["event"] == "loop_completed"][0]
    assert done["data"]["outputs"] == {"n": 3, "loop_round": 3} and done["data"]["steps"] == 3


def test_http_node_calls_the_loopback_server(server: LiveServer, keys: dict[str, str], echo_url: str) -> None:
    inputs = {"base_url": echo_url, "q": "owl"}
    with lw.client(server, keys["workflow-http"]) as c:
        data = c.post("/workflows/run", json={"inputs": inputs, "user": "alice"}).json()["data"]
    assert data["status"] == "succeeded" and data["outputs"]["status_code"] == 201
    report = data["outputs"]["report"]
    assert report.startswith("status 201: ")
    echoed = json.loads(report[len("status 201: ") :])
    assert (
        echoed["path"] == "/echo?q=owl" and echoed["auth"] == "Bearer secret-token" and echoed["x"] == "owl"
    )
    assert json.loads(echoed["body"]) == {"query": "owl"}
    events = lw.stream(
        server,
        keys["workflow-http"],
        "/workflows/run",
        {"inputs": inputs, "user": "a", "response_mode": "streaming"},
    )
    assert lw.check_stream(events, "workflow") == ["normal"]


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3:9", "http://169.254.169.254", "http://[::1]:9", "http://127.0.0.2:9"]
)
def test_http_node_refuses_private_addresses(server: LiveServer, keys: dict[str, str], url: str) -> None:
    with lw.client(server, keys["workflow-http"]) as c:
        data = c.post("/workflows/run", json={"inputs": {"base_url": url}, "user": "alice"}).json()["data"]
    assert data["status"] == "partial-succeeded" and data["exceptions_count"] == 1
    assert "refused" in data["outputs"]["report"]


def test_inputs_are_validated_with_difys_messages(server: LiveServer, keys: dict[str, str]) -> None:
    cases = [
        ({}, "name is required in input form"),
        ({"name": "x" * 40, "score": 1}, "name in input form must be less than 32 characters"),
        ({"name": 5, "score": 1}, "(type 'text-input') name in input form must be a string"),
        ({"name": "a", "score": "lots"}, "score in input form must be a valid number"),
        (
            {"name": "a", "score": 1, "level": "boss"},
            "level in input form must be one of the following: ['junior', 'senior']",
        ),
    ]
    with lw.client(server, keys["workflow-branching"]) as c:
        for inputs, message in cases:
            resp = c.post("/workflows/run", json={"inputs": inputs, "user": "alice"})
            assert resp.status_code == 400 and resp.json() == {
                "code": "invalid_param",
                "message": message,
                "status": 400,
            }
        resp = c.post("/workflows/run", json={"inputs": {"name": "a", "score": 1}})
        assert resp.status_code == 400 and resp.json()["code"] == "invalid_param"


def test_mode_gates(server: LiveServer, keys: dict[str, str]) -> None:
    chatflow_key, _app, _version = lw.install(server, lw.example_text("chatflow-memory.yml"))
    with lw.client(server, chatflow_key) as c:
        resp = c.post("/workflows/run", json={"inputs": {}, "user": "alice"})
        assert resp.status_code == 400 and resp.json()["code"] == "not_workflow_app"
        assert c.get("/workflows/logs").status_code == 200
    with lw.client(server, keys["workflow"]) as c:
        resp = c.post("/chat-messages", json={"inputs": {}, "query": "hi", "user": "alice"})
        assert resp.status_code == 400 and resp.json()["code"] == "not_chat_app"


def test_run_by_version_keeps_earlier_versions_runnable(server: LiveServer) -> None:
    doc = lw.example_doc("workflow.yml")
    key, app_id, first = lw.install(server, yaml.safe_dump(doc))
    doc["workflow"]["graph"]["nodes"][1]["data"]["template"] = "Goodbye, {{ name }}!"
    _key, _app, second = lw.install(server, yaml.safe_dump(doc), app_id)
    with lw.client(server, key) as c:
        run = lambda path: c.post(path, json={"inputs": {"name": "Ada"}, "user": "u"})  # noqa: E731
        assert run("/workflows/run").json()["data"]["outputs"] == {"greeting": "Goodbye, Ada!"}
        old = run(f"/workflows/{first}/run").json()["data"]
        assert old["outputs"] == {"greeting": "Hello, Ada!"} and old["workflow_id"] == first
        assert run(f"/workflows/{second}/run").json()["data"]["workflow_id"] == second
        bad = run("/workflows/not-a-uuid/run")
        assert bad.status_code == 400 and bad.json()["code"] == "bad_request"
        missing = run("/workflows/00000000-0000-4000-8000-000000000000/run")
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
        assert "Workflow not found with id" in missing.json()["message"]


def test_detail_and_logs(server: LiveServer) -> None:
    key, _app, _version = lw.install(server, lw.example_text("workflow.yml"))
    with lw.client(server, key) as c:
        ids = []
        for i, user in enumerate(["ann", "ben", "ann"]):
            data = c.post("/workflows/run", json={"inputs": {"name": f"N{i}"}, "user": user}).json()["data"]
            ids.append(data["id"])
        failed = c.get("/workflows/run/00000000-0000-4000-8000-000000000000")
        assert failed.status_code == 404 and failed.json()["message"] == "Workflow run not found."
        assert c.get("/workflows/run/nope").status_code == 404
        page = c.get("/workflows/logs", params={"limit": 2}).json()
        assert page["total"] == 3 and page["has_more"] is True and page["page"] == 1
        assert [d["workflow_run"]["id"] for d in page["data"]] == ids[::-1][:2]
        second = c.get("/workflows/logs", params={"limit": 2, "page": 2}).json()
        assert [d["id"] for d in second["data"]] == [ids[0]] and second["has_more"] is False
        entry = page["data"][0]
        assert entry["created_by_role"] == "end_user" and entry["created_by_end_user"]["session_id"] == "ann"
        assert entry["workflow_run"]["version"] == "1" and entry["created_from"] == "service-api"
        by_user = c.get("/workflows/logs", params={"created_by_end_user_session_id": "ben"}).json()
        assert [d["id"] for d in by_user["data"]] == [ids[1]]
        assert c.get("/workflows/logs", params={"keyword": "n2"}).json()["total"] == 1
        c.post("/workflows/run", json={"inputs": {"name": "Zoë"}, "user": "zed"})
        assert c.get("/workflows/logs", params={"keyword": "zoë"}).json()["total"] == 1
        assert c.get("/workflows/logs", params={"keyword": ids[1]}).json()["total"] == 1
        assert c.get("/workflows/logs", params={"status": "failed"}).json()["total"] == 0
        assert (
            c.get("/workflows/logs", params={"created_at__after": "2000-01-01T00:00:00Z"}).json()["total"]
            == 4
        )
        assert (
            c.get("/workflows/logs", params={"created_at__before": "2000-01-01T00:00:00+00:00"}).json()[
                "total"
            ]
            == 0
        )
        with sqlite3.connect(server.data_dir / "dify.db") as db:
            rows = db.execute(
                "SELECT node_id, status, outputs FROM workflow_node_executions WHERE workflow_run_id = ? "
                'ORDER BY "index"',
                (ids[2],),
            ).fetchall()
        assert [(r[0], r[1]) for r in rows] == [
            ("start", "succeeded"),
            ("template", "succeeded"),
            ("end", "succeeded"),
        ]
        assert json.loads(rows[2][2]) == {"greeting": "Hello, N2!"}
        bad = c.get("/workflows/logs", params={"created_by_account": "x@example.com"})
        assert bad.status_code == 400 and bad.json()["message"] == "Account not found: x@example.com"


def _slow_llm_dsl() -> str:
    doc = lw.example_doc("workflow-llm.yml")
    nodes = doc["workflow"]["graph"]["nodes"]
    nodes[1]["data"]["model"]["completion_params"] = {"token_delay": 0.04, "reply_tokens": 40}
    nodes.append(
        {
            "id": "after",
            "data": {"type": "template-transform", "title": "After", "template": "x", "variables": []},
        }
    )
    edges = doc["workflow"]["graph"]["edges"]
    edges[1]["target"] = "after"
    edges.append({"id": "after-end", "source": "after", "sourceHandle": "source", "target": "end"})
    return yaml.safe_dump(doc)


def test_stop_really_stops_only_for_the_same_user_of_the_same_app(server: LiveServer) -> None:
    """A stop from another end user, or with the key of another workflow app, changes nothing
    (see DEVIATIONS.md: Dify checks neither); the run's own user stops it within the bounds, and
    the stopped run keeps the text its end output had streamed so far."""
    key, _app, _version = lw.install(server, _slow_llm_dsl())
    other_key, _other_app, _ = lw.install(server, _slow_llm_dsl())
    stopped_at: list[float] = []
    chunks: list[str] = []
    foreign_outputs: list[bool] = []

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "text_chunk":
            chunks.append(event["data"]["text"])
        if event["event"] == "text_chunk" and len(chunks) == 3 and not stopped_at:
            task = event["task_id"]
            with lw.client(server, key) as c, lw.client(server, other_key) as other:
                for client, user in ((c, "someone-else"), (other, "alice")):
                    resp = client.post(f"/workflows/tasks/{task}/stop", json={"user": user})
                    assert resp.json() == {"result": "success"}
                time.sleep(0.5)  # a foreign stop would have ended the run by now
                foreign_outputs.append(True)
                stopped_at.append(time.monotonic())
                assert c.post(f"/workflows/tasks/{task}/stop", json={"user": "alice"}).json() == {
                    "result": "success"
                }

    body = {"inputs": {"topic": "owls"}, "user": "alice", "response_mode": "streaming"}
    events = lw.stream(server, key, "/workflows/run", body, on_event=on_event)
    assert foreign_outputs == [True]
    assert time.monotonic() - stopped_at[0] < 2.0
    # the run was still streaming after the foreign stops: more chunks came before the real one
    assert len(chunks) > 3
    assert lw.check_stream(events, "workflow") == ["stopped"]
    assert "after" not in lw.node_ids(events) and "end" not in lw.node_ids(events)
    llm = [e for e in events if e["event"] == "node_finished" and e["data"]["node_id"] == "llm"][0]
    assert llm["data"]["status"] == "stopped"
    finished = events[-1]
    streamed = "".join(chunks)
    assert streamed and list(finished["data"]["outputs"].values()) == [streamed]
    run_id = events[0]["workflow_run_id"]
    with lw.client(server, key) as c:
        detail = c.get(f"/workflows/run/{run_id}").json()
        assert detail["status"] == "stopped" and detail["total_steps"] == 2
        assert detail["outputs"] == finished["data"]["outputs"]
        assert c.post("/workflows/tasks/unknown/stop", json={"user": "x"}).json() == {"result": "success"}
        assert c.post("/workflows/tasks/unknown/stop", json={}).status_code == 400


def test_resume_stream_replays_finished_and_follows_running(server: LiveServer) -> None:
    key, _app, _version = lw.install(server, _slow_llm_dsl())
    with lw.client(server, key) as c:
        data = c.post("/workflows/run", json={"inputs": {"topic": "a [[tokens:3]]"}, "user": "alice"}).json()[
            "data"
        ]
    replay = lw.stream(
        server, key, f"/workflow/{data['id']}/events", {}, method="GET", params={"user": "alice"}
    )
    assert lw.check_stream(replay, "workflow-events") == ["normal"]
    assert replay[-1]["data"]["outputs"] == data["outputs"] and replay[0]["event"] == "workflow_started"
    with lw.client(server, key) as c:
        other = c.get(f"/workflow/{data['id']}/events", params={"user": "mallory"})
        assert other.status_code == 404
        assert c.get(f"/workflow/{data['id']}/events").status_code == 400
    # a running run: replay what happened so far, then follow until workflow_finished
    seen: list[dict[str, Any]] = []
    original: list[list[dict[str, Any]]] = []

    def run() -> None:
        body = {"inputs": {"topic": "b"}, "user": "alice", "response_mode": "streaming"}
        original.append(lw.stream(server, key, "/workflows/run", body, on_event=seen.append))

    thread = threading.Thread(target=run)
    thread.start()
    lw.wait_until(lambda: any(e["event"] == "text_chunk" for e in seen))
    run_id = seen[0]["workflow_run_id"]
    followed = lw.stream(
        server, key, f"/workflow/{run_id}/events", {}, method="GET", params={"user": "alice"}
    )
    thread.join(timeout=20)
    assert lw.check_stream(followed, "workflow-events") == ["normal"]
    assert followed == [e for e in original[0] if e["event"] != "ping"]


def test_human_input_pause_and_resume(server: LiveServer, keys: dict[str, str]) -> None:
    key = keys["workflow-human-input"]
    body = {"inputs": {"draft": "Plan A"}, "user": "alice", "response_mode": "streaming"}
    events = lw.stream(server, key, "/workflows/run", body)
    assert lw.check_stream(events, "workflow") == ["paused"]
    required = [e for e in events if e["event"] == "human_input_required"][0]["data"]
    token, run_id = required["form_token"], events[0]["workflow_run_id"]
    assert required["resolved_default_values"] == {"comment": "looks fine"}
    with lw.client(server, key) as c:
        assert c.get(f"/workflows/run/{run_id}").json()["status"] == "paused"
        form = c.get(f"/form/human_input/{token}").json()
        assert form["form_content"].startswith("Please review: Plan A")
        assert [a["id"] for a in form["user_actions"]] == ["approve", "reject"]
        bad = c.post(f"/form/human_input/{token}", json={"inputs": {}, "action": "maybe", "user": "alice"})
        assert bad.status_code == 400
        ok = c.post(
            f"/form/human_input/{token}",
            json={"inputs": {"comment": "ship it"}, "action": "approve", "user": "alice"},
        )
        assert ok.status_code == 200, ok.text
        again = c.post(
            f"/form/human_input/{token}", json={"inputs": {}, "action": "approve", "user": "alice"}
        )
        assert again.status_code == 412 and again.json()["code"] == "human_input_form_submitted"
        assert c.get(f"/form/human_input/{token}").json()["code"] == "human_input_form_submitted"
        assert c.get("/form/human_input/nope").status_code == 404
        lw.wait_until(lambda: c.get(f"/workflows/run/{run_id}").json()["status"] == "succeeded")
        detail = c.get(f"/workflows/run/{run_id}").json()
        assert detail["outputs"] == {"decision": "approve", "approved": "approved: ship it", "rejected": None}
    replay = lw.stream(server, key, f"/workflow/{run_id}/events", {}, method="GET", params={"user": "alice"})
    assert lw.check_stream(replay, "workflow-events") == ["normal"]
    names = lw.names(replay)
    assert names.index("workflow_paused") < names.index("human_input_form_filled") < len(names) - 1
    # blocking mode returns when the run pauses
    with lw.client(server, key) as c:
        data = c.post("/workflows/run", json={"inputs": {"draft": "B"}, "user": "alice"}).json()["data"]
        assert data["status"] == "paused" and data["finished_at"] is None


FILE_DSL = """
app: {mode: workflow, name: Workflow Files}
kind: app
version: 0.3.0
workflow:
  features:
    file_upload:
      enabled: true
      allowed_file_types: [document, image]
      allowed_file_upload_methods: [local_file, remote_url]
      number_limits: 2
  graph:
    edges:
    - {id: e1, source: start, sourceHandle: source, target: names, targetHandle: target}
    - {id: e2, source: names, sourceHandle: source, target: end, targetHandle: target}
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - {variable: doc, label: Doc, type: file, required: true, allowed_file_types: [document]}
        - variable: pics
          label: Pics
          type: file-list
          required: false
          max_length: 2
          allowed_file_types: [image]
    - id: names
      data:
        type: template-transform
        title: Names
        template: '{{ doc.filename }}|{{ pics | map(attribute="filename") | join(",") }}|{{ files | length }}'
        variables:
        - {variable: doc, value_selector: [start, doc]}
        - {variable: pics, value_selector: [start, pics]}
        - {variable: files, value_selector: [sys, files]}
    - id: end
      data:
        type: end
        title: End
        outputs:
        - {variable: names, value_selector: [names, output]}
        - {variable: doc, value_selector: [start, doc]}
"""


def test_file_inputs_and_sys_files_share_one_shape(server: LiveServer) -> None:
    key, _app, _version = lw.install(server, FILE_DSL)
    with lw.client(server, key) as c:
        upload = c.post(
            "/files/upload", files={"file": ("notes.txt", b"hello", "text/plain")}, data={"user": "f"}
        )
        assert upload.status_code == 201, upload.text
        doc = {"type": "document", "transfer_method": "local_file", "upload_file_id": upload.json()["id"]}
        pic = {"type": "image", "transfer_method": "remote_url", "url": "https://example.com/a.png"}
        body = {"inputs": {"doc": doc, "pics": [pic, pic]}, "files": [pic], "user": "f"}
        data = c.post("/workflows/run", json=body).json()["data"]
        assert data["status"] == "succeeded", data
        assert data["outputs"]["names"] == "notes.txt|a.png,a.png|1"
        file = data["outputs"]["doc"]
        assert file["transfer_method"] == "local_file" and file["upload_file_id"] == upload.json()["id"]
        assert file["type"] == "document" and file["extension"] == ".txt" and file["size"] == 5
        cases = [
            ({"doc": "notes.txt"}, "doc in input form must be a file"),
            ({"doc": doc, "pics": pic}, "pics in input form must be a list of files"),
            ({"doc": doc, "pics": [pic, pic, pic]}, "pics in input form must be less than 2 files"),
            ({"doc": pic}, "File validation failed for file: a.png"),
            (
                {"doc": {"type": "document", "transfer_method": "local_file", "upload_file_id": "x"}},
                "Invalid upload file id format",
            ),
        ]
        for inputs, message in cases:
            resp = c.post("/workflows/run", json={"inputs": inputs, "user": "f"})
            assert resp.status_code == 400 and resp.json()["message"] == message, resp.text


def test_resume_stream_of_a_paused_run_closes_at_the_pause(server: LiveServer, keys: dict[str, str]) -> None:
    key = keys["workflow-human-input"]
    with lw.client(server, key) as c:
        run_id = c.post("/workflows/run", json={"inputs": {"draft": "C"}, "user": "alice"}).json()["data"][
            "id"
        ]
    events = lw.stream(server, key, f"/workflow/{run_id}/events", {}, method="GET", params={"user": "alice"})
    assert lw.check_stream(events, "workflow-events") == ["paused"]
    assert lw.names(events)[-2:] == ["human_input_required", "workflow_paused"]


def test_stop_while_paused_ends_the_run(server: LiveServer, keys: dict[str, str]) -> None:
    key = keys["workflow-human-input"]
    body = {"inputs": {"draft": "D"}, "user": "alice", "response_mode": "streaming"}
    events = lw.stream(server, key, "/workflows/run", body)
    run_id, task_id = events[0]["workflow_run_id"], events[0]["task_id"]
    token = [e for e in events if e["event"] == "human_input_required"][0]["data"]["form_token"]
    with lw.client(server, key) as c:
        stop = c.post(f"/workflows/tasks/{task_id}/stop", json={"user": "alice"})
        assert stop.json() == {"result": "success"}
        lw.wait_until(lambda: c.get(f"/workflows/run/{run_id}").json()["status"] == "stopped")
        late = c.post(f"/form/human_input/{token}", json={"inputs": {}, "action": "approve", "user": "alice"})
        assert late.status_code == 412 and late.json()["code"] == "human_input_form_expired"
    replay = lw.stream(server, key, f"/workflow/{run_id}/events", {}, method="GET", params={"user": "alice"})
    assert lw.check_stream(replay, "workflow-events") == ["stopped"]
    assert "approved" not in lw.node_ids(replay)


def test_a_failed_run_is_still_200_with_status_failed(server: LiveServer) -> None:
    doc = lw.example_doc("workflow-llm.yml")
    doc["workflow"]["graph"]["nodes"][1]["data"]["model"]["completion_params"] = {
        "fail": "provider_quota_exceeded"
    }
    key = lw.install(server, yaml.safe_dump(doc))[0]
    with lw.client(server, key) as c:
        resp = c.post("/workflows/run", json={"inputs": {"topic": "t"}, "user": "alice"})
        assert resp.status_code == 200
        data = resp.json()["data"]
        assert (
            data["status"] == "failed"
            and "provider_quota_exceeded" in data["error"]
            and data["outputs"] == {}
        )
        assert c.get(f"/workflows/run/{data['id']}").json()["error"] == data["error"]
        assert c.get("/workflows/logs", params={"status": "failed"}).json()["total"] == 1
    events = lw.stream(
        server, key, "/workflows/run", {"inputs": {"topic": "t"}, "user": "a", "response_mode": "streaming"}
    )
    assert lw.check_stream(events, "workflow") == ["failed"]
    failed = [e for e in events if e["event"] == "node_finished" and e["data"]["status"] == "failed"]
    assert [e["data"]["node_id"] for e in failed] == ["llm"] and "end" not in lw.node_ids(events)
