"""spectools.bundle: JSON bundles of the spec (external refs resolved; fully dereferenced)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from spectools.bundle import BundleError, write_bundles

ROOT = Path(__file__).resolve().parents[2]

FIXTURE_OPENAPI = """\
openapi: 3.0.3
info: {title: Fixture, version: "1.0"}
paths:
  /things/{id}:
    get:
      operationId: getThing
      parameters:
        - $ref: "parts/params.yaml#/ThingId"
      responses:
        200:
          description: The thing.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
        404:
          $ref: "#/components/responses/NotFound"
components:
  schemas:
    Thing:
      type: object
      properties:
        id: {type: string}
        created: {type: string, example: 2024-01-02}
        owner: {$ref: "parts/people.yaml#/Person"}
        children:
          type: array
          items: {$ref: "#/components/schemas/Error"}
    Error:
      type: object
      properties:
        code: {type: string}
  responses:
    NotFound:
      description: No such thing.
      content:
        application/json:
          schema: {$ref: "#/components/schemas/Error"}
"""

FIXTURE_PEOPLE = """\
Person:
  type: object
  description: from the shared file
  properties:
    name: {type: string}
    address: {$ref: "#/Address"}
    last_error: {$ref: "../openapi.yaml#/components/schemas/Error"}
Address:
  type: object
  properties:
    city: {type: string}
"""

FIXTURE_PARAMS = """\
ThingId:
  name: id
  in: path
  required: true
  description: Thing id.
  schema: {type: string}
"""


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    spec = tmp_path / "spec"
    (spec / "parts").mkdir(parents=True)
    (spec / "openapi.yaml").write_text(FIXTURE_OPENAPI)
    (spec / "parts" / "people.yaml").write_text(FIXTURE_PEOPLE)
    (spec / "parts" / "params.yaml").write_text(FIXTURE_PARAMS)
    (spec / "events.schema.json").write_text(json.dumps({"$defs": {"ping": {"type": "object"}}}))
    return spec


def test_fixture_bundles_resolve_external_refs_and_keep_internal_ones(spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    written = write_bundles(spec_dir, out)
    assert [p.name for p in written] == ["openapi.bundled.json", "openapi.deref.json", "events.schema.json"]
    bundled = json.loads((out / "openapi.bundled.json").read_text())
    # only refs into the document itself remain, and they are local pointers
    assert sorted(set(_refs(bundled))) == [
        "#/components/responses/NotFound",
        "#/components/schemas/Error",
        "#/components/schemas/Thing",
    ]
    owner = bundled["components"]["schemas"]["Thing"]["properties"]["owner"]
    assert owner["description"] == "from the shared file"
    assert owner["properties"]["address"]["properties"]["city"] == {"type": "string"}
    assert owner["properties"]["last_error"] == {"$ref": "#/components/schemas/Error"}
    assert bundled["paths"]["/things/{id}"]["get"]["parameters"][0]["name"] == "id"
    assert set(bundled["paths"]["/things/{id}"]["get"]["responses"]) == {"200", "404"}
    # a YAML date stays the string it was written as
    assert bundled["components"]["schemas"]["Thing"]["properties"]["created"]["example"] == "2024-01-02"
    validate(bundled)
    assert (out / "events.schema.json").read_bytes() == (spec_dir / "events.schema.json").read_bytes()


def test_fixture_deref_refuses_a_ref_cycle(spec_dir: Path, tmp_path: Path) -> None:
    # Thing.children referring back to Thing: a bundle could keep that ref, inlining cannot terminate.
    text = (spec_dir / "openapi.yaml").read_text()
    cyclic = text.replace('schemas/Error"}\n    Error', 'schemas/Thing"}\n    Error')
    assert cyclic != text
    (spec_dir / "openapi.yaml").write_text(cyclic)
    with pytest.raises(BundleError, match=r"cyclic \$ref cannot be inlined: .*Thing"):
        write_bundles(spec_dir, tmp_path / "build")
    assert not (tmp_path / "build").exists()  # nothing half-written


def test_fixture_deref_inlines_everything(spec_dir: Path, tmp_path: Path) -> None:
    write_bundles(spec_dir, tmp_path / "build")
    deref = json.loads((tmp_path / "build" / "openapi.deref.json").read_text())
    assert _refs(deref) == []
    not_found = deref["paths"]["/things/{id}"]["get"]["responses"]["404"]
    assert not_found["content"]["application/json"]["schema"]["properties"]["code"] == {"type": "string"}
    validate(deref)


def test_missing_ref_target_is_a_clear_error(spec_dir: Path, tmp_path: Path) -> None:
    (spec_dir / "parts" / "params.yaml").write_text("Other: {}\n")
    with pytest.raises(BundleError, match="ThingId does not exist"):
        write_bundles(spec_dir, tmp_path / "build")


def test_project_spec_bundles(tmp_path: Path) -> None:
    written = write_bundles(ROOT / "spec", tmp_path / "build")
    bundled, deref, events = (json.loads(p.read_text(encoding="utf-8")) for p in written)
    assert all(r.startswith("#/") for r in _refs(bundled))
    assert _refs(deref) == []
    validate(bundled)
    assert bundled["paths"].keys() == deref["paths"].keys()
    assert "$defs" in events
