"""Shared fixtures of the spec gate: the two spec files and Dify's wire contract."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from spec_gate import EVENTS, OPENAPI, WIRE_CONTRACT, require


@pytest.fixture(scope="session")
def openapi() -> dict[str, Any]:
    data = yaml.safe_load(require(OPENAPI, "the OpenAPI document").read_text(encoding="utf-8"))
    assert isinstance(data, dict), "spec/openapi.yaml must hold a mapping"
    return data


@pytest.fixture(scope="session")
def events() -> dict[str, Any]:
    data = json.loads(require(EVENTS, "the SSE event schema").read_text(encoding="utf-8"))
    assert isinstance(data, dict), "spec/events.schema.json must hold an object"
    return data


@pytest.fixture(scope="session")
def wire() -> dict[str, Any]:
    data = json.loads(require(WIRE_CONTRACT, "Dify's wire contract").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data
