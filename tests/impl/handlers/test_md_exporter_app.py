"""Over a real server: a workflow whose template writes a Markdown report and whose
md_exporter tool nodes (named as Dify apps name the plugin) turn it into a DOCX and an XLSX file;
the files come out of the end node and their URLs serve documents python-docx and openpyxl open."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest
from openpyxl import load_workbook
from support.server import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
import live_workflows as lw

DSL = """
app: {mode: workflow, name: Markdown export}
kind: app
version: 0.3.0
dependencies:
- type: marketplace
  value: {marketplace_plugin_unique_identifier: bowenliang123/md_exporter:1.0.0@0000}
workflow:
  graph:
    edges:
    - {id: e1, source: start, sourceHandle: source, target: write, targetHandle: target}
    - {id: e2, source: write, sourceHandle: source, target: word, targetHandle: target}
    - {id: e3, source: word, sourceHandle: source, target: sheet, targetHandle: target}
    - {id: e4, source: sheet, sourceHandle: source, target: end, targetHandle: target}
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - {variable: topic, label: Topic, type: text-input, required: true}
    - id: write
      data:
        type: template-transform
        title: Write
        template: |-
          # {{ topic }}

          Made **offline**.

          - first point
          - second point

          | Item | Count |
          |------|-------|
          | pens | 3     |
        variables: [{variable: topic, value_selector: [start, topic]}]
    - id: word
      data:
        type: tool
        title: Markdown to DOCX
        provider_id: bowenliang123/md_exporter/md_exporter
        provider_name: bowenliang123/md_exporter/md_exporter
        provider_type: builtin
        tool_name: md_to_docx
        tool_label: Markdown to DOCX
        tool_configurations: {}
        tool_parameters:
          md_text: {type: mixed, value: '{{#write.output#}}'}
          output_filename: {type: mixed, value: 'report-{{#start.topic#}}'}
    - id: sheet
      data:
        type: tool
        title: Markdown tables to XLSX
        provider_id: bowenliang123/md_exporter/md_exporter
        provider_name: bowenliang123/md_exporter/md_exporter
        provider_type: builtin
        tool_name: md_to_xlsx
        tool_configurations: {force_text_value: 'false'}
        tool_parameters:
          md_text: {type: variable, value: [write, output]}
    - id: end
      data:
        type: end
        title: End
        outputs:
        - {variable: document, value_selector: [word, files]}
        - {variable: sheet, value_selector: [sheet, files]}
        - {variable: note, value_selector: [word, text]}
"""

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with lw.workflow_server(tmp_path_factory.mktemp("md-export")) as live:
        yield live


def test_a_markdown_report_is_exported_as_docx_and_xlsx(server: LiveServer) -> None:
    key, _app, _version = lw.install(server, DSL)
    body = {"inputs": {"topic": "Supplies"}, "user": "md", "response_mode": "streaming"}
    events = lw.stream(server, key, "/workflows/run", body)
    assert lw.check_stream(events, "workflow") == ["normal"]
    outputs = events[-1]["data"]["outputs"]
    assert outputs["note"] == ""  # the plugin sends the file only
    (document,) = outputs["document"]
    assert document["filename"] == "report-Supplies.docx"
    assert document["mime_type"] == DOCX and document["extension"] == ".docx"
    assert document["transfer_method"] == "tool_file" and document["type"] == "document"
    (sheet,) = outputs["sheet"]
    assert sheet["filename"].endswith(".xlsx")
    # A workflow's tool files are stored as uploads of the app; the preview operation is declared
    # for message files only (not for workflow apps), so the stored bytes are read directly.
    (stored,) = server.data_dir.glob(f"upload_files/*/{document['upload_file_id']}.docx")
    word = docx.Document(io.BytesIO(stored.read_bytes()))
    assert document["size"] == stored.stat().st_size
    (workbook,) = server.data_dir.glob(f"upload_files/*/{sheet['upload_file_id']}.xlsx")
    paragraphs = [(p.style.name if p.style else "", p.text) for p in word.paragraphs]
    assert paragraphs[0] == ("Heading 1", "Supplies")
    assert ("List Bullet", "second point") in paragraphs
    assert [c.text for c in word.tables[0].rows[1].cells] == ["pens", "3"]
    book = load_workbook(io.BytesIO(workbook.read_bytes()))
    assert book.sheetnames == ["Supplies"]
    assert book["Supplies"]["B2"].value == 3  # force_text_value false keeps numbers numbers
    with lw.client(server, key) as c:
        blocking = c.post("/workflows/run", json={**body, "response_mode": "blocking"}).json()["data"]
    assert blocking["status"] == "succeeded"
    assert blocking["outputs"]["document"][0]["filename"] == "report-Supplies.docx"


AGENT = """
app: {mode: agent-chat, name: Markdown agent}
kind: app
version: 0.3.0
model_config:
  model: {provider: builtin, name: builtin-echo, mode: chat, completion_params: {}}
  pre_prompt: You write documents.
  agent_mode:
    enabled: true
    strategy: function_call
    max_iteration: 3
    tools:
    - enabled: true
      provider_type: builtin
      provider_id: bowenliang123/md_exporter/md_exporter
      provider_name: bowenliang123/md_exporter/md_exporter
      tool_name: md_to_docx
      tool_label: Markdown to DOCX
      tool_parameters: {}
  user_input_form: []
"""


def test_an_agent_writes_a_docx_that_its_message_file_url_serves(server: LiveServer) -> None:
    key, _app, _version = lw.install(server, AGENT)
    call = '[[tool:md_to_docx {"md_text": "# Minutes\\n\\n- agreed", "output_filename": "minutes"}]]'
    body = {"inputs": {}, "query": f"write it {call}", "user": "md", "response_mode": "streaming"}
    events = lw.stream(server, key, "/chat-messages", body)
    files = [e for e in events if e["event"] == "message_file"]
    assert len(files) == 1 and files[0]["belongs_to"] == "assistant"
    thoughts = [e for e in events if e["event"] == "agent_thought" and e.get("observation")]
    assert "minutes.docx" in thoughts[0]["observation"]
    with lw.client(server, key) as c:
        served = c.get(files[0]["url"].removeprefix("/v1"), params={"as_attachment": "true"})
    assert served.status_code == 200, served.text
    assert "minutes.docx" in served.headers["content-disposition"]
    word = docx.Document(io.BytesIO(served.content))
    assert [(p.style.name if p.style else "", p.text) for p in word.paragraphs] == [
        ("Heading 1", "Minutes"),
        ("List Bullet", "agreed"),
    ]
