"""Code samples (curl, Python httpx, JavaScript for Node.js) generated from one request model.

`static/docs.js` carries a line-for-line twin of these generators so that the page can
rebuild the samples in the browser (with the reader's app input variables); the Chromium
test checks that both produce the same text, and `tests/spectools/docs/test_samples_run.py`
runs every sample of every page against the reference server.

Each sample does what a reader needs from that answer: streams are read as they arrive (curl
`-N`, httpx `iter_lines`, a `fetch` stream reader) and print each event; JSON answers are
printed; audio and file downloads are written to a file.  Every sample fails loudly on an HTTP
error (curl `--fail-with-body`, `raise_for_status()`, a thrown `Error`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

KEY_ENV = "DIFY_API_KEY"
RESPONSE_KINDS = ("json", "sse", "binary", "empty")


@dataclass
class RequestModel:
    """What a sample sends and how it reads the answer, serializable to JSON."""

    method: str
    base_url: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    json_body: Any = None
    # [name, value, "file"|"text", content type of a file part or ""]
    form: list[list[str]] = field(default_factory=list)
    streaming: bool = False
    response: str = "json"  # one of RESPONSE_KINDS
    output: str = ""  # file name a binary answer is written to

    @property
    def url(self) -> str:
        url = self.base_url.rstrip("/") + self.path
        if self.query:
            url += "?" + urlencode({k: _query_value(v) for k, v in self.query.items()})
        return url

    def to_json(self) -> str:
        """JSON safe to embed in a `<script type="application/json">` element."""
        text = json.dumps(asdict(self), ensure_ascii=False)
        return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def fill_path(path: str, values: dict[str, Any]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    return path


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def curl(req: RequestModel) -> str:
    lines = [f"curl {'-N ' if req.streaming else ''}--fail-with-body -X {req.method} {_sh(req.url)}"]
    lines.append(f'-H "Authorization: Bearer ${KEY_ENV}"')
    if req.json_body is not None:
        lines.append("-H 'Content-Type: application/json'")
        lines.append("-d " + _sh(json.dumps(req.json_body, ensure_ascii=False, indent=2)))
    for name, value, kind, ctype in req.form:
        if kind == "file":
            lines.append("-F " + _sh(f"{name}=@{value}" + (f";type={ctype}" if ctype else "")))
        else:
            lines.append("-F " + _sh(f"{name}={value}"))
    if req.response == "binary":
        lines.append("-o " + _sh(req.output))
    return " \\\n  ".join(lines)


def py_literal(value: Any, indent: int = 0) -> str:
    pad = "    " * (indent + 1)
    end = "    " * indent
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + "".join(f"{pad}{py_literal(v, indent + 1)},\n" for v in value) + end + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = "".join(
            f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {py_literal(v, indent + 1)},\n"
            for k, v in value.items()
        )
        return "{\n" + items + end + "}"
    return json.dumps(str(value))


def python(req: RequestModel) -> str:
    url = req.base_url.rstrip("/") + req.path
    args = [
        f"    {json.dumps(url, ensure_ascii=False)},",
        '    headers={"Authorization": f"Bearer {API_KEY}"},',
    ]
    if req.query:
        args.append(f"    params={py_literal({k: _query_value(v) for k, v in req.query.items()}, 1)},")
    if req.json_body is not None:
        args.append(f"    json={py_literal(req.json_body, 1)},")
    files = [(n, v, t) for n, v, k, t in req.form if k == "file"]
    data = {n: v for n, v, k, _ in req.form if k != "file"}
    if files:

        def part(n: str, v: str, t: str) -> str:
            path = json.dumps(v, ensure_ascii=False)
            opened = f'open({path}, "rb")'
            value = f"({path}, {opened}, {json.dumps(t)})" if t else opened
            return f"{json.dumps(n)}: {value}"

        inner = ", ".join(part(n, v, t) for n, v, t in files)
        args.append(f"    files={{{inner}}},")
    if data:
        args.append(f"    data={py_literal(data, 1)},")
    head = (["import json"] if req.streaming else []) + [
        "import os",
        "",
        "import httpx",
        "",
        f"API_KEY = os.environ[{json.dumps(KEY_ENV)}]",
        "",
    ]
    if req.streaming:
        body = [
            "with httpx.stream(",
            f"    {json.dumps(req.method)},",
            *args,
            "    timeout=None,",
            ") as response:",
            "    response.raise_for_status()",
            "    for line in response.iter_lines():",
            '        if line.startswith("data: "):  # skips the keep-alive "event: ping"',
            '            event = json.loads(line[len("data: "):])',
            '            print(event["event"], event)',
        ]
        return "\n".join(head + body)
    if req.method in ("GET", "POST", "PUT", "PATCH", "DELETE") and not (
        req.method == "DELETE" and req.json_body is not None
    ):
        call = [f"response = httpx.{req.method.lower()}(", *args]
    else:
        call = ["response = httpx.request(", f"    {json.dumps(req.method)},", *args]
    call += ["    timeout=60,", ")", "response.raise_for_status()"]
    if req.response == "binary":
        call += [f'with open({json.dumps(req.output)}, "wb") as out:', "    out.write(response.content)"]
    elif req.response == "empty":
        call.append("print(response.status_code)")
    else:
        call.append("print(response.json())")
    return "\n".join(head + call)


def javascript(req: RequestModel) -> str:
    url = req.base_url.rstrip("/") + req.path
    lines: list[str] = []
    if any(kind == "file" for _, _, kind, _ in req.form):
        lines.append('import { openAsBlob } from "node:fs";')
    if req.response == "binary":
        lines.append('import { writeFile } from "node:fs/promises";')
    if lines:
        lines.append("")
    if req.form:
        lines.append("const form = new FormData();")
        for name, value, kind, ctype in req.form:
            v = json.dumps(value, ensure_ascii=False)
            if kind == "file":
                opts = f", {{ type: {json.dumps(ctype)} }}" if ctype else ""
                lines.append(f"form.append({json.dumps(name)}, await openAsBlob({v}{opts}), {v});")
            else:
                lines.append(f"form.append({json.dumps(name)}, {v});")
    target = json.dumps(url, ensure_ascii=False)
    if req.query:
        q = json.dumps({k: _query_value(v) for k, v in req.query.items()}, ensure_ascii=False, indent=2)
        lines.append(f"const params = new URLSearchParams({q});")
        target = f"`{url}?${{params}}`"
    lines.append(f"const response = await fetch({target}, {{")
    lines.append(f"  method: {json.dumps(req.method)},")
    lines.append("  headers: {")
    lines.append(f"    Authorization: `Bearer ${{process.env.{KEY_ENV}}}`,")
    if req.json_body is not None:
        lines.append('    "Content-Type": "application/json",')
    lines.append("  },")
    if req.json_body is not None:
        body = json.dumps(req.json_body, ensure_ascii=False, indent=2).replace("\n", "\n  ")
        lines.append(f"  body: JSON.stringify({body}),")
    elif req.form:
        lines.append("  body: form,")
    lines.append("});")
    lines.append("if (!response.ok) throw new Error(`${response.status}: ${await response.text()}`);")
    if req.streaming:
        lines += [
            "const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();",
            'let buffer = "";',
            "for (;;) {",
            "  const { value, done } = await reader.read();",
            "  if (done) break;",
            "  buffer += value;",
            '  const frames = buffer.split("\\n\\n");',
            "  buffer = frames.pop();",
            "  for (const frame of frames) {",
            '    if (!frame.startsWith("data: ")) continue; // e.g. the keep-alive "event: ping"',
            "    const event = JSON.parse(frame.slice(6));",
            "    console.log(event.event, event);",
            "  }",
            "}",
        ]
    elif req.response == "binary":
        lines.append(f"await writeFile({json.dumps(req.output)}, Buffer.from(await response.arrayBuffer()));")
    elif req.response == "empty":
        lines.append("console.log(response.status);")
    else:
        lines.append("console.log(await response.json());")
    return "\n".join(lines)


GENERATORS = {"curl": curl, "python": python, "javascript": javascript}


def sse_text(events: list[Any]) -> str:
    """A stream body as it travels: one `data: <json>` frame per event, blank-line separated."""
    return "".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events)
