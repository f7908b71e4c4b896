"""Over a real server: the files a workflow's tool nodes make come out with signed URLs that
`GET /v1/files/tools/{file_name}` serves without an API key, and that it refuses (in the error
envelope) once the signature, the id or the age is wrong."""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from support.server import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
import live_workflows as lw

SECRET = "tool-file-test-secret"

DSL = """
app: {mode: workflow, name: Tool file URLs}
kind: app
version: 0.3.0
workflow:
  graph:
    edges:
    - {id: e1, source: start, sourceHandle: source, target: write, targetHandle: target}
    - {id: e2, source: write, sourceHandle: source, target: md, targetHandle: target}
    - {id: e3, source: md, sourceHandle: source, target: page, targetHandle: target}
    - {id: e4, source: page, sourceHandle: source, target: end, targetHandle: target}
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

          - one line
        variables: [{variable: topic, value_selector: [start, topic]}]
    - id: md
      data:
        type: tool
        title: Markdown file
        provider_id: bowenliang123/md_exporter/md_exporter
        provider_name: bowenliang123/md_exporter/md_exporter
        provider_type: builtin
        tool_name: md_to_md
        tool_configurations: {}
        tool_parameters:
          md_text: {type: variable, value: [write, output]}
          output_filename: {type: mixed, value: notes}
    - id: page
      data:
        type: tool
        title: HTML file
        provider_id: bowenliang123/md_exporter/md_exporter
        provider_name: bowenliang123/md_exporter/md_exporter
        provider_type: builtin
        tool_name: md_to_html
        tool_configurations: {}
        tool_parameters:
          md_text: {type: variable, value: [write, output]}
          output_filename: {type: mixed, value: page}
    - id: end
      data:
        type: end
        title: End
        outputs:
        - {variable: notes, value_selector: [md, files]}
        - {variable: page, value_selector: [page, files]}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with lw.workflow_server(tmp_path_factory.mktemp("tool-files"), extra_env={"SECRET_KEY": SECRET}) as live:
        yield live


@pytest.fixture(scope="module")
def outputs(server: LiveServer) -> dict[str, Any]:
    key, _app, _version = lw.install(server, DSL)
    with lw.client(server, key) as c:
        body = {"inputs": {"topic": "Harbour"}, "user": "tf", "response_mode": "blocking"}
        answer = c.post("/workflows/run", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["status"] == "succeeded", data
    result: dict[str, Any] = data["outputs"]
    return result


def host(server: LiveServer) -> str:
    return server.base_url.removesuffix("/v1")


def signed(file_name: str, file_id: str, timestamp: int, secret: str = SECRET) -> str:
    """A URL signed here the way the server signs (Dify's message and encoding)."""
    nonce = uuid.uuid4().hex
    digest = hmac.new(secret.encode(), f"file-preview|{file_id}|{timestamp}|{nonce}".encode(), hashlib.sha256)
    sign = base64.urlsafe_b64encode(digest.digest()).decode()
    return f"/v1/files/tools/{file_name}?timestamp={timestamp}&nonce={nonce}&sign={sign}"


def envelope(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["code"] == code and body["status"] == status and body["message"], body
    return body


def test_a_tool_file_downloads_from_its_url_without_a_key(
    server: LiveServer, outputs: dict[str, Any]
) -> None:
    (notes,) = outputs["notes"]
    url = notes["url"]
    assert url.startswith(f"/v1/files/tools/{notes['upload_file_id']}.md?")
    assert set(parse_qs(urlsplit(url).query)) == {"timestamp", "nonce", "sign"}
    served = httpx.get(host(server) + url, timeout=30)  # no Authorization header
    assert served.status_code == 200, served.text
    assert served.headers["content-type"].split(";")[0] == notes["mime_type"]
    (stored,) = server.data_dir.glob(f"upload_files/*/{notes['upload_file_id']}.md")
    assert served.content == stored.read_bytes() and len(served.content) == notes["size"]
    assert served.content.decode().startswith("# Harbour")
    assert "content-disposition" not in served.headers
    download = httpx.get(host(server) + url + "&as_attachment=true", timeout=30)
    assert download.status_code == 200 and download.content == served.content
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''notes.md"


def test_html_is_always_sent_as_a_download(server: LiveServer, outputs: dict[str, Any]) -> None:
    (page,) = outputs["page"]
    assert page["mime_type"] == "text/html"
    served = httpx.get(host(server) + page["url"], timeout=30)
    assert served.status_code == 200, served.text
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"] == "attachment; filename*=UTF-8''page.html"
    assert b"Harbour" in served.content


def test_a_tampered_url_is_refused(server: LiveServer, outputs: dict[str, Any]) -> None:
    (notes,) = outputs["notes"]
    path, _, query = notes["url"].partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    base = host(server)
    bad_sign = {**params, "sign": params["sign"][:-4] + ("AAA=" if params["sign"][-4:] != "AAA=" else "BBB=")}
    body = envelope(httpx.get(base + path, params=bad_sign, timeout=30), 403, "forbidden")
    assert body["message"] == "Invalid request."
    # The signature names the file: another id with the same signature is refused too.
    other = path.replace(notes["upload_file_id"], str(uuid.uuid4()))
    envelope(httpx.get(base + other, params=params, timeout=30), 403, "forbidden")
    later = {**params, "timestamp": str(int(params["timestamp"]) + 1)}
    envelope(httpx.get(base + path, params=later, timeout=30), 403, "forbidden")
    # An API key changes nothing: the signature is what counts.
    keyed = httpx.get(base + path, params=bad_sign, headers={"Authorization": "Bearer app-x"}, timeout=30)
    envelope(keyed, 403, "forbidden")


def test_an_expired_url_is_refused(server: LiveServer, outputs: dict[str, Any]) -> None:
    (notes,) = outputs["notes"]
    file_id = notes["upload_file_id"]
    fresh = signed(f"{file_id}.md", file_id, int(time.time()))
    assert httpx.get(host(server) + fresh, timeout=30).status_code == 200
    # FILES_ACCESS_TIMEOUT is 300 seconds by default.
    stale = signed(f"{file_id}.md", file_id, int(time.time()) - 400)
    envelope(httpx.get(host(server) + stale, timeout=30), 403, "forbidden")
    foreign = signed(f"{file_id}.md", file_id, int(time.time()), secret="another secret")
    envelope(httpx.get(host(server) + foreign, timeout=30), 403, "forbidden")


def test_unknown_files_and_malformed_names(server: LiveServer) -> None:
    missing = str(uuid.uuid4())
    body = envelope(
        httpx.get(host(server) + signed(f"{missing}.png", missing, int(time.time())), timeout=30),
        404,
        "file_not_found",
    )
    assert body["message"] == "File not found"
    for name in ("not-an-id.png", missing, f"{missing}."):
        envelope(
            httpx.get(host(server) + signed(name, missing, int(time.time())), timeout=30), 404, "not_found"
        )
    query = httpx.get(f"{host(server)}/v1/files/tools/{missing}.png", params={"timestamp": "1"}, timeout=30)
    envelope(query, 400, "invalid_param")


CHATFLOW = """
app: {mode: advanced-chat, name: Tool file chat}
kind: app
version: 0.3.0
workflow:
  conversation_variables: []
  graph:
    edges:
    - {id: e1, source: start, sourceHandle: source, target: md, targetHandle: target}
    - {id: e2, source: md, sourceHandle: source, target: answer, targetHandle: target}
    nodes:
    - id: start
      data: {type: start, title: Start, variables: []}
    - id: md
      data:
        type: tool
        title: Markdown file
        provider_id: bowenliang123/md_exporter/md_exporter
        provider_name: bowenliang123/md_exporter/md_exporter
        provider_type: builtin
        tool_name: md_to_md
        tool_configurations: {}
        tool_parameters:
          md_text: {type: mixed, value: '# {{#sys.query#}}'}
          output_filename: {type: mixed, value: reply}
    - id: answer
      data: {type: answer, title: Answer, answer: 'Here it is: {{#md.files#}}'}
"""


def test_a_chatflow_tool_file_downloads_too(server: LiveServer) -> None:
    key, _app, _version = lw.install(server, CHATFLOW)
    body = {"inputs": {}, "query": "Ferry times", "user": "tf", "response_mode": "streaming"}
    events = lw.stream(server, key, "/chat-messages", body)
    (done,) = [e for e in events if e["event"] == "node_finished" and e["data"]["node_id"] == "md"]
    (made,) = done["data"]["outputs"]["files"]
    assert made["transfer_method"] == "tool_file" and made["url"].startswith("/v1/files/tools/")
    served = httpx.get(host(server) + made["url"], timeout=30)
    assert served.status_code == 200, served.text
    assert served.content.decode().startswith("# Ferry times")


def test_the_run_record_signs_its_urls_anew(server: LiveServer) -> None:
    key, _app, _version = lw.install(server, DSL)
    with lw.client(server, key) as c:
        body = {"inputs": {"topic": "Later"}, "user": "tf", "response_mode": "blocking"}
        run = c.post("/workflows/run", json=body).json()
        (first,) = run["data"]["outputs"]["notes"]
        time.sleep(1.1)  # a new URL differs at least by its nonce; this makes its timestamp newer too
        detail = c.get(f"/workflows/run/{run['workflow_run_id']}")
    assert detail.status_code == 200, detail.text
    (again,) = detail.json()["outputs"]["notes"]
    assert again["url"] != first["url"] and again["upload_file_id"] == first["upload_file_id"]
    stamp = int(parse_qs(urlsplit(again["url"]).query)["timestamp"][0])
    assert stamp > int(parse_qs(urlsplit(first["url"]).query)["timestamp"][0])
    served = httpx.get(host(server) + again["url"], timeout=30)
    assert served.status_code == 200 and served.content.decode().startswith("# Later")
