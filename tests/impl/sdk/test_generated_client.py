"""A client generated from spec/openapi.yaml by openapi-python-client calls the blocking endpoints."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGE = "dify_service_api_app_facing_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("generated") / "client"
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("openapi-python-client")), "generate",
         "--path", str(REPO / "spec" / "openapi.yaml"), "--output-path", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (out / PACKAGE).is_dir(), proc.stdout[-3000:] + proc.stderr[-3000:]
    sys.path.insert(0, str(out))
    try:
        yield PACKAGE
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def mod(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_generated_client_chat_and_completion(generated: str, live_server: Any) -> None:
    client_mod = mod("client")
    models = mod("models")
    with (
        client_mod.AuthenticatedClient(
            base_url=live_server.base_url, token=live_server.keys["chat"]
        ) as chat_client,
        client_mod.AuthenticatedClient(
            base_url=live_server.base_url, token=live_server.keys["completion"]
        ) as completion_client,
    ):
        run_calls(models, chat_client, completion_client)


def run_calls(models: Any, chat_client: Any, completion_client: Any) -> None:
    body = models.ChatMessageRequest.from_dict(
        {"query": "generated hello", "inputs": {}, "user": "gen-client", "response_mode": "blocking"}
    )
    answer = mod("api.chat.send_chat_message").sync(client=chat_client, body=body)
    assert isinstance(answer, models.ChatCompletionResponse), answer
    assert "generated hello" in answer.answer
    cid = str(answer.conversation_id)

    convs = mod("api.conversations.get_conversations_list").sync(client=chat_client, user="gen-client")
    assert isinstance(convs, models.ConversationList) and str(convs.data[0].id) == cid
    history = mod("api.messages.get_conversation_history").sync(
        client=chat_client, conversation_id=cid, user="gen-client"
    )
    assert isinstance(history, models.MessageList) and history.data[0].query == "generated hello"
    renamed = mod("api.conversations.rename_conversation").sync(
        answer.conversation_id, client=chat_client,
        body=models.RenameConversationRequest.from_dict({"name": "Generated", "user": "gen-client"}),
    )  # fmt: skip
    assert isinstance(renamed, models.Conversation) and renamed.name == "Generated"
    feedback = mod("api.feedback.post_chat_message_feedback").sync(
        answer.message_id, client=chat_client,
        body=models.MessageFeedbackRequest.from_dict({"rating": "like", "user": "gen-client"}),
    )  # fmt: skip
    assert isinstance(feedback, models.SuccessResult)
    stop = mod("api.chat.stop_chat_message_generation").sync(
        str(answer.task_id),
        client=chat_client,
        body=models.UserRequiredBody.from_dict({"user": "gen-client"}),
    )
    assert isinstance(stop, models.SuccessResult)
    types = mod("types")
    upload = mod("api.files.upload_chat_file").sync(
        client=chat_client,
        body=models.FileUploadForm(
            file=types.File(payload=b"hello", file_name="g.txt", mime_type="text/plain"), user="gen-client"
        ),
    )  # fmt: skip
    assert isinstance(upload, models.UploadedFile) and upload.name == "g.txt"
    missing = mod("api.messages.get_conversation_history").sync(
        client=chat_client, conversation_id="8d8d8d8d-1111-4222-8333-444455556666", user="gen-client"
    )
    assert isinstance(missing, models.Error) and missing.code == "not_found"

    done = mod("api.completion.create_completion_message").sync(
        client=completion_client,
        body=models.CompletionMessageRequest.from_dict({"inputs": {"query": "kelp"}, "user": "gen-client"}),
    )
    assert isinstance(done, models.CompletionResponse) and "kelp" in done.answer
