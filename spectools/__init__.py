"""Tooling derived from the contract: the developer docs renderer and the spec bundles.

`spectools` reads only `spec/` and `docs/`; it never imports `impl` or `conformance`, and the
server never imports it (only the `dify-service` CLI does, to render the site it mounts).

* `spectools.docs`: the docs site (HTML and Markdown, en/zh/ja) rendered from the spec;
* `spectools.bundle`: `openapi.yaml` as single JSON files (bundled and fully dereferenced);
* `spectools.cli`: the `dify-docs` command (`build`, `check`, `serve`, `bundle`).
"""
