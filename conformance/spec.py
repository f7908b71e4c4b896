"""Load the contract (`openapi.yaml` + `events.schema.json`) and answer questions about it."""

from __future__ import annotations

import dataclasses
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
SSE = "text/event-stream"


class SpecError(Exception):
    """The spec files cannot be found or read."""


def default_spec_dir() -> Path:
    """Where the spec lives when `--spec` is not given.

    A repository checkout first (`<cwd>/spec`, then the `spec/` next to this package), then the
    copy shipped as package data (`conformance/_spec/`).
    """
    here = Path(__file__).resolve().parent
    for candidate in (Path.cwd() / "spec", here.parent / "spec", here / "_spec"):
        if (candidate / "openapi.yaml").is_file():
            return candidate
    raise SpecError("no spec/openapi.yaml found; pass --spec DIR")


@dataclasses.dataclass(frozen=True)
class Operation:
    """One operation of the spec, reduced to what the checks need."""

    operation_id: str
    method: str
    path: str
    modes: tuple[str, ...]
    definition: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def statuses(self) -> tuple[str, ...]:
        return tuple(str(s) for s in self.definition.get("responses", {}))

    def sse_events(self) -> dict[str, str]:
        """`x-sse-events` of the streaming 200 response: mode -> pointer into events.schema.json."""
        for status in ("200", "201"):
            media = self.definition.get("responses", {}).get(status, {}).get("content", {}).get(SSE)
            if isinstance(media, dict):
                return dict(media.get("x-sse-events", {}))
        return {}

    def streams_for(self, mode: str) -> bool:
        events = self.sse_events()
        return mode in events if events else False

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(p["name"] for p in self.definition.get("parameters", []) if p.get("in") == "path")


class Spec:
    """The two spec files of one directory."""

    def __init__(self, directory: Path | str | None = None, *, events_file: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory else default_spec_dir()
        openapi = self.directory / "openapi.yaml"
        events = Path(events_file) if events_file else self.directory / "events.schema.json"
        try:
            self.openapi: dict[str, Any] = yaml.safe_load(openapi.read_text(encoding="utf-8"))
            self.events: dict[str, Any] = json.loads(events.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise SpecError(f"cannot read the spec in {self.directory}: {exc}") from exc
        # Resolve path-level parameters into each operation so every consumer sees them.
        self._resolve_components()

    def _resolve_components(self) -> None:
        params = self.openapi.get("components", {}).get("parameters", {})
        for path_item in self.openapi.get("paths", {}).values():
            shared = path_item.get("parameters", [])
            for method in HTTP_METHODS:
                op = path_item.get(method)
                if not isinstance(op, dict):
                    continue
                merged = []
                for p in [*shared, *op.get("parameters", [])]:
                    if "$ref" in p:
                        p = params.get(p["$ref"].rsplit("/", 1)[-1], p)
                    merged.append(p)
                op["_resolved_parameters"] = merged

    @cached_property
    def operations(self) -> dict[str, Operation]:
        out: dict[str, Operation] = {}
        for path, item in self.openapi.get("paths", {}).items():
            for method in HTTP_METHODS:
                op = item.get(method)
                if not isinstance(op, dict) or "operationId" not in op:
                    continue
                definition = dict(op)
                definition["parameters"] = op.get("_resolved_parameters", op.get("parameters", []))
                out[op["operationId"]] = Operation(
                    operation_id=op["operationId"],
                    method=method,
                    path=path,
                    modes=tuple(op.get("x-app-modes", ())),
                    definition=definition,
                )
        return out

    def served_by(self, mode: str) -> list[Operation]:
        return [op for op in self.operations.values() if mode in op.modes]

    @property
    def error_codes(self) -> dict[str, Any]:
        return dict(self.openapi.get("x-error-codes", {}))

    def openapi_for_schemathesis(self) -> dict[str, Any]:
        """A copy of the OpenAPI document without our private keys."""
        doc = json.loads(json.dumps(self.openapi, default=str))
        for item in doc.get("paths", {}).values():
            for method in HTTP_METHODS:
                if isinstance(item.get(method), dict):
                    item[method].pop("_resolved_parameters", None)
        return dict(doc)

    def event_def(self, pointer: str) -> dict[str, Any]:
        """A schema from events.schema.json, by `events.schema.json#/$defs/x` or `#/$defs/x`."""
        fragment = pointer.split("#", 1)[-1]
        node: Any = self.events
        for part in fragment.strip("/").split("/"):
            if not part:
                continue
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return dict(node) if isinstance(node, dict) else {}
