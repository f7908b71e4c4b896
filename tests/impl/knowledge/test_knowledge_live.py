"""Knowledge retrieval over the HTTP API of a live server: our own DSL apps (a knowledge-retrieval
node feeding an LLM node's context) with their datasets unmapped, mapped to a folder of local
files (keyword search), and mapped for semantic search through a fake OpenAI-compatible
embeddings server on loopback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.fake_openai import API_KEY, running_fake_openai
from support.server import LiveServer, cli_command

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
import live_workflows as lw

from impl.knowledge import env_name as dataset_env

APPS = Path(__file__).resolve().parent / "apps"
DATASET_A = "0b9a4d1e-5c3f-4a7b-9e21-6d8f00a1b2c3"
DATASET_B = "7c2e9f40-1d6b-4e83-a5f9-3b0c11d2e4f5"
TOPICS = ("tea", "train", "bicycle")
NOTES = {
    "tea.md": "# Tea\n\nGreen tea is steeped at 80 degrees for two minutes; black tea wants boiling water.",
    "trains.txt": "The night train leaves the central station at 23:10 and reaches the coast at dawn.",
    "bicycles.txt": "To mend a flat bicycle tyre, take the wheel off, find the puncture, patch the tube.",
}


def _app(name: str) -> str:
    text = (APPS / name).read_text()
    return text.replace("DATASET_A", DATASET_A).replace("DATASET_B", DATASET_B)


def _run_workflow(server: LiveServer, key: str, question: str) -> dict[str, Any]:
    body = {"inputs": {"question": question}, "user": "u", "response_mode": "streaming"}
    events = lw.stream(server, key, "/workflows/run", body)
    lw.check_stream(events, "workflow")
    finished = events[-1]["data"]
    assert finished["status"] == "succeeded", finished
    outputs: dict[str, Any] = finished["outputs"]
    return outputs


def _notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text)
    return folder


def test_unmapped_datasets_give_an_empty_result(tmp_path: Path) -> None:
    """Dify skips datasets it does not have: the node succeeds with `result: []` and the LLM's
    context is empty."""
    with lw.workflow_server(tmp_path / "data", extra_env={"DIFY_KNOWLEDGE": ""}) as server:
        key, _app_id, _version = lw.install(server, _app("knowledge_workflow.yml"))
        outputs = _run_workflow(server, key, "How hot should green tea be?")
        assert outputs["passages"] == []


def test_mapped_folder_keyword_search_and_citations(tmp_path: Path) -> None:
    folder = _notes(tmp_path)
    config = tmp_path / "knowledge.toml"
    config.write_text(f'[datasets."{DATASET_A}"]\nname = "Travel and tea"\npath = "{folder}"\n')
    with lw.workflow_server(tmp_path / "data", extra_env={"DIFY_KNOWLEDGE": str(config)}) as server:
        assert "knowledge: " + DATASET_A in server.log()  # indexed on startup
        key, _app_id, _version = lw.install(server, _app("knowledge_workflow.yml"))
        outputs = _run_workflow(server, key, "When does the night train leave the station?")
        passages = outputs["passages"]
        assert passages and passages[0]["content"] == NOTES["trains.txt"]
        first = passages[0]
        assert first["title"] == "trains.txt"
        metadata = first["metadata"]
        assert metadata["_source"] == "knowledge" and metadata["position"] == 1
        assert (metadata["dataset_id"], metadata["dataset_name"]) == (DATASET_A, "Travel and tea")
        assert metadata["document_name"] == "trains.txt" and 0 < metadata["score"] < 1
        assert re.fullmatch(r"[0-9a-f-]{36}", metadata["document_id"]) and metadata["segment_id"]
        assert [p["metadata"]["position"] for p in passages] == list(range(1, len(passages) + 1))
        # DATASET_B is not mapped: skipped, as Dify skips unavailable datasets
        assert {p["metadata"]["dataset_id"] for p in passages} == {DATASET_A}

        # chatflow: the context reaches the prompt and the citations reach message_end
        chat_key, _app_id, _version = lw.install(server, _app("knowledge_chatflow.yml"))
        body = {
            "inputs": {},
            "user": "u",
            "query": "how do I patch a bicycle tube",
            "response_mode": "streaming",
        }
        events = lw.stream(server, chat_key, "/chat-messages", body)
        lw.check_stream(events, "advanced-chat")
        llm = [
            e["data"] for e in events if e["event"] == "node_finished" and e["data"]["node_id"] == "write"
        ][0]
        assert llm["process_data"]["prompts"][0]["text"] == f"Notes: {NOTES['bicycles.txt']}"
        end = events[-1]
        assert end["event"] == "message_end"
        cited = end["metadata"]["retriever_resources"]
        assert [(c["position"], c["document_name"], c["content"]) for c in cited] == [
            (1, "bicycles.txt", NOTES["bicycles.txt"])
        ]
        assert cited[0]["dataset_id"] == DATASET_A and cited[0]["word_count"] == 16
        with lw.client(server, chat_key) as c:
            history = c.get(
                "/messages", params={"conversation_id": end["conversation_id"], "user": "u"}
            ).json()
        assert history["data"][0]["retriever_resources"][0]["content"] == NOTES["bicycles.txt"]

        # a file that changes is indexed again by `dify-service knowledge index`
        (folder / "trains.txt").write_text("The morning ferry sails at seven.")
        code, out = _cli(server, config, "knowledge", "index")
        assert code == 0 and "1 updated, 2 unchanged" in out, out
        outputs = _run_workflow(server, key, "When does the ferry sail?")
        assert outputs["passages"][0]["content"] == "The morning ferry sails at seven."


def _cli(server: LiveServer, config: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, **server.env, "DIFY_KNOWLEDGE": str(config)}
    done = subprocess.run(
        cli_command(*args, "--data-dir", str(server.data_dir)),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _vector(text: str) -> list[float]:
    lowered = text.lower()
    return [float(lowered.count(topic)) + 0.01 for topic in TOPICS]


async def _embeddings(request: Request) -> Response:
    if request.headers.get("authorization") != f"Bearer {API_KEY}":
        return JSONResponse({"error": {"message": "Incorrect API key provided"}}, 401)
    body = await request.json()
    request.app.state.received.append(body)
    rows = [{"index": i, "embedding": _vector(t)} for i, t in enumerate(body["input"])]
    return JSONResponse({"object": "list", "data": rows, "model": body["model"]})


@pytest.fixture
def fake_embeddings() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with running_fake_openai([Route("/v1/embeddings", _embeddings, methods=["POST"])]) as running:
        yield running


def test_semantic_search_through_routed_embeddings(
    tmp_path: Path, fake_embeddings: tuple[str, list[dict[str, Any]]]
) -> None:
    base_url, received = fake_embeddings
    folder = _notes(tmp_path)
    config = tmp_path / "knowledge.toml"
    config.write_text(
        f"""
[datasets."{DATASET_B}"]
name = "Semantic notes"
path = "{folder}"
search = "semantic"
embedding_provider = "my_embedder"
embedding_model = "topic-embed"
top_k = 1
"""
    )
    routes = tmp_path / "routes.toml"
    routes.write_text(f'[providers.my_embedder]\nbase_url = "{base_url}"\napi_key_env = "MY_EMBEDDER_KEY"\n')
    env = {"DIFY_KNOWLEDGE": str(config), "DIFY_MODEL_ROUTES": str(routes), "MY_EMBEDDER_KEY": API_KEY}
    with lw.workflow_server(tmp_path / "data", extra_env=env) as server:
        assert received and {b["model"] for b in received} == {"topic-embed"}  # indexed on startup
        key, _app_id, _version = lw.install(server, _app("knowledge_workflow.yml"))
        outputs = _run_workflow(server, key, "which train?")
        passages = outputs["passages"]
        # a semantic dataset keeps its own top_k in multiple mode, as Dify's high-quality datasets do
        assert [p["content"] for p in passages] == [NOTES["trains.txt"]]
        assert passages[0]["metadata"]["dataset_name"] == "Semantic notes"
        assert passages[0]["metadata"]["score"] > 0.9
        assert received[-1]["input"] == ["which train?"]


def test_chat_apps_use_their_datasets(tmp_path: Path) -> None:
    """A chat app's `dataset_configs` give its prompt the context and its answer the citations;
    an agent-chat app calls each available dataset as a tool (`dataset_<id>`)."""
    folder = _notes(tmp_path)
    with lw.workflow_server(tmp_path / "data", extra_env={dataset_env(DATASET_A): str(folder)}) as server:
        key, _app_id, _version = lw.install(server, _app("knowledge_chat.yml"))
        body = {"inputs": {}, "user": "u", "query": "bicycle tyre puncture", "response_mode": "streaming"}
        events = lw.stream(server, key, "/chat-messages", body)
        lw.check_stream(events, "chat")
        answer = "".join(e.get("answer", "") for e in events if e["event"] == "message")
        assert "My instructions say: To mend a flat bicycle tyre" in answer
        cited = events[-1]["metadata"]["retriever_resources"]
        assert [c["document_name"] for c in cited] == ["bicycles.txt"]
        assert cited[0]["dataset_id"] == DATASET_A and cited[0]["position"] == 1

        agent_key, _app_id, _version = lw.install(server, _app("knowledge_agent.yml"))
        tool = "dataset_" + DATASET_A.replace("-", "_")
        query = f'[[tool:{tool} {{"query": "night train"}}]] when is the train?'
        body = {"inputs": {}, "user": "u", "query": query, "response_mode": "streaming"}
        events = lw.stream(server, agent_key, "/chat-messages", body)
        thoughts = [e for e in events if e["event"] == "agent_thought" and e.get("tool")]
        assert thoughts and thoughts[0]["tool"] == tool
        assert NOTES["trains.txt"] in thoughts[-1]["observation"]
