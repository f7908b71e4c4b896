"""Developer docs rendered from `spec/openapi.yaml`, `spec/events.schema.json` and `docs/`.

The package reads only `spec/` and `docs/` and imports only the standard library, Jinja2
(with its MarkupSafe) and PyYAML; it never imports `impl` or `conformance`.

Public API (for `dify-docs` and `dify-service serve`):

``build_site(spec_dir, docs_dir, out_dir, langs=None, base_url=None) -> list[Path]``
    Writes `out_dir/<lang>/<page>.html` and `.md` for every language in `langs` (default
    `en`, `zh`, `ja`) and every page (`index`, one per app mode: `chat`, `agent-chat`,
    `advanced-chat`, `workflow`, `completion`; one per guide: `authentication`,
    `streaming`, `errors`, `files`, `pagination`, `tracing`, `glossary`), `out_dir/static/*` and a
    root `index.html`.  `base_url` is the Service API base URL shown in samples (default
    `DEFAULT_BASE_URL`), plus `out_dir/<lang>/search-index.js` (the offline search index).
    Returns the written files.  Raises `ValueError` on an unknown
    language.

``check_catalogs(spec_dir, docs_dir) -> list[str]``
    Problems with the translation catalogs `docs/i18n/{zh,ja}.json`: missing, stale (the
    English changed since translation) or unused keys, and translations that drop a
    `` `wire literal` `` of the English.  Empty means every string is translated and fresh.

``check_prose(spec_dir, docs_dir) -> list[str]``
    English left on a zh or ja page (a run of four or more Latin-script words outside code in
    the rendered HTML).  Empty means the translated pages read fully in their language.

``docs_asgi_app(spec_dir, docs_dir, base_url_for_request=None) -> ASGI app``
    Serves the same site, rendered on demand with the base URL of the request
    (`base_url_for_request(scope) -> str`, default `<scheme>://<Host>/v1`), and reloads
    when spec or docs files change.  Mount it at `/docs`; all links are relative.  Each mode
    page has a field where readers paste an app key: the page (not the server) calls
    `<base>/parameters` and `<base>/info` with it and rewrites the samples' `inputs` with the
    app's input variables.  The key never appears in a URL and is not stored.

Catalog tooling: ``python -m spectools.docs.catalog --missing zh | --scaffold zh | --check``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spectools.docs.server import ASGIApp, Scope

# Imported lazily so that `python -m spectools.docs.catalog` runs without a double import.
DEFAULT_BASE_URL = "https://api.dify.ai/v1"


def build_site(
    spec_dir: Path,
    docs_dir: Path,
    out_dir: Path,
    langs: Sequence[str] | None = None,
    base_url: str | None = None,
) -> list[Path]:
    from spectools.docs.render import build_site as _build

    return _build(spec_dir, docs_dir, out_dir, langs, base_url)


def check_catalogs(spec_dir: Path, docs_dir: Path) -> list[str]:
    from spectools.docs.catalog import check_catalogs as _check

    return _check(spec_dir, docs_dir)


def check_prose(spec_dir: Path, docs_dir: Path) -> list[str]:
    from spectools.docs.prose import check_prose as _check

    return _check(spec_dir, docs_dir)


def docs_asgi_app(
    spec_dir: Path,
    docs_dir: Path,
    base_url_for_request: Callable[[Scope], str] | None = None,
) -> ASGIApp:
    from spectools.docs.server import docs_asgi_app as _app

    return _app(spec_dir, docs_dir, base_url_for_request)


def default_base_url(scope: Scope) -> str:
    from spectools.docs.server import default_base_url as _default

    return _default(scope)


__all__ = [
    "DEFAULT_BASE_URL",
    "build_site",
    "check_catalogs",
    "check_prose",
    "default_base_url",
    "docs_asgi_app",
]
