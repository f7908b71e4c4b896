"""The embedded default (SQLite, one process, no Redis): a server killed with SIGKILL mid-run
leaves leases behind; the next start on the same data directory ends those runs at once (their
process is gone), long before the lease (30 s here) would expire: the workflow run is `failed`
with `finished_at` and a clear error, the message keeps the answer streamed so far with status
`error`, and the run's event stream replays a terminal `workflow_finished`."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from support.server import start_server

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "engine"))
import live_workflows as lw

SLOW_CHAT = "tell me about owls [[delay:0.05]] [[tokens:400]]"
SLOW_TOPIC = "owls [[delay:0.05]] [[tokens:200]]"


def test_restart_ends_the_runs_of_the_killed_process(tmp_path: Path) -> None:
    env = {"RUN_LEASE_SECONDS": "30"}
    server = start_server(tmp_path / "data", env=env)
    chat_key = server.keys["chat"]
    flow_key = lw.install(server, lw.example_text("workflow-llm.yml"))[0]
    seen: dict[str, list[dict[str, Any]]] = {"chat": [], "flow": []}
    got = threading.Event()

    def read(path: str, body: dict[str, Any], key: str, name: str) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=60)) as http,
                http.stream("POST", server.base_url + path, json=body, headers=headers) as resp,
            ):
                for line in resp.iter_lines():
                    if line.startswith("data: "):
                        seen[name].append(json.loads(line[6:]))
                        if len(seen["chat"]) >= 20 and len(seen["flow"]) >= 5:
                            got.set()
        except httpx.HTTPError:
            pass  # the server died under the stream

    chat = {"query": SLOW_CHAT, "inputs": {}, "user": "alice", "response_mode": "streaming"}
    flow = {"inputs": {"topic": SLOW_TOPIC}, "user": "alice", "response_mode": "streaming"}
    threads = [
        threading.Thread(target=read, args=("/chat-messages", chat, chat_key, "chat")),
        threading.Thread(target=read, args=("/workflows/run", flow, flow_key, "flow")),
    ]
    for t in threads:
        t.start()
    try:
        assert got.wait(30), server.log()
        time.sleep(0.8)  # the answer checkpoint (every 0.3 s) has written part of it
    finally:
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        for t in threads:
            t.join(10)
    conversation_id = seen["chat"][0]["conversation_id"]
    run_id = seen["flow"][0]["workflow_run_id"]
    restarted = start_server(tmp_path / "data", env=env)
    try:
        with lw.client(restarted, flow_key) as c:
            detail = c.get(f"/workflows/run/{run_id}").json()
        assert detail["status"] == "failed" and detail["finished_at"], detail
        assert "lease" in detail["error"]
        replay = lw.stream(restarted, flow_key, f"/workflow/{run_id}/events", {}, method="GET",
                           params={"user": "alice"})  # fmt: skip
        assert replay[-1]["event"] == "workflow_finished" and replay[-1]["data"]["status"] == "failed"
        with lw.client(restarted, chat_key) as c:
            page = c.get("/messages", params={"conversation_id": conversation_id, "user": "alice"}).json()
        (message,) = page["data"]
        assert message["status"] == "error" and "lease" in (message["error"] or "")
        streamed = "".join(e.get("answer", "") for e in seen["chat"] if e["event"] == "message")
        assert len(message["answer"].split()) >= 10 and streamed.startswith(message["answer"])
    finally:
        restarted.stop()
