"""Headless Chromium (Debian `chromium`, driven by Playwright) on the docs the reference server
serves at `/docs`, at 1400 px and at 400 px.

Checks what a reader does: follows the navigation, searches, switches language (the anchor
stays), pastes an app key (the samples take the app's input variables) and tries a streaming
request (the stream shows up in the page); and that no page scrolls sideways at either width.
Screenshots go to `test-artifacts/docs/` (git-ignored).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator

import pytest
from _docs_paths import ROOT, SPEC
from playwright.sync_api import BrowserContext, Page, sync_playwright
from support.server import LiveServer, start_server

from spectools.docs.catalog import LANGS
from spectools.docs.pages import PAGES
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
SIDEWAYS = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("docs-browser"), docs=True)
    try:
        yield live
    finally:
        live.stop()


def _context(pw: object, profile: str, width: int) -> BrowserContext:
    ctx: BrowserContext = pw.chromium.launch_persistent_context(  # type: ignore[attr-defined]
        profile,
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": width, "height": 1000 if width > 600 else 860},
        timeout=20_000,
    )
    ctx.set_default_timeout(15_000)
    return ctx


def _shot(page: Page, name: str, full: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full)


@pytest.mark.timeout(240)
def test_reader_at_1400px(server: LiveServer) -> None:
    origin = server.base_url.removesuffix("/v1")
    docs = f"{origin}/docs"
    chat_ops = [op.operation_id for op in load_bundle(SPEC).operations_for("chat")]
    errors: list[str] = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        ctx = _context(pw, profile, 1400)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        for lang in LANGS:
            page.goto(f"{docs}/{lang}/index.html")
            _shot(page, f"1400-{lang}-index")
            page.locator(".sidebar a[href='chat.html']").first.click()
            page.wait_for_url(f"{docs}/{lang}/chat.html")
            assert page.eval_on_selector_all("section.op", "els => els.map(e => e.id)") == chat_ops
            curl = page.locator("#sendChatMessage-blocking [data-sample='curl']").inner_text()
            assert f"{server.base_url}/chat-messages" in curl
            _shot(page, f"1400-{lang}-chat")
            page.locator(".sidebar a[href='streaming.html']").first.click()
            page.wait_for_url(f"{docs}/{lang}/streaming.html")
            assert page.locator("#wire pre").first.inner_text().count("event: ping") == 1
            _shot(page, f"1400-{lang}-streaming")
            for name in PAGES:
                page.goto(f"{docs}/{lang}/{name}.html")
                assert page.evaluate(SIDEWAYS) <= 0, f"{lang}/{name} scrolls sideways at 1400 px"

        # The browser's sample generators are the twins of the renderer's.
        page.goto(f"{docs}/en/chat.html")
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
        page.locator("#sendChatMessage-blocking [data-tab='python']").click()
        assert page.locator("#sendChatMessage-blocking [data-panel='python']").is_visible()
        assert not page.locator("#sendChatMessage-blocking [data-panel='curl']").is_visible()

        # The language switch keeps the anchor.
        page.goto(f"{docs}/en/chat.html#getConversationsList")
        page.locator(".langs a[hreflang='ja']").click()
        page.wait_for_url(f"{docs}/ja/chat.html#getConversationsList")
        assert page.locator("html").get_attribute("lang") == "ja"
        page.locator(".langs a[hreflang='zh']").click()
        page.wait_for_url(f"{docs}/zh/chat.html#getConversationsList")

        # Search over every page of the language, offline (the index ships with the site).
        page.fill("#search", "ping")
        page.wait_for_selector("#search-results a")
        _shot(page, "1400-zh-search")
        page.fill("#search", "人工介入")
        hits = page.eval_on_selector_all("#search-results a", "as => as.map(a => a.getAttribute('href'))")
        assert hits and any(h.startswith(("workflow.html", "advanced-chat.html")) for h in hits), hits
        page.goto(f"{docs}/en/index.html")
        page.fill("#search", "rename conversation")
        first = page.locator("#search-results a").first
        assert first.get_attribute("href") == "chat.html#renameConversation"
        page.keyboard.press("Enter")
        page.wait_for_url(f"{docs}/en/chat.html#renameConversation")

        # A pasted key fills the samples with the app's input variables.
        key = server.keys["chat"]
        page.fill("#app-key", key)
        page.click("#app-key-load")
        page.wait_for_function("document.getElementById('app-key-status').textContent.length > 2")
        curl = page.locator("#sendChatMessage-blocking [data-sample='curl']").inner_text()
        assert '"inputs": {\n    "name": "Your name"\n  }' in curl and key not in curl

        # Try it: the streaming request runs with the pasted key and the stream shows up live.
        panel = page.locator("details.try[data-op='sendChatMessage']")
        panel.locator("summary").click()
        assert "streaming" in panel.locator(".try-body").input_value()
        panel.locator(".try-send").click()
        page.wait_for_function(
            "document.querySelector(\"details.try[data-op='sendChatMessage'] .try-out\")"
            ".textContent.includes('message_end')",
            timeout=30_000,
        )
        out = panel.locator(".try-out").inner_text()
        assert out.count("data: ") >= 2 and re.search(r'"event": ?"message"', out)
        assert panel.locator(".try-status").inner_text().startswith("200 text/event-stream")
        panel.scroll_into_view_if_needed()
        _shot(page, "1400-en-chat-try-it")
        ctx.close()
    assert errors == []


@pytest.mark.timeout(240)
def test_reader_at_400px(server: LiveServer) -> None:
    docs = server.base_url.removesuffix("/v1") + "/docs"
    errors: list[str] = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        ctx = _context(pw, profile, 400)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        for lang in LANGS:
            for name in PAGES:
                page.goto(f"{docs}/{lang}/{name}.html")
                assert page.evaluate(SIDEWAYS) <= 0, f"{lang}/{name} scrolls sideways at 400 px"
            page.goto(f"{docs}/{lang}/workflow.html")
            # The navigation is collapsed: the title is the first thing a reader sees.
            assert not page.locator("#sidebar").is_visible()
            title_top = page.locator("h1").bounding_box()
            assert title_top is not None and title_top["y"] < 200
            _shot(page, f"400-{lang}-workflow")
            page.click(".menu-toggle")
            assert page.locator("#sidebar").is_visible()
            assert page.get_attribute(".menu-toggle", "aria-expanded") == "true"
            _shot(page, f"400-{lang}-menu")
            page.locator("#sidebar a[href='#executeWorkflow']").click()
            page.wait_for_url(f"{docs}/{lang}/workflow.html#executeWorkflow")
            assert not page.locator("#sidebar").is_visible()
            assert page.evaluate(SIDEWAYS) <= 0
            _shot(page, f"400-{lang}-workflow-operation")
        page.goto(f"{docs}/ja/streaming.html")
        page.fill("#search", "ストリーム")
        page.wait_for_selector("#search-results a")
        assert page.evaluate(SIDEWAYS) <= 0
        _shot(page, "400-ja-search")
        ctx.close()
    assert errors == []
