"""The official Node SDK (npm `dify-client`, pinned in tests/impl/sdk/node) against the live server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent / "node"


def test_node_sdk_chat_and_completion(live_server: Any) -> None:
    assert (NODE_DIR / "node_modules" / "dify-client").is_dir(), "run `npm ci` in tests/impl/sdk/node"
    proc = subprocess.run(
        ["node", "flow.mjs", live_server.base_url, live_server.keys["chat"], live_server.keys["completion"]],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "Hello from Node" in out["blockingAnswer"]
    events = out["streamEvents"]
    assert len(events) >= 26 and set(events[:-1]) == {"message"} and events[-1] == "message_end"
    assert out["streamConversation"] and out["firstConversation"]
    assert out["historyQueries"] == ["Hello from Node", "stream [[tokens:25]]"]
    assert out["renamed"] == "From Node"
    assert out["feedback"] == {"result": "success"} and out["stop"] == {"result": "success"}
    assert out["uploadStatus"] == 201 and out["uploadName"] == "node.txt"
    assert out["deleteStatus"] == 204
    assert "otters" in out["completionAnswer"]
    assert out["completionStream"][-1] == "message_end"


def test_node_sdk_runs_a_workflow(live_server: Any) -> None:
    proc = subprocess.run(
        ["node", "workflow.mjs", live_server.base_url, live_server.keys["workflow"]],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["blockingStatus"] == "succeeded"
    assert out["blockingOutputs"] == {"greeting": "Hello, Node!"}
    assert len(out["blockingRunId"]) == 36
    events = out["streamEvents"]
    assert events[0] == "workflow_started" and events[-1] == "workflow_finished"
    assert events.count("node_started") == events.count("node_finished") == 3
    assert out["streamOutputs"] == {"greeting": "Hello, Stream!"}
