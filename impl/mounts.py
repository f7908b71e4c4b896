"""Sites served beside the API: the developer docs at `/docs`."""

from __future__ import annotations

from typing import cast

from starlette.types import ASGIApp, Receive, Scope, Send

from impl.config import REPO_ROOT

DOCS_PREFIX = "/docs"


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


def docs_app() -> ASGIApp:
    """The developer docs, rendered per request with the server's own base URL in samples."""
    from impl.docs import docs_asgi_app

    return cast(ASGIApp, docs_asgi_app(REPO_ROOT / "spec", REPO_ROOT / "docs"))
