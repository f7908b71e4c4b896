"""Fixtures of the docs tests: the site built once from the real spec and once from a mini spec."""

from __future__ import annotations

from pathlib import Path

import pytest
from _docs_paths import DOCS, SPEC

from spectools.docs import build_site
from spectools.docs.render import Site


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs-site")
    build_site(SPEC, DOCS, out)
    return out


@pytest.fixture(scope="session")
def site() -> Site:
    return Site.load(SPEC, DOCS)
