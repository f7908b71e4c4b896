"""A run paused on a human-input form outlives its server (embedded SQLite).

A real server pauses a workflow run and a chatflow turn at their forms, is killed with SIGKILL,
and a new server starts on the same data directory. The runs are still `paused` (crash recovery
leaves them alone: a paused run holds no lease); submitting the forms to the new server resumes
both from their stored state to the end, with the submitted values in the outputs, the nodes
that ran before the pause not run again, and the events followable through
`GET /workflow/{id}/events`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from support.server import LiveServer, start_server

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "engine"))
import live_workflows as lw

APPS = Path(__file__).resolve().parent / "apps"
ENV = {"RUN_LEASE_SECONDS": "3"}


def app_text(name: str) -> str:
    return (APPS / name).read_text(encoding="utf-8")


def follow(
    server: LiveServer, key: str, run_id: str, user: str, into: list[list[dict[str, Any]]]
) -> threading.Thread:
    def read() -> None:
        into.append(
            lw.stream(
                server,
                key,
                f"/workflow/{run_id}/events",
                {},
                method="GET",
                params={"user": user, "continue_on_pause": "true"},
            )  # fmt: skip
        )

    thread = threading.Thread(target=read)
    thread.start()
    return thread


def test_runs_paused_before_a_kill_9_resume_on_the_restarted_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, env=ENV, demo=False)
    try:
        flow_key = lw.install(first, app_text("paused_review.yml"))[0]
        chat_key = lw.install(first, app_text("paused_chat.yml"))[0]
        before = lw.stream(
            first, flow_key, "/workflows/run",
            {"inputs": {"topic": "owls"}, "user": "alice", "response_mode": "streaming"},
        )  # fmt: skip
        assert lw.names(before)[-2:] == ["human_input_required", "workflow_paused"]
        run_id = before[0]["workflow_run_id"]
        flow_token = before[-2]["data"]["form_token"]
        draft = next(e for e in before if e["event"] == "node_finished" and e["data"]["node_id"] == "draft")
        chat_before = lw.stream(
            first, chat_key, "/chat-messages",
            {"query": "hello owls", "inputs": {}, "user": "bob", "response_mode": "streaming"},
        )  # fmt: skip
        assert lw.check_stream(chat_before, "advanced-chat") == ["paused"]
        chat_token = next(e for e in chat_before if e["event"] == "human_input_required")["data"][
            "form_token"
        ]
        chat_run = chat_before[0]["workflow_run_id"]
        first_part = "".join(e["answer"] for e in chat_before if e["event"] == "message")
        assert first_part.endswith(" | ")
        to_stop = lw.stream(
            first, chat_key, "/chat-messages",
            {"query": "stop me", "inputs": {}, "user": "bob", "response_mode": "streaming"},
        )  # fmt: skip
        assert lw.names(to_stop)[-1] == "workflow_paused"
    finally:
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(10)

    second = start_server(data_dir, env=ENV, demo=False)
    try:
        with lw.client(second, flow_key) as c:
            # still paused after the new server's crash recovery ran (at its start)
            assert c.get(f"/workflows/run/{run_id}").json()["status"] == "paused"
            form = c.get(f"/form/human_input/{flow_token}")
            assert form.status_code == 200 and form.json()["inputs"][0]["output_variable_name"] == "reviewer"
        followed: list[list[dict[str, Any]]] = []
        thread = follow(second, flow_key, run_id, "alice", followed)
        with lw.client(second, flow_key) as c:
            submitted = c.post(
                f"/form/human_input/{flow_token}",
                json={"inputs": {"reviewer": "Ada", "remark": "fine"}, "action": "accept", "user": "alice"},
            )
            assert submitted.status_code == 200, submitted.text
            lw.wait_until(lambda: c.get(f"/workflows/run/{run_id}").json()["status"] != "running", 20)
            detail = c.get(f"/workflows/run/{run_id}").json()
            again = c.post(
                f"/form/human_input/{flow_token}",
                json={"inputs": {"reviewer": "Eve"}, "action": "accept", "user": "alice"},
            )
        assert detail["status"] == "succeeded", (detail, second.log())
        assert detail["outputs"] == {
            "reviewer": "Ada",
            "remark": "fine",
            "action": "accept",
            "verdict": "Ada accepted (fine) on owls",
            "draft": draft["data"]["outputs"]["text"],
        }
        assert again.status_code == 412 and again.json()["code"] == "human_input_form_submitted"
        thread.join(30)
        assert not thread.is_alive()
        events = followed[0]
        names = lw.names(events)
        assert names[: len(lw.names(before))] == lw.names(before)  # the log from before the kill
        assert names[len(before) :][:2] == ["workflow_started", "human_input_form_filled"]
        assert events[len(before)]["data"]["reason"] == "resumption"
        assert names[-1] == "workflow_finished" and events[-1]["data"]["status"] == "succeeded"
        # the draft node ran once; the form's node started once and finished after the resume
        assert lw.node_ids(events).count("draft") == 1 and lw.node_ids(events).count("ask") == 1
        finished = [
            e["data"] for e in events if e["event"] == "node_finished" and e["data"]["node_id"] == "ask"
        ]
        assert len(finished) == 1 and finished[0]["outputs"]["reviewer"] == "Ada"
        started = next(
            e["data"] for e in events if e["event"] == "node_started" and e["data"]["node_id"] == "ask"
        )
        assert finished[0]["id"] == started["id"] and finished[0]["index"] == started["index"]
        assert detail["total_steps"] == 5  # start, draft, ask, accepted, end

        chat_followed: list[list[dict[str, Any]]] = []
        chat_thread = follow(second, chat_key, chat_run, "bob", chat_followed)
        with lw.client(second, chat_key) as c:
            ok = c.post(
                f"/form/human_input/{chat_token}",
                json={"inputs": {"code": "42"}, "action": "ok", "user": "bob"},
            )
            assert ok.status_code == 200, ok.text
        chat_thread.join(30)
        assert not chat_thread.is_alive()
        resumed = chat_followed[0]
        assert lw.check_stream(resumed, "advanced-chat-events") == ["normal"]
        answer = "".join(e["answer"] for e in resumed if e["event"] == "message")
        assert answer == first_part + "code=42"
        with lw.client(second, chat_key) as c:
            history = c.get(
                "/messages", params={"conversation_id": chat_before[0]["conversation_id"], "user": "bob"}
            ).json()["data"]
        assert len(history) == 1 and history[0]["answer"] == answer and history[0]["status"] == "normal"
        with lw.client(second, chat_key) as c:  # a chat stop reaches a turn nobody waits on
            stop = c.post(f"/chat-messages/{to_stop[0]['task_id']}/stop", json={"user": "bob"})
            assert stop.json() == {"result": "success"}
            stopped_run = f"/workflows/run/{to_stop[0]['workflow_run_id']}"
            lw.wait_until(lambda: c.get(stopped_run).json()["status"] == "stopped", 20)
    finally:
        second.stop()
    assert "Traceback" not in second.log(), second.log()


def test_paused_runs_stay_paused_through_a_clean_restart_and_can_be_stopped_after_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, env=ENV, demo=False)
    runs: list[dict[str, Any]] = []
    try:
        key = lw.install(first, app_text("paused_review.yml"))[0]
        for topic in ("bats", "rats"):
            body = {"inputs": {"topic": topic}, "user": "alice", "response_mode": "streaming"}
            events = lw.stream(first, key, "/workflows/run", body)
            assert lw.names(events)[-1] == "workflow_paused"
            runs.append({"id": events[0]["workflow_run_id"], "task": events[0]["task_id"],
                         "token": events[-2]["data"]["form_token"]})  # fmt: skip
    finally:
        first.stop()  # SIGTERM: a clean shutdown leaves the runs paused, not stopped
    assert "left this worker while paused" in first.log(), first.log()
    second = start_server(data_dir, env=ENV, demo=False)
    try:
        answered, stopped = runs
        with lw.client(second, key) as c:
            assert all(c.get(f"/workflows/run/{r['id']}").json()["status"] == "paused" for r in runs)
            body = {"inputs": {"reviewer": "Bo"}, "action": "decline", "user": "alice"}
            resp = c.post(f"/form/human_input/{answered['token']}", json=body)
            assert resp.status_code == 200, resp.text
            lw.wait_until(
                lambda: c.get(f"/workflows/run/{answered['id']}").json()["status"] == "succeeded", 20
            )
            outputs = c.get(f"/workflows/run/{answered['id']}").json()["outputs"]
            # a stop reaches the other paused run although no worker waits on it any more
            stop = c.post(f"/workflows/tasks/{stopped['task']}/stop", json={"user": "alice"})
            assert stop.json() == {"result": "success"}
            lw.wait_until(lambda: c.get(f"/workflows/run/{stopped['id']}").json()["status"] == "stopped", 20)
            late = c.post(f"/form/human_input/{stopped['token']}", json=body)
        assert outputs["reviewer"] == "Bo" and outputs["action"] == "decline" and outputs["remark"] == "none"
        assert late.status_code == 412 and late.json()["code"] == "human_input_form_expired"
        path = f"/workflow/{stopped['id']}/events"
        replay = lw.stream(second, key, path, {}, method="GET", params={"user": "alice"})
        assert lw.check_stream(replay, "workflow-events") == ["stopped"]
    finally:
        second.stop()


def test_a_pause_inside_an_iteration_fails_when_its_worker_is_gone(tmp_path: Path) -> None:
    """DEVIATIONS.md D28: only the worker that paused inside a container can resume the run."""
    data_dir = tmp_path / "data"
    first = start_server(data_dir, env=ENV, demo=False)
    try:
        key = lw.install(first, app_text("paused_in_iteration.yml"))[0]
        body = {"inputs": {"items": {"list": ["x", "y"]}}, "user": "alice", "response_mode": "streaming"}
        before = lw.stream(first, key, "/workflows/run", body)
        assert lw.names(before)[-2:] == ["human_input_required", "workflow_paused"]
        run_id, token = before[0]["workflow_run_id"], before[-2]["data"]["form_token"]
    finally:
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
    second = start_server(data_dir, env=ENV, demo=False)
    try:
        with lw.client(second, key) as c:
            assert c.get(f"/workflows/run/{run_id}").json()["status"] == "paused"
            resp = c.post(
                f"/form/human_input/{token}",
                json={"inputs": {"remark": "r"}, "action": "go", "user": "alice"},
            )
            assert resp.status_code == 200, resp.text  # the submission itself is accepted
            lw.wait_until(lambda: c.get(f"/workflows/run/{run_id}").json()["status"] == "failed", 20)
            detail = c.get(f"/workflows/run/{run_id}").json()
        assert "inside an iteration or a loop" in detail["error"] and detail["finished_at"]
        events = lw.stream(
            second, key, f"/workflow/{run_id}/events", {}, method="GET", params={"user": "alice"}
        )
        assert events[-1]["event"] == "workflow_finished" and events[-1]["data"]["status"] == "failed"
    finally:
        second.stop()


def test_a_form_that_expires_while_nobody_waits_takes_the_timeout_branch(tmp_path: Path) -> None:
    """No submission at all: the restarted server's keeper sees the form expire (3 s) and resumes
    the run down the node's timeout branch, as the first server would have."""
    data_dir = tmp_path / "data"
    first = start_server(data_dir, env=ENV, demo=False)
    try:
        key = lw.install(first, app_text("paused_timeout.yml"))[0]
        before = lw.stream(
            first, key, "/workflows/run", {"inputs": {}, "user": "alice", "response_mode": "streaming"}
        )
        assert lw.names(before)[-1] == "workflow_paused"
        run_id, token = before[0]["workflow_run_id"], before[-2]["data"]["form_token"]
    finally:
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
    second = start_server(data_dir, env=ENV, demo=False)
    try:
        with lw.client(second, key) as c:
            lw.wait_until(lambda: c.get(f"/workflows/run/{run_id}").json()["status"] == "succeeded", 20)
            detail = c.get(f"/workflows/run/{run_id}").json()
            expired = c.get(f"/form/human_input/{token}")
        assert detail["outputs"] == {"action": "__timeout", "late": "nobody answered"}
        assert expired.status_code == 412 and expired.json()["code"] == "human_input_form_expired"
        events = lw.stream(
            second, key, f"/workflow/{run_id}/events", {}, method="GET", params={"user": "alice"}
        )
        assert "human_input_form_timeout" in lw.names(events) and events[-1]["event"] == "workflow_finished"
    finally:
        second.stop()
