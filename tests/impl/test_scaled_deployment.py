"""Several server processes on one PostgreSQL and one Redis behave as one service.

Two `dify-service serve` processes, A and B, share a real PostgreSQL database and a real
`redis-server` (both started by the test session). A run lives on A; B stops it, replays and
follows it, and ignores foreign stops. A third process is killed with SIGKILL mid-run: its runs
end `failed` within the lease (3 s here), followers get a terminal event and the message keeps
the answer streamed so far. Finally `serve --workers 2` serves runs, follows and stops.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.postgres import PostgresCluster
from support.redis_server import RedisServer
from support.server import LiveServer, run_cli, start_server

sys.path.insert(0, str(Path(__file__).resolve().parent / "engine"))
import live_workflows as lw

LEASE = 3.0
SLOW_CHAT = "tell me about owls [[delay:0.05]] [[tokens:400]]"
SLOW_TOPIC = "owls [[delay:0.05]] [[tokens:200]]"


def _env(database_url: str, redis_server: RedisServer) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url, "RUN_LEASE_SECONDS": str(LEASE)}


@pytest.fixture(scope="module")
def database_url(postgres_cluster: PostgresCluster) -> str:
    return postgres_cluster.create_database("dify_scaled")


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, redis_server: RedisServer
) -> Iterator[tuple[LiveServer, LiveServer]]:
    env = _env(database_url, redis_server)
    a = start_server(tmp_path_factory.mktemp("scaled-a"), env=env)
    b = start_server(tmp_path_factory.mktemp("scaled-b"), env=env, demo=False)
    a.keys["workflow-llm"] = lw.install(a, lw.example_text("workflow-llm.yml"))[0]
    b.keys = a.keys
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def _client(server: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _answer(events: list[dict[str, Any]]) -> str:
    return "".join(e.get("answer", "") for e in events if e["event"] == "message")


def test_a_stop_via_b_ends_the_stream_on_a_within_a_second_and_keeps_the_answer(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = pair
    key, other_key = a.keys["chat"], a.keys["completion"]
    marks: dict[str, float] = {}
    counts: dict[str, int] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] != "message":
            return
        count = counts["n"] = counts.get("n", 0) + 1
        if count == 10:
            task = event["task_id"]
            with _client(b, key) as c, _client(b, other_key) as other:
                # another user of the app, and alice with another app's key: nothing happens
                assert c.post(f"/chat-messages/{task}/stop", json={"user": "mallory"}).json() == {
                    "result": "success"
                }
                assert other.post(f"/completion-messages/{task}/stop", json={"user": "alice"}).json() == {
                    "result": "success"
                }
            marks["foreign"] = count
        if count == 25:  # 15 more tokens (0.75 s) after the foreign stops: still running
            with _client(b, key) as c:
                marks["sent"] = time.monotonic()
                assert c.post(f"/chat-messages/{event['task_id']}/stop", json={"user": "alice"}).json() == {
                    "result": "success"
                }

    body = {"query": SLOW_CHAT, "inputs": {}, "user": "alice", "response_mode": "streaming"}
    events = lw.stream(a, key, "/chat-messages", body, on_event=on_event)
    ended = time.monotonic()
    assert marks["foreign"] == 10 and "sent" in marks
    assert ended - marks["sent"] < 1.0, ended - marks["sent"]
    assert lw.names(events)[-1] == "message_end"
    streamed = _answer(events)
    assert 25 <= counts["n"] < 100 and streamed
    conversation = events[-1]["conversation_id"]
    with _client(b, key) as c:
        page = c.get("/messages", params={"conversation_id": conversation, "user": "alice"}).json()
    (message,) = page["data"]
    assert message["answer"] == streamed and message["status"] == "normal"


def test_b_replays_and_follows_a_run_live_on_a(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    key = _slow_workflow_key(a)
    started: dict[str, str] = {}
    ready = threading.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "text_chunk" and not ready.is_set():
            started["run"] = event["workflow_run_id"]
            ready.set()

    body = {"inputs": {"topic": SLOW_TOPIC}, "user": "alice", "response_mode": "streaming"}
    result: dict[str, list[dict[str, Any]]] = {}
    runner = threading.Thread(
        target=lambda: result.update(a=lw.stream(a, key, "/workflows/run", body, on_event=on_event))
    )
    runner.start()
    assert ready.wait(30)
    path = f"/workflow/{started['run']}/events"
    with _client(b, key) as c:
        assert c.get(path, params={"user": "mallory"}).status_code == 404
    followed = lw.stream(b, key, path, {}, method="GET", params={"user": "alice"})
    runner.join(60)
    original = [e for e in result["a"] if e["event"] != "ping"]
    assert [e for e in followed if e["event"] != "ping"] == original
    assert lw.check_stream(followed, "workflow-events") == ["normal"]
    assert followed[-1]["data"]["status"] == "succeeded"


def test_a_form_submitted_through_b_resumes_the_run_paused_on_a(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    key = lw.install(a, lw.example_text("workflow-human-input.yml"))[0]
    with _client(a, key) as c:
        data = c.post("/workflows/run", json={"inputs": {"draft": "D"}, "user": "alice"}).json()["data"]
    assert data["status"] == "paused"
    path = f"/workflow/{data['id']}/events"
    paused = lw.stream(b, key, path, {}, method="GET", params={"user": "alice"})  # from the shared log
    assert lw.names(paused)[-2:] == ["human_input_required", "workflow_paused"]
    token = paused[-2]["data"]["form_token"]
    with _client(b, key) as c:
        resp = c.post(f"/form/human_input/{token}", json={"inputs": {}, "action": "approve", "user": "alice"})
        assert resp.status_code == 200, resp.text
        lw.wait_until(lambda: c.get(f"/workflows/run/{data['id']}").json()["status"] == "succeeded", 10)
    final = lw.stream(b, key, path, {}, method="GET", params={"user": "alice", "continue_on_pause": "true"})
    assert "human_input_form_filled" in lw.names(final) and final[-1]["event"] == "workflow_finished"


def test_annotation_jobs_and_key_revocation_hold_across_processes(
    pair: tuple[LiveServer, LiveServer], database_url: str
) -> None:
    a, b = pair
    with _client(a, a.keys["chat"]) as c:
        job = c.post(
            "/apps/annotation-reply/enable",
            json={"score_threshold": 0.9, "embedding_provider_name": "p", "embedding_model_name": "m"},
        ).json()
    with _client(b, a.keys["chat"]) as c:
        status = f"/apps/annotation-reply/enable/status/{job['job_id']}"
        lw.wait_until(lambda: c.get(status).json()["job_status"] == "completed", 10)
    key = lw.install(a, lw.example_text("chat.yml"))[0]
    for server in (a, b):
        with _client(server, key) as c:
            assert c.get("/parameters").status_code == 200
    revoked = run_cli("apps", "keys", "revoke", key, "--database-url", database_url)
    assert revoked.returncode == 0, revoked.stderr
    for server in (a, b):  # no process keeps a revoked key alive (a key cache lasts a second at most)
        with _client(server, key) as c:
            lw.wait_until(lambda c=c: c.get("/parameters").status_code == 401, 5)
            assert c.get("/parameters").json()["code"] == "unauthorized"


def _slow_workflow_key(server: LiveServer) -> str:
    return server.keys["workflow-llm"]


def test_kill_9_ends_the_runs_of_the_dead_worker_within_the_lease(
    tmp_path_factory: pytest.TempPathFactory,
    pair: tuple[LiveServer, LiveServer],
    database_url: str,
    redis_server: RedisServer,
) -> None:
    a, b = pair
    victim = start_server(
        tmp_path_factory.mktemp("scaled-victim"), env=_env(database_url, redis_server), demo=False
    )
    chat_key, flow_key = a.keys["chat"], _slow_workflow_key(a)
    seen: dict[str, Any] = {"chat": [], "flow": []}
    got = threading.Event()

    def read(path: str, body: dict[str, Any], key: str, name: str) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=60)) as http,
                http.stream(
                    "POST", victim.base_url + path, json=body, headers={"Authorization": f"Bearer {key}"}
                ) as resp,
            ):
                for line in resp.iter_lines():
                    if line.startswith("data: "):
                        seen[name].append(line)
                        if len(seen["chat"]) >= 20 and len(seen["flow"]) >= 5:
                            got.set()
        except httpx.HTTPError:
            pass  # the server died under the stream

    chat_body = {"query": SLOW_CHAT, "inputs": {}, "user": "alice", "response_mode": "streaming"}
    flow_body = {"inputs": {"topic": SLOW_TOPIC}, "user": "alice", "response_mode": "streaming"}
    threads = [
        threading.Thread(target=read, args=("/chat-messages", chat_body, chat_key, "chat")),
        threading.Thread(target=read, args=("/workflows/run", flow_body, flow_key, "flow")),
    ]
    for t in threads:
        t.start()
    try:
        assert got.wait(30), victim.log()
        time.sleep(0.8)  # the answer checkpoint (every 0.3 s) has written some of it
        chat_first = json.loads(seen["chat"][0][6:])
        flow_first = json.loads(seen["flow"][0][6:])
        run_id = flow_first["workflow_run_id"]
        # a follower on B of the run live on the victim
        follower: dict[str, list[dict[str, Any]]] = {}
        follow = threading.Thread(
            target=lambda: follower.update(
                e=lw.stream(
                    b, flow_key, f"/workflow/{run_id}/events", {}, method="GET", params={"user": "alice"}
                )
            )
        )
        follow.start()
        time.sleep(0.5)
        os.kill(victim.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        victim.process.wait(10)
        with _client(b, flow_key) as c:
            lw.wait_until(lambda: c.get(f"/workflows/run/{run_id}").json()["status"] == "failed", LEASE + 5)
            detail = c.get(f"/workflows/run/{run_id}").json()
        assert time.monotonic() - killed < LEASE + 2
        assert detail["finished_at"] and "lease" in detail["error"]
        follow.join(LEASE + 10)
        assert not follow.is_alive()
        assert follower["e"][-1]["event"] == "workflow_finished"
        assert follower["e"][-1]["data"]["status"] == "failed"
        with _client(b, chat_key) as c:
            page = c.get(
                "/messages", params={"conversation_id": chat_first["conversation_id"], "user": "alice"}
            ).json()
        (message,) = page["data"]
        assert message["status"] == "error" and "lease" in (message["error"] or "")
        assert len(message["answer"].split()) >= 10  # the words streamed before the checkpoint
    finally:
        victim.stop()
        for t in threads:
            t.join(10)


def test_serve_with_two_workers_serves_runs_follows_and_stops(
    tmp_path_factory: pytest.TempPathFactory,
    pair: tuple[LiveServer, LiveServer],
    database_url: str,
    redis_server: RedisServer,
) -> None:
    a, _b = pair
    server = start_server(
        tmp_path_factory.mktemp("scaled-workers"),
        env=_env(database_url, redis_server),
        demo=False,
        extra_args=("--workers", "2"),
    )
    try:
        lw.wait_until(lambda: server.log().count("ready: database postgresql") >= 2, 30)
        key = _slow_workflow_key(a)
        for mode in ("chat", "completion", "advanced-chat"):
            with _client(server, a.keys[mode]) as c:
                path = "/completion-messages" if mode == "completion" else "/chat-messages"
                body = {"query": "hi", "inputs": {}, "user": "alice", "response_mode": "blocking"}
                if mode == "completion":
                    body = {"inputs": {"query": "hi"}, "user": "alice", "response_mode": "blocking"}
                resp = c.post(path, json=body)
                assert resp.status_code == 200, resp.text
        for _round in range(4):  # new connections land on either worker
            ids: dict[str, str] = {}
            follower: dict[str, list[dict[str, Any]]] = {}

            def on_event(
                event: dict[str, Any], ids: dict[str, str] = ids, follower: dict[str, Any] = follower
            ) -> None:
                if event["event"] == "text_chunk" and not ids:
                    ids.update(run=event["workflow_run_id"], task=event["task_id"])
                    path = f"/workflow/{ids['run']}/events"
                    thread = threading.Thread(
                        target=lambda: follower.update(
                            e=lw.stream(server, key, path, {}, method="GET", params={"user": "alice"})
                        )
                    )
                    thread.start()
                    follower["thread"] = thread  # type: ignore[assignment]
                    time.sleep(0.3)
                    with _client(server, key) as c:
                        c.post(f"/workflows/tasks/{ids['task']}/stop", json={"user": "alice"})

            body = {"inputs": {"topic": SLOW_TOPIC}, "user": "alice", "response_mode": "streaming"}
            events = lw.stream(server, key, "/workflows/run", body, on_event=on_event)
            assert events[-1]["event"] == "workflow_finished" and events[-1]["data"]["status"] == "stopped"
            follower["thread"].join(30)  # type: ignore[attr-defined]
            assert follower["e"][-1]["event"] == "workflow_finished"
            assert follower["e"][-1]["data"]["status"] == "stopped"
    finally:
        server.stop()


def test_workers_need_redis_and_an_unreachable_redis_stops_the_start(tmp_path: Path) -> None:
    args = ("serve", "--no-docs", "--port", "0", "--data-dir", str(tmp_path))
    refused = run_cli(*args, "--workers", "2", env={"REDIS_URL": ""})
    assert refused.returncode == 2 and "--workers N needs REDIS_URL" in refused.stdout
    port = 1  # nothing listens there
    down = run_cli(*args, env={"REDIS_URL": f"redis://user:secret@127.0.0.1:{port}/0"}, timeout=60)
    assert down.returncode != 0
    output = down.stdout + down.stderr
    assert "cannot reach Redis at 127.0.0.1:1/0" in output and "secret" not in output


PAUSED_APP = Path(__file__).resolve().parent / "services" / "workflows" / "apps" / "paused_review.yml"


def _add_annotations(database_url: str, app_id: str, count: int) -> None:
    """Many annotations, written straight to PostgreSQL: enabling reply then indexes for a while."""
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(
            "INSERT INTO annotations (id, app_id, question, answer, hit_count, created_at, updated_at) "
            "SELECT md5(%s || g::text), %s, 'question ' || g || ' about owls, bats and moths', 'a', 0, "
            "now(), now() FROM generate_series(1, %s) AS g",
            (app_id, app_id, count),
        )


def test_a_killed_worker_leaves_its_paused_run_to_b_and_its_annotation_job_ends_in_error(
    tmp_path_factory: pytest.TempPathFactory,
    pair: tuple[LiveServer, LiveServer],
    database_url: str,
    redis_server: RedisServer,
) -> None:
    a, b = pair
    flow_key = lw.install(a, PAUSED_APP.read_text(encoding="utf-8"))[0]
    chat_key, chat_app, _version = lw.install(a, lw.example_text("chat.yml"))
    _add_annotations(database_url, chat_app, 60000)
    victim = start_server(
        tmp_path_factory.mktemp("scaled-paused"), env=_env(database_url, redis_server), demo=False
    )
    try:
        before = lw.stream(
            victim, flow_key, "/workflows/run",
            {"inputs": {"topic": "moths"}, "user": "alice", "response_mode": "streaming"},
        )  # fmt: skip
        assert lw.names(before)[-2:] == ["human_input_required", "workflow_paused"]
        run_id, token = before[0]["workflow_run_id"], before[-2]["data"]["form_token"]
        with _client(victim, chat_key) as c:
            body = {"score_threshold": 0.8, "embedding_provider_name": "p", "embedding_model_name": "m"}
            job = c.post("/apps/annotation-reply/enable", json=body).json()
            os.kill(victim.process.pid, signal.SIGKILL)  # while the job indexes 60,000 annotations
        killed = time.monotonic()
        victim.process.wait(10)
    finally:
        victim.stop()
    with _client(b, chat_key) as c:
        status = f"/apps/annotation-reply/enable/status/{job['job_id']}"
        lw.wait_until(lambda: c.get(status).json()["job_status"] == "error", LEASE + 5)
        ended = c.get(status).json()
    assert time.monotonic() - killed < LEASE + 3
    assert "stopped before the job ended" in ended["error_msg"]
    with _client(a, chat_key) as c:  # every worker reads the same status
        assert c.get(status).json() == ended

    with _client(b, flow_key) as c:  # crash recovery ran meanwhile and left the paused run alone
        assert c.get(f"/workflows/run/{run_id}").json()["status"] == "paused"
    followed: dict[str, list[dict[str, Any]]] = {}
    path = f"/workflow/{run_id}/events"
    follow = threading.Thread(
        target=lambda: followed.update(
            e=lw.stream(
                b, flow_key, path, {}, method="GET", params={"user": "alice", "continue_on_pause": "true"}
            )
        )
    )
    follow.start()
    with _client(b, flow_key) as c:
        resp = c.post(
            f"/form/human_input/{token}",
            json={"inputs": {"reviewer": "Kim", "remark": "ok"}, "action": "accept", "user": "alice"},
        )
        assert resp.status_code == 200, resp.text
        lw.wait_until(lambda: c.get(f"/workflows/run/{run_id}").json()["status"] == "succeeded", 20)
        detail = c.get(f"/workflows/run/{run_id}").json()
    assert detail["outputs"]["verdict"] == "Kim accepted (ok) on moths"
    follow.join(30)
    assert not follow.is_alive()
    events = followed["e"]
    assert lw.names(events)[: len(before)] == lw.names(before)
    assert "human_input_form_filled" in lw.names(events)
    assert events[-1]["event"] == "workflow_finished" and events[-1]["data"]["status"] == "succeeded"
    assert lw.node_ids(events).count("draft") == 1
