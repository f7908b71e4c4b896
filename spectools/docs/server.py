"""A plain ASGI app that serves the docs site, rendered per request base URL.

Pages are rendered on first request and cached per (base URL, language, page, format); the
cache is dropped when a file under `spec/` or `docs/` changes, so an edited spec shows up on
the next reload.  It needs nothing but the standard library and the renderer.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from spectools.docs.catalog import LANGS
from spectools.docs.pages import PAGES
from spectools.docs.render import Site

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_TYPES = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8"}


def default_base_url(scope: Scope) -> str:
    """`<scheme>://<Host header>/v1`: the Service API of the server that serves the docs."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    scheme = headers.get("x-forwarded-proto") or scope.get("scheme", "http")
    return f"{scheme}://{host}/v1"


def _mtime(*dirs: Path) -> float:
    latest = 0.0
    for d in dirs:
        if d.exists():
            for p in d.rglob("*"):
                if p.is_file():
                    latest = max(latest, p.stat().st_mtime)
    return latest


def docs_asgi_app(
    spec_dir: Path,
    docs_dir: Path,
    base_url_for_request: Callable[[Scope], str] | None = None,
) -> ASGIApp:
    """ASGI app serving `/{lang}/{page}.html|.md`, `/static/*` and `/` (redirect to `en/index.html`).

    Mount it anywhere (for example at `/docs`); links are relative.  `base_url_for_request`
    maps the ASGI scope to the Service API base URL shown in samples and used by the page's
    "load my app's inputs" box; by default `default_base_url`.
    """
    base_for = base_url_for_request or default_base_url
    state: dict[str, Any] = {"site": None, "mtime": -1.0, "cache": {}}

    def site() -> Site:
        mtime = _mtime(spec_dir, docs_dir)
        if state["site"] is None or mtime != state["mtime"]:
            state["site"] = Site.load(spec_dir, docs_dir)
            state["mtime"] = mtime
            state["cache"] = {}
        current: Site = state["site"]
        return current

    async def respond(
        send: Send, status: int, body: bytes, ctype: str, extra: list[tuple[bytes, bytes]]
    ) -> None:
        headers = [
            (b"content-type", ctype.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = str(scope.get("path", "/"))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :]
        if scope.get("method") not in ("GET", "HEAD"):
            await respond(
                send,
                405,
                b'{"code": "method_not_allowed", "message": "Use GET.", "status": 405}',
                "application/json",
                [(b"allow", b"GET, HEAD")],
            )
            return
        parts = [p for p in path.split("/") if p]
        if not parts or parts == ["index.html"]:
            await respond(send, 307, b"", "text/plain", [(b"location", f"{root}/en/index.html".encode())])
            return
        if len(parts) == 2 and parts[0] == "static":
            file = docs_dir / "static" / parts[1]
            if file.is_file() and file.parent == docs_dir / "static":
                ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                if ctype.startswith("text/") or ctype.endswith("javascript"):
                    ctype += "; charset=utf-8"
                await respond(send, 200, file.read_bytes(), ctype, [(b"cache-control", b"no-cache")])
                return
        if len(parts) == 2 and parts[0] in LANGS and parts[1] == "search-index.js":
            key = (base_for(scope), parts[0], "search-index", "js")
            current_site = site()
            cache_js: dict[tuple[str, str, str, str], bytes] = state["cache"]
            if key not in cache_js:
                cache_js[key] = current_site.search_index(parts[0], key[0]).encode("utf-8")
            ctype = "text/javascript; charset=utf-8"
            await respond(send, 200, cache_js[key], ctype, [(b"cache-control", b"no-cache")])
            return
        if len(parts) == 2 and parts[0] in LANGS:
            lang = parts[0]
            page, _, fmt = parts[1].rpartition(".")
            if parts[1] == lang or not page:
                page, fmt = "index", "html"
            if page in PAGES and fmt in _TYPES:
                base = base_for(scope)
                current = site()
                key = (base, lang, page, fmt)
                cache: dict[tuple[str, str, str, str], bytes] = state["cache"]
                if key not in cache:
                    if len(cache) > 512:  # many Host headers: keep memory bounded
                        cache.clear()
                    text, _ = current.render(lang, page, fmt, base)
                    cache[key] = text.encode("utf-8")
                await respond(send, 200, cache[key], _TYPES[fmt], [(b"cache-control", b"no-cache")])
                return
        await respond(
            send,
            404,
            b'{"code": "not_found", "message": "No such docs page.", "status": 404}',
            "application/json",
            [],
        )

    return app
