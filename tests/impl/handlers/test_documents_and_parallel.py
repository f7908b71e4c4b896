"""Over a real server: an uploaded document read by document-extractor, its lines sorted by a
list-operator, a parallel iteration and parallel branches; every stream follows the spec's
grammars (container nesting holds with rounds running at once)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest
from support.server import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
import live_workflows as lw

DSL = """
app: {mode: workflow, name: Documents and parallel}
kind: app
version: 0.3.0
workflow:
  features:
    file_upload: {enabled: true, allowed_file_types: [document], allowed_file_upload_methods: [local_file]}
  graph:
    edges:
    - {id: e1, source: start, sourceHandle: source, target: read, targetHandle: target}
    - {id: e2, source: read, sourceHandle: source, target: split, targetHandle: target}
    - {id: e3, source: split, sourceHandle: source, target: sort, targetHandle: target}
    - {id: e4, source: sort, sourceHandle: source, target: each, targetHandle: target}
    - {id: e5, source: sort, sourceHandle: source, target: count, targetHandle: target}
    - {id: e6, source: each, sourceHandle: source, target: end, targetHandle: target}
    - {id: e7, source: count, sourceHandle: source, target: end, targetHandle: target}
    - {id: i1, source: each-start, sourceHandle: source, target: shout, targetHandle: target}
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - {variable: doc, label: Doc, type: file, required: true, allowed_file_types: [document]}
    - id: read
      data: {type: document-extractor, title: Read, variable_selector: [start, doc]}
    - id: split
      data:
        type: parameter-extractor
        title: Split
        model: {provider: builtin, name: echo, mode: chat}
        query: [read, text]
        parameters: [{name: words, type: 'array[string]', description: the words, required: true}]
    - id: sort
      data:
        type: list-operator
        title: Sort
        variable: [split, words]
        filter_by: {enabled: true, conditions: [{comparison_operator: not empty, value: ''}]}
        order_by: {enabled: true, value: asc}
        limit: {enabled: true, size: 3}
    - id: each
      data:
        type: iteration
        title: Each
        iterator_selector: [sort, result]
        output_selector: [shout, output]
        start_node_id: each-start
        is_parallel: true
        parallel_nums: 2
        error_handle_mode: terminated
    - {id: each-start, parentId: each, data: {type: iteration-start, title: '', isInIteration: true}}
    - id: shout
      parentId: each
      data:
        type: template-transform
        title: Shout
        template: "{{ w | upper }}\\n"
        variables: [{variable: w, value_selector: [each, item]}]
    - id: count
      data:
        type: template-transform
        title: Count
        template: "{{ xs | length }} words, first {{ first }}"
        variables:
        - {variable: xs, value_selector: [sort, result]}
        - {variable: first, value_selector: [sort, first_record]}
    - id: end
      data:
        type: end
        title: End
        outputs:
        - {variable: loud, value_selector: [each, output]}
        - {variable: summary, value_selector: [count, output]}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with lw.workflow_server(tmp_path_factory.mktemp("docs-parallel")) as live:
        yield live


def _docx(words: list[str]) -> bytes:
    document = docx.Document()
    document.add_paragraph("words: " + ", ".join(words))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_an_uploaded_document_flows_through_lists_and_a_parallel_iteration(server: LiveServer) -> None:
    key, _app, _version = lw.install(server, DSL)
    with lw.client(server, key) as c:
        upload = c.post(
            "/files/upload",
            files={"file": ("w.docx", _docx(["pear", "fig", "apple", "kiwi"]), "application/octet-stream")},
            data={"user": "d"},
        )
        assert upload.status_code == 201, upload.text
    doc = {"type": "document", "transfer_method": "local_file", "upload_file_id": upload.json()["id"]}
    body = {"inputs": {"doc": doc}, "user": "d", "response_mode": "streaming"}
    events = lw.stream(server, key, "/workflows/run", body)
    assert lw.check_stream(events, "workflow") == ["normal"]
    outputs = events[-1]["data"]["outputs"]
    assert outputs == {"loud": ["APPLE", "FIG", "KIWI"], "summary": "3 words, first apple"}
    read = [e["data"] for e in events if e["event"] == "node_finished" and e["data"]["node_id"] == "read"][0]
    assert read["outputs"]["text"] == "words: pear, fig, apple, kiwi"
    # the parallel iteration announces every round first; no node events for it or its start node
    names = lw.names(events)
    first_shout = min(
        i for i, e in enumerate(events) if e["event"] == "node_started" and e["data"]["node_id"] == "shout"
    )
    assert [e["data"]["index"] for e in events[:first_shout] if e["event"] == "iteration_next"] == [0, 1, 2]
    assert "each" not in lw.node_ids(events) and "each-start" not in lw.node_ids(events)
    assert names.count("iteration_completed") == 1
    with lw.client(server, key) as c:
        blocking = c.post("/workflows/run", json={**body, "response_mode": "blocking"}).json()["data"]
    assert blocking["status"] == "succeeded" and blocking["outputs"] == outputs
