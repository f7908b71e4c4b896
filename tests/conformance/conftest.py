"""Fixtures of the conformance self-tests."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Target:
    base_url: str
    keys: dict[str, str]


@pytest.fixture(scope="session")
def reference(request: pytest.FixtureRequest) -> Target:
    """The reference server: the shared `live_server`, or one named by DIFY_CONFORMANCE_REFERENCE.

    DIFY_CONFORMANCE_REFERENCE=<base_url>,<path to demo-keys.json> points the tests at a server that
    is already running (handy while iterating); by default the session's live server is used.
    """
    named = os.environ.get("DIFY_CONFORMANCE_REFERENCE")
    if named:
        url, keys = named.split(",", 1)
        return Target(url, json.loads(Path(keys).read_text()))
    server = request.getfixturevalue("live_server")
    return Target(server.base_url, dict(server.keys))
