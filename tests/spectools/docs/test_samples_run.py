"""Every code sample of every mode page, in every language, runs against the reference server.

The pages come from the live server's own `/docs` (built by `dify-service serve` with the
server's base URL).  For each sample box the test

1. checks that the shown curl, Python and Node.js texts are exactly what the generators of
   `spectools.docs.samples` produce from the box's request model (so what runs below is what a
   reader copies, up to the values substituted in step 2);
2. substitutes what a reader substitutes: the app key (`DIFY_API_KEY`), the example ids of the
   spec (a conversation, a message, a workflow run … of the reader's own app, created here), and
   the app's input variables read from `/parameters` (as the page's key box does);
3. runs the three samples (`bash` for curl, the venv's Python with httpx, `node`), and fails
   unless each exits 0 (all samples fail on an HTTP error status) and a streaming sample
   printed its stream's terminal event.

Identical texts are run once; the test asserts that every box of every page was covered.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.fake_openai import running_fake_openai
from support.server import REPO, LiveServer, run_cli, start_server

from spectools.docs.catalog import LANGS
from spectools.docs.samples import GENERATORS, RequestModel
from spectools.docs.spec import MODES

FIXTURE_APPS = Path(__file__).resolve().parent / "fixtures" / "apps"
VOICE_APP = REPO / "examples" / "apps" / "chat-voice-desk.yml"
USER = "user-4711"
# Example values of the spec that name things which must exist on the server.
CONVERSATION = "45701982-8118-4bc5-8e9b-64562b4555f2"
MESSAGE = "9da23599-e713-473b-982c-4328d4f5c78a"
FILE = "72fa9618-8f89-4a37-9b33-7e1178a24a67"
VARIABLE = "0c5b7f52-4f4e-4c44-9d1e-1b1a9c8d2e31"
END_USER = "6e2b4f1a-8c3d-4e5f-9a0b-1c2d3e4f5a6b"
ANNOTATION = "5b1c7d3e-2f4a-4b6c-8d9e-0f1a2b3c4d5e"
JOB = "b7c6d5e4-f3a2-4b1c-9d8e-7f6a5b4c3d2e"
RUN = "fcb0a2b3-6d6e-4ec6-9f5e-27d4a35b1c11"
WORKFLOW = "7b4e9c2a-1f0d-4c8e-b6a5-3d2f1e0c9b87"
FORM = "hif_2f8d1c0b9a7e4d3c"
TERMINAL = {"message_end", "workflow_finished", "workflow_paused", "error"}
# A small valid MP3 frame header repeated is not needed: uploads only need a real file of the
# named type; the server checks extension and content type, not the content of a PDF.
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

_BOX = re.compile(r'<div class="samples" data-op="([^"]+)" data-variant="([^"]*)".*?</script>', re.S)
_CODE = re.compile(r'data-sample="(\w+)">(.*?)</code>', re.S)
_MODEL = re.compile(r'<script type="application/json" class="sample-model">(.*?)</script>', re.S)


@dataclass
class Box:
    lang: str
    mode: str
    op: str
    variant: str
    model: dict[str, Any]
    shown: dict[str, str]


@dataclass
class App:
    """An app of the server and the things a sample may refer to, created in it."""

    key: str
    ids: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)


def _api(server: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def _inputs_from(parameters: dict[str, Any]) -> dict[str, Any]:
    """The twin of the page's `inputsFrom` (docs.js): a value for every input variable."""
    inputs: dict[str, Any] = {}
    for item in parameters.get("user_input_form") or []:
        kind, spec = next(iter(item.items()))
        if not spec.get("variable"):
            continue
        value = spec.get("default")
        if value in (None, ""):
            if kind == "select":
                value = (spec.get("options") or [""])[0]
            elif kind == "number":
                value = 0
            elif kind == "checkbox":
                value = False
            else:
                value = str(spec.get("label") or spec["variable"])
        inputs[spec["variable"]] = value
    return inputs


def _chat(client: httpx.Client, body: dict[str, Any], streaming: bool) -> dict[str, Any]:
    """Send a chat message; returns the ids of the answer (streamed for agent apps)."""
    body = {"inputs": {}, "user": USER, **body, "response_mode": "streaming" if streaming else "blocking"}
    if not streaming:
        r = client.post("/chat-messages", json=body)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data
    out: dict[str, Any] = {}
    with client.stream("POST", "/chat-messages", json=body) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                for key in ("conversation_id", "message_id", "workflow_run_id", "task_id"):
                    if event.get(key):
                        out.setdefault(key, event[key])
                if event.get("event") == "human_input_required":
                    out["form_token"] = event["data"]["form_token"]
    out["id"] = out.get("message_id")
    return out


def _upload(client: httpx.Client, tmp: Path) -> str:
    r = client.post(
        "/files/upload", files={"file": ("example.pdf", PDF, "application/pdf")}, data={"user": USER}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _prepare(server: LiveServer, tmp: Path) -> dict[str, App]:
    """One App per page mode plus the fixture apps, each with its resources."""
    apps: dict[str, App] = {}
    dsls = {name: FIXTURE_APPS / f"{name}.yml" for name in ("docs-review-workflow", "docs-review-chatflow")}
    dsls["voice"] = VOICE_APP
    for name, path in dsls.items():
        done = run_cli("apps", "import", str(path), "--data-dir", str(server.data_dir))
        assert done.returncode == 0, done.stderr
        key = re.search(r"key: (\S+)", done.stdout)
        assert key, done.stdout
        apps[name] = App(key.group(1))
    for mode in MODES:
        apps[mode] = App(server.keys[mode])
    for app in apps.values():
        with _api(server, app.key) as c:
            app.inputs = _inputs_from(c.get("/parameters").json())
            mode = c.get("/info").json()["mode"]
            app.ids[FILE] = _upload(c, tmp)
            if mode in ("chat", "agent-chat", "advanced-chat"):
                answer = _chat(c, {"query": "Hello", "inputs": app.inputs}, streaming=mode != "chat")
                app.ids[CONVERSATION] = answer["conversation_id"]
                app.ids[MESSAGE] = answer.get("message_id") or answer["id"]
                if answer.get("workflow_run_id"):
                    app.ids[RUN] = answer["workflow_run_id"]
                if answer.get("form_token"):
                    app.ids[FORM] = answer["form_token"]
                variables = c.get(f"/conversations/{app.ids[CONVERSATION]}/variables", params={"user": USER})
                data = variables.json().get("data") or []
                if data:
                    app.ids[VARIABLE] = data[0]["id"]
                convs = c.get("/conversations", params={"user": USER}).json()["data"]
                messages = c.get("/messages", params={"user": USER, "conversation_id": convs[0]["id"]})
                assert messages.status_code == 200, messages.text
            if mode == "completion":
                body = {"inputs": app.inputs, "response_mode": "blocking", "user": USER}
                made = c.post("/completion-messages", json=body)
                assert made.status_code == 200, made.text
                app.ids[MESSAGE] = made.json()["message_id"]
            if mode == "workflow":
                body = {"inputs": app.inputs, "response_mode": "blocking", "user": USER}
                run = c.post("/workflows/run", json=body).json()
                app.ids[RUN] = run["workflow_run_id"]
                app.ids[WORKFLOW] = run["data"]["workflow_id"]
                if run["data"]["status"] == "paused":
                    app.ids[FORM] = _form_token(c, run["workflow_run_id"])
            logs = c.get("/workflows/logs") if mode in ("workflow", "advanced-chat") else None
            if logs is not None and logs.status_code == 200 and logs.json()["data"]:
                app.ids[END_USER] = logs.json()["data"][0]["created_by_end_user"]["id"]
            if END_USER not in app.ids and MESSAGE in app.ids:
                feedback = c.post(
                    f"/messages/{app.ids[MESSAGE]}/feedbacks", json={"rating": "like", "user": USER}
                )
                assert feedback.status_code == 200, feedback.text
                rows = c.get("/app/feedbacks").json()["data"]
                app.ids[END_USER] = rows[0]["from_end_user_id"]
            if mode in ("chat", "agent-chat", "advanced-chat"):
                created = c.post("/apps/annotations", json={"question": "Q?", "answer": "A."})
                assert created.status_code in (200, 201), created.text
                app.ids[ANNOTATION] = created.json()["id"]
                job = c.post(
                    "/apps/annotation-reply/enable",
                    json={
                        "score_threshold": 0.9,
                        "embedding_provider_name": "openai",
                        "embedding_model_name": "text-embedding-3-small",
                    },
                )
                if job.status_code == 200:
                    app.ids[JOB] = job.json()["job_id"]
    # A file is previewable once a message carries it: attach an uploaded image to a message.
    voice = apps["voice"]
    with _api(server, voice.key) as c:
        files = {"file": ("harbour.png", PNG, "image/png")}
        upload = c.post("/files/upload", files=files, data={"user": USER})
        assert upload.status_code == 201, upload.text
        image = {"type": "image", "transfer_method": "local_file", "upload_file_id": upload.json()["id"]}
        _chat(c, {"query": "What is this?", "files": [image]}, streaming=False)
        voice.ids[FILE] = upload.json()["id"]
    return apps


def _form_token(client: httpx.Client, run_id: str) -> str:
    with client.stream("GET", f"/workflow/{run_id}/events", params={"user": USER}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event.get("event") == "human_input_required":
                    return str(event["data"]["form_token"])
    raise AssertionError("the run did not ask for a form")


# Which app a sample runs against when it is not the page mode's demo app, and why.
APP_FOR: dict[str, str] = {
    # Human-input forms need a run paused on a form with the field and action of the example.
    "getChatflowHumanInputForm": "docs-review-{kind}",
    "submitChatflowHumanInputForm": "docs-review-{kind}",
    # Conversation variables exist in chatflows only; the demo chatflow declares none.
    "updateChatConversationVariable": "docs-review-chatflow",
    "getConversationVariables": "docs-review-chatflow",
    # Speech, suggested questions and previews of message files need an app with these features
    # switched on (the demo apps keep them off).
    "audioToText": "voice",
    "textToAudioChat": "voice",
    "getSuggestedQuestions": "voice",
    "previewChatFile": "voice",
}
# Samples that use up what they name get a fresh one for every run.
FRESH: dict[str, Callable[[httpx.Client, App, Path], dict[str, str]]] = {}


def _fresh(op: str) -> Callable[[Callable[[httpx.Client, App, Path], dict[str, str]]], Any]:
    def register(fn: Callable[[httpx.Client, App, Path], dict[str, str]]) -> Any:
        FRESH[op] = fn
        return fn

    return register


@_fresh("deleteConversation")
def _new_conversation(c: httpx.Client, app: App, tmp: Path) -> dict[str, str]:
    mode = c.get("/info").json()["mode"]
    answer = _chat(c, {"query": "Bye", "inputs": app.inputs}, streaming=mode != "chat")
    return {CONVERSATION: answer["conversation_id"]}


@_fresh("deleteAnnotation")
def _new_annotation(c: httpx.Client, app: App, tmp: Path) -> dict[str, str]:
    created = c.post("/apps/annotations", json={"question": "Old?", "answer": "Gone."})
    return {ANNOTATION: created.json()["id"]}


@_fresh("submitChatflowHumanInputForm")
def _new_form(c: httpx.Client, app: App, tmp: Path) -> dict[str, str]:
    mode = c.get("/info").json()["mode"]
    if mode == "workflow":
        run = c.post("/workflows/run", json={"inputs": {}, "response_mode": "blocking", "user": USER}).json()
        return {FORM: _form_token(c, run["workflow_run_id"])}
    answer = _chat(c, {"query": "Review please"}, streaming=True)
    return {FORM: answer["form_token"]}


def _boxes(server: LiveServer) -> Iterator[Box]:
    origin = server.base_url.removesuffix("/v1")
    with httpx.Client(timeout=60) as client:
        for lang in LANGS:
            for mode in MODES:
                page = client.get(f"{origin}/docs/{lang}/{mode}.html")
                assert page.status_code == 200
                for match in _BOX.finditer(page.text):
                    block = match.group(0)
                    shown = {name: html.unescape(text) for name, text in _CODE.findall(block)}
                    model_text = _MODEL.search(block)
                    assert model_text is not None
                    model = json.loads(model_text.group(1))
                    yield Box(lang, mode, match.group(1), match.group(2), model, shown)


def _substitute(model: dict[str, Any], ids: dict[str, str], inputs: dict[str, Any]) -> RequestModel:
    text = json.dumps(model, ensure_ascii=False)
    for old, new in ids.items():
        text = text.replace(old, new)
    data = json.loads(text)
    body = data.get("json_body")
    if isinstance(body, dict) and "inputs" in body and not body.get("conversation_id") and FORM not in text:
        body["inputs"] = inputs
    return RequestModel(**data)


def _run(lang: str, text: str, key: str, shared: Path) -> subprocess.CompletedProcess[str]:
    """Runs one sample in a folder of its own holding copies of the shared input files.

    Samples run side by side: one that downloads `speech.mp3` must not rewrite the file another
    is uploading (Node's `openAsBlob` fails a read when the file changes under it)."""
    cwd = Path(tempfile.mkdtemp(prefix="sample-", dir=shared))
    for item in shared.iterdir():
        if item.is_file() and item.suffix in {".pdf", ".mp3"}:
            shutil.copyfile(item, cwd / item.name)
    env = {"PATH": "/usr/bin:/bin", "DIFY_API_KEY": key, "HOME": str(cwd)}
    if lang == "curl":
        cmd = ["bash", "-c", text]
    elif lang == "python":
        cmd = [sys.executable, "-c", text]
    else:
        script = cwd / f"sample-{abs(hash(text))}.mjs"
        script.write_text(text)
        cmd = [shutil.which("node") or "node", str(script)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=90)


async def _transcriptions(request: Request) -> Response:
    async with request.form() as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return JSONResponse({"error": {"message": "file is required"}}, 400)
        return JSONResponse({"text": f"heard {len(await upload.read())} bytes"})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo server; speech to text goes to a fake OpenAI-compatible transcription endpoint."""
    routes = [Route("/v1/audio/transcriptions", _transcriptions, methods=["POST"])]
    with running_fake_openai(routes) as (base, _received):
        env = {"OPENAI_API_BASE": base, "OPENAI_API_KEY": "sk-docs"}
        live = start_server(tmp_path_factory.mktemp("docs-samples"), env=env, docs=True)
        try:
            yield live
        finally:
            live.stop()


_FENCE = re.compile(r'<pre class="code"><code class="lang-(python|javascript)">(.*?)</code></pre>', re.S)


@pytest.mark.timeout(300)
def test_the_streaming_guides_parser_reads_every_mode(server: LiveServer, tmp_path: Path) -> None:
    """The parser of the streaming guide (Python and JavaScript, every language's page) reads a
    real stream of each generation mode to its terminal event."""
    origin = server.base_url.removesuffix("/v1")
    calls = {
        "chat": ("/chat-messages", {"query": "Hi"}),
        "agent-chat": ("/chat-messages", {"query": "Hi"}),
        "completion": ("/completion-messages", {}),
        "workflow": ("/workflows/run", {}),
    }
    terminal = {"chat": "message_end", "agent-chat": "message_end", "completion": "message_end"}
    for lang in LANGS:
        page = httpx.get(f"{origin}/docs/{lang}/streaming.html", timeout=30).text
        blocks = {kind: html.unescape(code) for kind, code in _FENCE.findall(page)}
        assert set(blocks) == {"python", "javascript"}, lang
        for mode, (path, extra) in calls.items():
            with _api(server, server.keys[mode]) as c:
                inputs = _inputs_from(c.get("/parameters").json())
            body = json.dumps({"inputs": inputs, "user": USER, "response_mode": "streaming", **extra})
            url = server.base_url + path
            python = blocks["python"] + (
                f"\n\nimport os\nbody = json.loads({body!r})\n"
                f"for e in events({url!r}, os.environ['DIFY_API_KEY'], body):\n"
                "    print(e['event'])\n"
            )
            node = blocks["javascript"] + (
                f"\n\nfor await (const e of events({json.dumps(url)}, process.env.DIFY_API_KEY, {body})) "
                "console.log(e.event);\n"
            )
            for kind, text in (("python", python), ("javascript", node)):
                done = _run(kind, text, server.keys[mode], tmp_path)
                assert done.returncode == 0, f"{lang} {mode} {kind}: {done.stderr[-800:]}"
                printed = done.stdout.split()
                assert printed and printed[-1] == terminal.get(mode, "workflow_finished"), (
                    kind,
                    mode,
                    printed,
                )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_sample_of_every_page_runs(server: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "example.pdf").write_bytes(PDF)
    (tmp_path / "speech.mp3").write_bytes(MP3)
    apps = _prepare(server, tmp_path)
    boxes = list(_boxes(server))
    assert {(b.lang, b.mode) for b in boxes} == {(lang, mode) for lang in LANGS for mode in MODES}
    jobs: dict[tuple[str, str, str], tuple[Box, str, str]] = {}
    for box in boxes:
        request = RequestModel(**box.model)
        for name, gen in GENERATORS.items():
            assert box.shown[name] == gen(request), f"{box.lang}/{box.mode} {box.op} {name}"
        kind = "workflow" if box.mode == "workflow" else "chatflow"
        app = apps[APP_FOR.get(box.op, box.mode).format(kind=kind)]
        for name, gen in GENERATORS.items():
            ids = dict(app.ids)
            if box.op in FRESH:  # one of its own for every sample that uses it up
                with _api(server, app.key) as c:
                    ids.update(FRESH[box.op](c, app, tmp_path))
            text = gen(_substitute(box.model, ids, app.inputs))
            jobs.setdefault((name, text, app.key), (box, name, text))

    def execute(job: tuple[Box, str, str], key: str) -> str | None:
        box, name, text = job
        done = _run(name, text, key, tmp_path)
        where = f"{box.lang}/{box.mode}.html#{box.op} {box.variant or ''} {name}"
        if done.returncode != 0:
            return f"{where}: exit {done.returncode}\n{done.stdout[-600:]}\n{done.stderr[-600:]}"
        if json.loads(RequestModel(**box.model).to_json())["streaming"]:
            printed = set(re.findall(r'"event":\s*"(\w+)"|^(\w+) \{', done.stdout, re.M))
            names = {a or b for a, b in printed}
            if not names & TERMINAL:
                return f"{where}: the stream printed no terminal event:\n{done.stdout[-600:]}"
        return None

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda item: execute(item[1], item[0][2]), jobs.items()))
    failures = [r for r in results if r]
    artifacts = REPO / "test-artifacts" / "docs"
    artifacts.mkdir(parents=True, exist_ok=True)
    pages = len(LANGS) * len(MODES)
    summary = f"{len(boxes)} sample boxes on {pages} pages; {len(jobs)} distinct samples run"
    (artifacts / "samples-run.txt").write_text(summary + "\n\n" + "\n\n".join(failures))
    assert not failures, f"{len(failures)} of {len(jobs)} samples failed:\n\n" + "\n\n".join(failures)
