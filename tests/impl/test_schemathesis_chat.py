"""`schemathesis run` over every chat and completion operation against the live server.

Response validation is on in the server (the live_server fixture) and in Schemathesis
(default checks, never `--checks all`); per-operation exceptions are in schemathesis_chat.toml.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CHAT_OPERATIONS = (
    "sendChatMessage", "stopChatMessageGeneration", "getSuggestedQuestions", "uploadChatFile",
    "previewChatFile", "postChatMessageFeedback", "getChatAppFeedbacks", "getConversationsList",
    "getConversationHistory",
    "getConversationVariables", "renameConversation", "updateChatConversationVariable", "deleteConversation",
)  # fmt: skip
COMPLETION_OPERATIONS = (
    "createCompletionMessage", "stopGenerate", "uploadChatFile", "previewChatFile", "postChatMessageFeedback",
    "getChatAppFeedbacks",
)  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "operations"), [("chat", CHAT_OPERATIONS), ("completion", COMPLETION_OPERATIONS)]
)
def test_schemathesis_finds_no_failure(
    live_server: Any, tmp_path: Path, mode: str, operations: tuple[str, ...]
) -> None:
    regex = "^(" + "|".join(operations) + ")$"
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(HERE / "schemathesis_chat.toml"),
        "run", str(REPO / "spec" / "openapi.yaml"),
        "--url", live_server.base_url,
        "-H", f"Authorization: Bearer {live_server.keys[mode]}",
        "--include-operation-id-regex", regex,
        "--max-examples", "10",
        "--seed", "1",
        "--generation-database", "none",
        "--request-timeout", "10",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert f"Selected: {len(operations)}/" in proc.stdout
