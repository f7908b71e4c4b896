"""The developer docs served by the reference server at /docs, and the `docs` CLI commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from support.server import LiveServer

ROOT = Path(__file__).resolve().parents[2]


def _origin(server: LiveServer) -> str:
    return server.base_url.removesuffix("/v1")


def test_bare_docs_path_redirects_to_the_site(live_server: LiveServer) -> None:
    r = httpx.get(_origin(live_server) + "/docs", follow_redirects=False, timeout=10)
    assert r.status_code == 308
    assert r.headers["location"] == "/docs/"


def test_docs_pages_use_the_servers_own_base_url(live_server: LiveServer) -> None:
    origin = _origin(live_server)
    r = httpx.get(origin + "/docs/en/chat.html", timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert live_server.base_url in r.text
    assert "sendChatMessage" in r.text
    zh = httpx.get(origin + "/docs/zh/chat.html", timeout=30)
    assert zh.status_code == 200 and 'lang="zh' in zh.text


def test_api_routes_are_untouched_by_the_docs_mount(live_server: LiveServer) -> None:
    r = httpx.get(live_server.base_url + "/", timeout=10)
    assert r.status_code == 200 and r.json()["api_version"] == "v1"
    r = httpx.get(_origin(live_server) + "/docsx", timeout=10)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_cli_builds_the_static_site(tmp_path: Path) -> None:
    out = tmp_path / "site"
    cmd = [sys.executable, "-m", "impl.cli", "docs", "build", "--lang", "en", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (out / "en" / "workflow.html").is_file()
    assert (out / "en" / "completion.md").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "impl.cli", "docs", "build", "--lang", "xx", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "xx" in bad.stderr


def test_the_server_only_serves_a_built_site(tmp_path: Path) -> None:
    """`impl.mounts` serves files; it never renders: no site, a clear 404; no way out of the site."""
    import asyncio

    from impl.mounts import static_site_app

    async def get(app: object, path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://docs.test") as client:
            return await client.get(path)

    site = tmp_path / "site"
    missing = asyncio.run(get(static_site_app(site), "/en/index.html"))
    assert missing.status_code == 404 and "dify-docs build" in missing.json()["message"]
    (site / "en").mkdir(parents=True)
    (site / "en" / "index.html").write_text("<p>built</p>")
    (tmp_path / "secret.txt").write_text("outside")
    app = static_site_app(site)
    page = asyncio.run(get(app, "/en/index.html"))
    assert page.status_code == 200 and page.text == "<p>built</p>"
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert asyncio.run(get(app, "/")).headers["location"] == "/en/index.html"
    assert asyncio.run(get(app, "/en")).headers["location"] == "/en/index.html"
    assert asyncio.run(get(app, "/../secret.txt")).status_code == 404
    assert asyncio.run(get(app, "/en/%2e%2e/%2e%2e/secret.txt")).status_code == 404


def test_serve_renders_the_site_into_the_data_dir_once(live_server: LiveServer) -> None:
    site = live_server.data_dir / "docs-site"
    assert (site / "ja" / "workflow.html").is_file()
    stamp = (site / ".built-from").read_text()
    assert len(stamp) == 64
