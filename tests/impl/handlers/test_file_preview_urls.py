"""Over a real server: a file uploaded and sent to a workflow or chatflow run comes back in the
run's data (outputs, node inputs and outputs, `sys.files`, the run record) with a signed URL that
`GET /v1/files/{file_id}/file-preview` serves without an API key, and that it refuses (404 in the
error envelope, as Dify does) once the signature, the id or the age is wrong (DEVIATIONS D30)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
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

SECRET = "file-preview-test-secret"
NOT_FOUND = "File not found or signature is invalid"
NOTES = b"harbour notes\nline two\n"

DSL = """
app: {mode: workflow, name: File preview URLs}
kind: app
version: 0.3.0
workflow:
  features:
    file_upload:
      enabled: true
      allowed_file_types: [document, audio, custom]
      allowed_file_upload_methods: [local_file]
  graph:
    edges:
    - {id: e1, source: start, sourceHandle: source, target: echo, targetHandle: target}
    - {id: e2, source: echo, sourceHandle: source, target: end, targetHandle: target}
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - variable: doc
          label: Doc
          type: file
          required: true
          allowed_file_types: [document, audio, custom]
    - id: echo
      data:
        type: template-transform
        title: Echo
        template: '{{ doc.filename }}'
        variables: [{variable: doc, value_selector: [start, doc]}]
    - id: end
      data:
        type: end
        title: End
        outputs:
        - {variable: doc, value_selector: [start, doc]}
        - {variable: name, value_selector: [echo, output]}
        - {variable: sent, value_selector: [sys, files]}
"""

CHATFLOW = """
app: {mode: advanced-chat, name: File preview chat}
kind: app
version: 0.3.0
workflow:
  conversation_variables: []
  features:
    file_upload: {enabled: true, allowed_file_types: [document], allowed_file_upload_methods: [local_file]}
  graph:
    edges:
    - {id: e1, source: start, sourceHandle: source, target: answer, targetHandle: target}
    nodes:
    - id: start
      data: {type: start, title: Start, variables: []}
    - id: answer
      data: {type: answer, title: Answer, answer: 'Got {{#sys.query#}}'}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with lw.workflow_server(
        tmp_path_factory.mktemp("file-preview"), extra_env={"SECRET_KEY": SECRET}
    ) as live:
        yield live


@pytest.fixture(scope="module")
def key(server: LiveServer) -> str:
    return lw.install(server, DSL)[0]


def upload(server: LiveServer, key: str, name: str, data: bytes, mime: str) -> dict[str, Any]:
    with lw.client(server, key) as c:
        answer = c.post("/files/upload", files={"file": (name, data, mime)}, data={"user": "fp"})
    assert answer.status_code == 201, answer.text
    row: dict[str, Any] = answer.json()
    return row


def local(upload_id: str, kind: str = "document") -> dict[str, str]:
    return {"type": kind, "transfer_method": "local_file", "upload_file_id": upload_id}


def run(server: LiveServer, key: str, upload_id: str, kind: str = "document") -> dict[str, Any]:
    body = {"inputs": {"doc": local(upload_id, kind)}, "user": "fp", "response_mode": "blocking"}
    with lw.client(server, key) as c:
        answer = c.post("/workflows/run", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    assert result["data"]["status"] == "succeeded", result
    return result


@pytest.fixture(scope="module")
def notes(server: LiveServer, key: str) -> dict[str, Any]:
    return upload(server, key, "notes.txt", NOTES, "text/plain")


@pytest.fixture(scope="module")
def outputs(server: LiveServer, key: str, notes: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = run(server, key, notes["id"])["data"]["outputs"]
    return result


def host(server: LiveServer) -> str:
    return server.base_url.removesuffix("/v1")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def signed(file_id: str, timestamp: int, secret: str = SECRET, path_id: str | None = None) -> str:
    """A URL signed here the way the server signs (Dify's message and encoding)."""
    nonce = uuid.uuid4().hex
    digest = hmac.new(secret.encode(), f"file-preview|{file_id}|{timestamp}|{nonce}".encode(), hashlib.sha256)
    sign = base64.urlsafe_b64encode(digest.digest()).decode()
    return f"/v1/files/{path_id or file_id}/file-preview?timestamp={timestamp}&nonce={nonce}&sign={sign}"


def envelope(resp: httpx.Response, status: int, code: str, message: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code and body["status"] == status and body["message"], body
    if message is not None:
        assert body["message"] == message, body


def test_a_file_inputs_url_downloads_without_a_key(
    server: LiveServer, notes: dict[str, Any], outputs: dict[str, Any]
) -> None:
    doc = outputs["doc"]
    assert doc["transfer_method"] == "local_file" and doc["upload_file_id"] == notes["id"]
    url = doc["url"]
    assert url.startswith(f"/v1/files/{notes['id']}/file-preview?")
    assert list(query(url)) == ["timestamp", "nonce", "sign"]
    assert abs(int(query(url)["timestamp"]) - time.time()) < 120
    served = httpx.get(host(server) + url, timeout=30)  # no Authorization header
    assert served.status_code == 200, served.text
    assert served.content == NOTES and served.headers["content-length"] == str(len(NOTES))
    assert served.headers["content-type"].split(";")[0] == "text/plain"
    assert "content-disposition" not in served.headers
    download = httpx.get(host(server) + url + "&as_attachment=true", timeout=30)
    assert download.status_code == 200 and download.content == NOTES
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''notes.txt"
    assert outputs["name"] == "notes.txt"


def test_the_keyed_preview_still_refuses_run_files(
    server: LiveServer, key: str, notes: dict[str, Any]
) -> None:
    """The URL run data carried before (the keyed preview) cannot serve a workflow's file: 401
    without a key, 404 with one (the file is on no message). `previewChatFile` is unchanged."""
    keyless = httpx.get(f"{server.base_url}/files/{notes['id']}/preview", timeout=30)
    envelope(keyless, 401, "unauthorized")
    with lw.client(server, key) as c:
        envelope(c.get(f"/files/{notes['id']}/preview"), 404, "file_not_found")


def test_sys_files_and_node_events_carry_signed_urls_too(
    server: LiveServer, key: str, notes: dict[str, Any]
) -> None:
    body = {"inputs": {"doc": local(notes["id"])}, "files": [local(notes["id"])], "user": "fp"}
    events = lw.stream(server, key, "/workflows/run", {**body, "response_mode": "streaming"})
    assert lw.check_stream(events, "workflow") == ["normal"]
    urls = []
    (start,) = [
        e["data"] for e in events if e["event"] == "node_finished" and e["data"]["node_id"] == "start"
    ]
    urls.append(start["outputs"]["doc"]["url"])
    urls.extend(f["url"] for f in start["outputs"]["sys.files"])
    (echo,) = [e["data"] for e in events if e["event"] == "node_started" and e["data"]["node_id"] == "echo"]
    finished = events[-1]
    assert finished["event"] == "workflow_finished"
    urls.append(finished["data"]["outputs"]["doc"]["url"])
    (sent,) = finished["data"]["outputs"]["sent"]
    urls.append(sent["url"])
    assert len(urls) == 4 and echo["node_id"] == "echo"
    for url in urls:
        assert url.startswith(f"/v1/files/{notes['id']}/file-preview?"), url
        served = httpx.get(host(server) + url, timeout=30)
        assert served.status_code == 200 and served.content == NOTES, served.text


def test_a_workflow_apps_upload_has_a_signed_source_url(server: LiveServer, notes: dict[str, Any]) -> None:
    source = notes["source_url"]
    assert source.startswith(f"/v1/files/{notes['id']}/file-preview?")
    served = httpx.get(host(server) + source, timeout=30)
    assert served.status_code == 200 and served.content == NOTES


def test_a_tampered_url_is_refused(
    server: LiveServer, key: str, notes: dict[str, Any], outputs: dict[str, Any]
) -> None:
    path, _, raw = outputs["doc"]["url"].partition("?")
    params = query(outputs["doc"]["url"])
    base = host(server)
    sign = params["sign"]
    bad_sign = {**params, "sign": sign[:-4] + ("AAA=" if sign[-4:] != "AAA=" else "BBB=")}
    envelope(httpx.get(base + path, params=bad_sign, timeout=30), 404, "not_found", NOT_FOUND)
    later = {**params, "timestamp": str(int(params["timestamp"]) + 1)}
    envelope(httpx.get(base + path, params=later, timeout=30), 404, "not_found", NOT_FOUND)
    other_nonce = {**params, "nonce": uuid.uuid4().hex}
    envelope(httpx.get(base + path, params=other_nonce, timeout=30), 404, "not_found", NOT_FOUND)
    # The signature names the file: another existing file with the same signature is refused.
    other = upload(server, key, "other.txt", b"not yours", "text/plain")
    envelope(
        httpx.get(base + path.replace(notes["id"], other["id"]), params=params, timeout=30),
        404,
        "not_found",
        NOT_FOUND,
    )
    # An API key changes nothing: the signature is what counts.
    keyed = httpx.get(base + path, params=bad_sign, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    envelope(keyed, 404, "not_found", NOT_FOUND)
    assert httpx.get(f"{base}{path}?{raw}", timeout=30).status_code == 200  # the original still works


def test_an_expired_url_is_refused(server: LiveServer, notes: dict[str, Any]) -> None:
    fresh = signed(notes["id"], int(time.time()))
    assert httpx.get(host(server) + fresh, timeout=30).content == NOTES
    # FILES_ACCESS_TIMEOUT is 300 seconds by default.
    stale = signed(notes["id"], int(time.time()) - 400)
    envelope(httpx.get(host(server) + stale, timeout=30), 404, "not_found", NOT_FOUND)
    foreign = signed(notes["id"], int(time.time()), secret="another secret")
    envelope(httpx.get(host(server) + foreign, timeout=30), 404, "not_found", NOT_FOUND)
    # The id is matched as Dify's UUID route does: any case names the same file.
    upper = signed(notes["id"], int(time.time()), path_id=notes["id"].upper())
    assert httpx.get(host(server) + upper, timeout=30).content == NOTES


def test_missing_files_malformed_ids_and_parameters(server: LiveServer, key: str) -> None:
    missing = str(uuid.uuid4())
    now = int(time.time())
    envelope(httpx.get(host(server) + signed(missing, now), timeout=30), 404, "not_found", NOT_FOUND)
    gone = upload(server, key, "gone.txt", b"soon gone", "text/plain")
    (stored,) = server.data_dir.glob(f"upload_files/*/{gone['id']}.txt")
    stored.unlink()
    envelope(httpx.get(host(server) + signed(gone["id"], now), timeout=30), 404, "not_found", NOT_FOUND)
    unknown = "The requested URL was not found on the server."
    for bad_id in ("not-an-id", missing.replace("-", ""), f"{missing}.txt"):
        url = signed(missing, now).replace(missing, bad_id, 1)
        envelope(httpx.get(host(server) + url, timeout=30), 404, "not_found", unknown)
    complete = query(signed(gone["id"], now))
    for left_out in ("timestamp", "nonce", "sign"):
        params = {k: v for k, v in complete.items() if k != left_out}
        url = f"{host(server)}/v1/files/{missing}/file-preview"
        envelope(httpx.get(url, params=params, timeout=30), 400, "invalid_param")


def test_audio_is_served_in_ranges_and_markup_as_a_download(server: LiveServer, key: str) -> None:
    sound = bytes(range(256)) * 4
    audio = upload(server, key, "chime.mp3", sound, "audio/mpeg")
    url = run(server, key, audio["id"], "audio")["data"]["outputs"]["doc"]["url"]
    whole = httpx.get(host(server) + url, timeout=30)
    assert whole.status_code == 200 and whole.content == sound
    assert whole.headers["content-type"] == "audio/mpeg" and whole.headers["accept-ranges"] == "bytes"
    part = httpx.get(host(server) + url, headers={"Range": "bytes=10-19"}, timeout=30)
    assert part.status_code == 206 and part.content == sound[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(sound)}"
    page = upload(server, key, "page.html", b"<script>alert(1)</script>", "text/html")
    url = run(server, key, page["id"], "custom")["data"]["outputs"]["doc"]["url"]
    served = httpx.get(host(server) + url, timeout=30)
    assert served.status_code == 200 and served.content == b"<script>alert(1)</script>"
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"] == "attachment; filename*=UTF-8''page.html"


def test_the_run_record_signs_its_urls_anew(server: LiveServer, key: str, notes: dict[str, Any]) -> None:
    first = run(server, key, notes["id"])
    before = first["data"]["outputs"]["doc"]["url"]
    time.sleep(1.1)  # a new URL differs at least by its nonce; this makes its timestamp newer too
    with lw.client(server, key) as c:
        detail = c.get(f"/workflows/run/{first['workflow_run_id']}")
    assert detail.status_code == 200, detail.text
    again = detail.json()["outputs"]["doc"]["url"]
    assert again != before and again.startswith(f"/v1/files/{notes['id']}/file-preview?")
    assert int(query(again)["timestamp"]) > int(query(before)["timestamp"])
    assert httpx.get(host(server) + again, timeout=30).content == NOTES
    # `inputs` is the stored inputs as JSON text; their file URL is signed anew as well.
    inputs = json.loads(detail.json()["inputs"])
    stamp = int(query(inputs["doc"]["url"])["timestamp"])
    assert stamp > int(query(before)["timestamp"])
    assert httpx.get(host(server) + inputs["doc"]["url"], timeout=30).content == NOTES


def test_a_chatflow_signs_run_data_and_keeps_keyed_message_files(server: LiveServer) -> None:
    """In a chatflow the run's events give `sys.files` the signed URL; the message's
    `message_files` keep the keyed `/v1/files/{id}/preview` path (D17), which serves the file
    with the app's key because the file is now on a message."""
    chat_key = lw.install(server, CHATFLOW)[0]
    notes = upload(server, chat_key, "brief.txt", b"chat brief", "text/plain")
    assert notes["source_url"] == f"/v1/files/{notes['id']}/preview"
    body = {
        "inputs": {},
        "query": "q",
        "user": "fp",
        "response_mode": "streaming",
        "files": [local(notes["id"])],
    }
    events = lw.stream(server, chat_key, "/chat-messages", body)
    (start,) = [
        e["data"] for e in events if e["event"] == "node_finished" and e["data"]["node_id"] == "start"
    ]
    (sent,) = start["outputs"]["sys.files"]
    assert sent["url"].startswith(f"/v1/files/{notes['id']}/file-preview?")
    assert httpx.get(host(server) + sent["url"], timeout=30).content == b"chat brief"
    conversation = events[0]["conversation_id"]
    with lw.client(server, chat_key) as c:
        history = c.get("/messages", params={"conversation_id": conversation, "user": "fp"}).json()
        (message,) = history["data"]
        (attached,) = message["message_files"]
        assert attached["url"] == f"/v1/files/{notes['id']}/preview"
        keyed = c.get(attached["url"].removeprefix("/v1"))
    assert keyed.status_code == 200 and keyed.content == b"chat brief"


SLOW = """
app: {mode: workflow, name: Slow file echo}
kind: app
version: 0.3.0
workflow:
  graph:
    edges:
    - {id: e1, source: start, sourceHandle: source, target: llm, targetHandle: target}
    - {id: e2, source: llm, sourceHandle: source, target: end, targetHandle: target}
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - {variable: doc, label: Doc, type: file, required: true, allowed_file_types: [document]}
    - id: llm
      data:
        type: llm
        title: Slow
        model:
          provider: builtin
          name: echo
          mode: chat
          completion_params: {token_delay: 1.0, reply_tokens: 4}
        prompt_template:
        - {role: user, text: 'Read {{#start.doc#}}'}
        context: {enabled: false, variable_selector: []}
        vision: {enabled: false}
    - id: end
      data:
        type: end
        title: End
        outputs:
        - {variable: doc, value_selector: [start, doc]}
"""


def test_urls_are_signed_when_the_event_is_made(tmp_path: Path) -> None:
    """A run that outlives FILES_ACCESS_TIMEOUT (2 s here) still ends with a working URL: each
    event signs its files' URLs when it is made, as Dify does when it serializes a file. The URL
    of an event from the run's start has expired by then."""
    env = {"SECRET_KEY": SECRET, "FILES_ACCESS_TIMEOUT": "2"}
    with lw.workflow_server(tmp_path, extra_env=env) as server:
        key = lw.install(server, SLOW)[0]
        notes = upload(server, key, "slow.txt", b"slow notes", "text/plain")
        body = {"inputs": {"doc": local(notes["id"])}, "user": "fp", "response_mode": "streaming"}
        events = lw.stream(server, key, "/workflows/run", body)
        finished = events[-1]
        assert finished["event"] == "workflow_finished", finished
        late = finished["data"]["outputs"]["doc"]["url"]
        assert httpx.get(host(server) + late, timeout=30).content == b"slow notes"
        (start,) = [
            e["data"] for e in events if e["event"] == "node_finished" and e["data"]["node_id"] == "start"
        ]
        early = start["outputs"]["doc"]["url"]
        assert int(query(late)["timestamp"]) - int(query(early)["timestamp"]) >= 3
        envelope(httpx.get(host(server) + early, timeout=30), 404, "not_found", NOT_FOUND)
        blocking = run(server, key, notes["id"])["data"]["outputs"]["doc"]["url"]
        assert httpx.get(host(server) + blocking, timeout=30).content == b"slow notes"
