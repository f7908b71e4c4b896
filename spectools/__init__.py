"""Tooling derived from the contract: the developer docs renderer and the spec bundles.

`spectools` reads only `spec/` and `docs/`; it never imports `impl` or `conformance`, and the
server never imports it (only the `dify-service` CLI does, to render the site it mounts).

* `spectools.docs`: the docs site (HTML and Markdown, en/zh/ja) rendered from the spec;
* `spectools.bundle`: `openapi.yaml` as single JSON files (bundled and fully dereferenced);
* `spectools.cli`: the `dify-docs` command (`build`, `check`, `serve`, `bundle`).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def source_dirs() -> tuple[Path, Path]:
    """The spec folder and the docs sources folder the renderer reads.

    Both ship inside the package (`_spec` and `_docs` mirror `spec/` and `docs/` of the
    repository), so an installed server renders its site without a source checkout.
    """
    return PACKAGE_DIR / "_spec", PACKAGE_DIR / "_docs"
