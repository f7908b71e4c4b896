"""Sites served beside the API: the developer docs at `/docs`, as a built static site.

The server never renders the docs: `dify-service serve` has `spectools` build the site into the
data directory (`Settings.docs_site_dir`) before it starts, and this module only serves those
files.  The per-key samples of the mode pages run in the reader's browser (the page calls
`/v1/parameters` with the pasted key), so a static site keeps them working.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

DOCS_PREFIX = "/docs"
_NOT_BUILT = (
    b'{"code": "not_found", "message": "The docs site has not been built: `dify-service serve` builds it, '
    b'or run `dify-docs build --out <data dir>/docs-site`.", "status": 404}'
)
_NOT_FOUND = b'{"code": "not_found", "message": "No such docs page.", "status": 404}'


class PrefixMountMiddleware:
    """Hand requests under `prefix` to `mounted`, with `root_path` extended by the prefix.

    The mounted app sees the full path and strips its `root_path`, as Starlette mounts do.
    A bare `prefix` (no trailing slash) is redirected to `prefix/` so relative links resolve.
    """

    def __init__(self, app: ASGIApp, prefix: str, mounted: ASGIApp) -> None:
        self.app = app
        self.prefix = prefix
        self.mounted = mounted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        if path == self.prefix:
            location = self.prefix + "/"
            await send(
                {
                    "type": "http.response.start",
                    "status": 308,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        child = dict(scope)
        child["root_path"] = str(scope.get("root_path", "")) + self.prefix
        await self.mounted(child, receive, send)


def _content_type(path: Path) -> str:
    if path.suffix == ".md":
        return "text/markdown; charset=utf-8"
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype.endswith(("javascript", "json")):
        ctype += "; charset=utf-8"
    return ctype


async def _respond(
    send: Send, status: int, body: bytes, ctype: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", ctype.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def static_site_app(site_dir: Path) -> ASGIApp:
    """Serve the files of a built docs site (GET and HEAD); `/` redirects to `en/index.html`."""
    root_dir = site_dir.resolve()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = str(scope.get("path", "/"))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :]
        if scope.get("method") not in ("GET", "HEAD"):
            body = b'{"code": "method_not_allowed", "message": "Use GET.", "status": 405}'
            await _respond(send, 405, body, "application/json", [(b"allow", b"GET, HEAD")])
            return
        if not (root_dir / "en" / "index.html").is_file():
            await _respond(send, 404, _NOT_BUILT, "application/json")
            return
        parts = [p for p in path.split("/") if p]
        if not parts or parts == ["index.html"]:
            await _respond(send, 307, b"", "text/plain", [(b"location", f"{root}/en/index.html".encode())])
            return
        if len(parts) == 1 and (root_dir / parts[0] / "index.html").is_file():
            location = f"{root}/{parts[0]}/index.html".encode()
            await _respond(send, 307, b"", "text/plain", [(b"location", location)])
            return
        file = root_dir.joinpath(*parts).resolve()
        if ".." in parts or not file.is_relative_to(root_dir) or not file.is_file():
            await _respond(send, 404, _NOT_FOUND, "application/json")
            return
        await _respond(send, 200, file.read_bytes(), _content_type(file), [(b"cache-control", b"no-cache")])

    return app
