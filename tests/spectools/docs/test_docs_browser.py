"""Headless Chromium (Debian `chromium`, driven by Playwright) on the docs served over uvicorn.

Opens pages in each language, follows the navigation and the language switch, checks that
the in-page sample generators match the server-rendered samples, and loads an app's input
variables through the key box.  Screenshots go to `test-artifacts/docs/` (git-ignored).
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from conftest import DOCS, ROOT, SPEC
from playwright.sync_api import sync_playwright

from spectools.docs import docs_asgi_app
from spectools.docs.spec import load_bundle

ARTIFACTS = ROOT / "test-artifacts" / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _example(operation_id: str) -> Any:
    op = load_bundle(SPEC).operation(operation_id)
    assert op is not None, operation_id
    return op.node["responses"]["200"]["content"]["application/json"]["example"]


class _Api:
    """Answers `/v1/parameters` and `/v1/info` with the spec's examples; records requests."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.bodies = {
            "/v1/parameters": _example("getChatAppParameters"),
            "/v1/info": _example("getChatAppInfo"),
        }

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append(
            (scope["path"] + "?" + scope["query_string"].decode(), headers.get("authorization", ""))
        )
        cors = [(b"access-control-allow-origin", b"*"), (b"access-control-allow-headers", b"authorization")]
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": cors})
            await send({"type": "http.response.body", "body": b""})
            return
        body = json.dumps(self.bodies.get(scope["path"], {"code": "not_found"})).encode()
        status = 200 if scope["path"] in self.bodies else 404
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *cors],
            }
        )
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, _Api]]:
    docs = docs_asgi_app(SPEC, DOCS)
    api = _Api()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/docs"):
            await docs({**scope, "root_path": "/docs"}, receive, send)
        elif scope["type"] == "http":
            await api(scope, receive, send)
        else:
            await docs(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    try:
        yield f"http://127.0.0.1:{port}", api
    finally:
        srv.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.mark.timeout(60)
def test_pages_navigation_language_switch_and_key_box(server: tuple[str, _Api]) -> None:
    base, api = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chat_ops = [op.operation_id for op in load_bundle(SPEC).operations_for("chat")]
    errors: list[str] = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        ctx = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
            timeout=20_000,
        )
        ctx.set_default_timeout(10_000)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        for lang in ("en", "zh", "ja"):
            page.goto(f"{base}/docs/{lang}/index.html")
            assert page.locator("html").get_attribute("lang", timeout=5_000)
            page.screenshot(path=str(ARTIFACTS / f"{lang}-index.png"))
            page.locator(".sidebar a[href='chat.html']").first.click()
            page.wait_for_url(f"{base}/docs/{lang}/chat.html")
            ids = page.eval_on_selector_all("section.op", "els => els.map(e => e.id)")
            assert ids == chat_ops
            # The base URL of the samples is the one the page was served from.
            assert (
                f"{base}/v1/chat-messages"
                in page.locator("#sendChatMessage [data-sample='curl']").inner_text()
            )
            page.screenshot(path=str(ARTIFACTS / f"{lang}-chat.png"))
            page.locator(".sidebar a[href='workflow.html']").first.click()
            page.wait_for_url(f"{base}/docs/{lang}/workflow.html")
            page.locator(".sidebar a[href='streaming.html']").first.click()
            page.wait_for_url(f"{base}/docs/{lang}/streaming.html")
            page.screenshot(path=str(ARTIFACTS / f"{lang}-streaming.png"))

        page.goto(f"{base}/docs/en/chat.html")
        page.locator(".langs a[hreflang='ja']").click()
        page.wait_for_url(f"{base}/docs/ja/chat.html")
        assert page.locator("html").get_attribute("lang") == "ja"
        page.locator(".langs a[hreflang='zh']").click()
        page.wait_for_url(f"{base}/docs/zh/chat.html")
        assert page.locator("html").get_attribute("lang") == "zh-Hans"

        # The browser's sample generators are the twins of the server's.
        mismatches = page.evaluate("""() => {
          const out = [];
          document.querySelectorAll('.samples').forEach(box => {
            const model = JSON.parse(box.querySelector('.sample-model').textContent);
            for (const [name, gen] of Object.entries(window.difyDocs.generators)) {
              const shown = box.querySelector(`[data-sample="${name}"]`).textContent;
              if (gen(model) !== shown) out.push(box.dataset.op + ':' + name);
            }
          });
          return out;
        }""")
        assert mismatches == []

        # Tabs switch panels.
        page.locator("#sendChatMessage [data-tab='python']").click()
        assert page.locator("#sendChatMessage [data-panel='python']").is_visible()
        assert not page.locator("#sendChatMessage [data-panel='curl']").is_visible()

        key = "app-docs-browser-test-key"
        page.fill("#app-key", key)
        page.click("#app-key-load")
        page.wait_for_function("document.getElementById('app-key-status').textContent.length > 2")
        curl = page.locator("#sendChatMessage [data-sample='curl']").inner_text()
        assert '"pace": "relaxed"' in curl and '"city": "City"' in curl
        assert key not in curl
        example = json.loads(page.locator("#sendChatMessage-request-example code").inner_text())
        assert example["inputs"] == {"city": "City", "pace": "relaxed"}
        page.locator("#sendChatMessage").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "zh-chat-inputs-loaded.png"))
        ctx.close()
    assert errors == []
    get_requests = [(u, a) for u, a in api.seen if u.startswith(("/v1/parameters", "/v1/info"))]
    assert ("/v1/parameters?", f"Bearer {key}") in get_requests
    assert all(key not in u for u, _ in api.seen)
