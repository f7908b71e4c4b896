"""Build artefacts of the contract: the spec as single JSON files for tools that want one.

`write_bundles(spec_dir, out_dir)` writes

* `openapi.bundled.json`: `openapi.yaml` as JSON, with every `$ref` into another file replaced by
  the referenced content, while refs inside the document itself (`#/components/...`) stay refs;
* `openapi.deref.json`: the same document with every `$ref` inlined (a cyclic `$ref` chain is an
  error, since it cannot be inlined);
* `events.schema.json`: copied unchanged, so the `x-sse-events` pointers (`events.schema.json#/...`)
  of both bundles keep resolving next to them.

Keys written next to a `$ref` (for example a `description`) are laid over the inlined target.
Only the standard library and PyYAML are used, so the CLI can run it without the server stack.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

__all__ = ["BundleError", "load_document", "write_bundles"]

OPENAPI_NAME = "openapi.yaml"
EVENTS_NAME = "events.schema.json"
BUNDLED_NAME = "openapi.bundled.json"
DEREF_NAME = "openapi.deref.json"


class BundleError(ValueError):
    """A `$ref` that cannot be resolved or inlined."""


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings, so every document is JSON-serialisable."""


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_document(path: Path) -> Any:
    """Parse a YAML or JSON file (JSON is YAML) into plain Python data."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    return _stringify_keys(yaml.load(text, Loader=_PlainLoader))


def _stringify_keys(node: Any) -> Any:
    # YAML reads unquoted status codes (`200:`) as integers; JSON and OpenAPI want strings.
    if isinstance(node, dict):
        return {str(k): _stringify_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_stringify_keys(v) for v in node]
    return node


class _Documents:
    """Loaded documents by absolute path, with JSON-pointer lookup."""

    def __init__(self) -> None:
        self._cache: dict[Path, Any] = {}

    def get(self, path: Path) -> Any:
        path = path.resolve()
        if path not in self._cache:
            if not path.is_file():
                raise BundleError(f"referenced file does not exist: {path}")
            self._cache[path] = load_document(path)
        return self._cache[path]

    def lookup(self, path: Path, pointer: str) -> Any:
        node = self.get(path)
        if not pointer:
            return node
        if not pointer.startswith("/"):
            raise BundleError(f"unsupported $ref fragment {pointer!r} in {path}")
        for raw in pointer[1:].split("/"):
            token = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise BundleError(f"$ref target #{pointer} does not exist in {path}")
        return node


def _split_ref(ref: str, base: Path) -> tuple[Path, str]:
    """(absolute file, JSON pointer) of a `$ref` written in the file `base`."""
    file_part, _, fragment = ref.partition("#")
    if "://" in file_part:
        raise BundleError(f"remote $ref {ref!r} is not supported (in {base})")
    target = (base.parent / unquote(file_part)).resolve() if file_part else base.resolve()
    return target, fragment


def _ref_of(node: Any) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref: str = node["$ref"]
        return ref
    return None


def _overlay(target: Any, node: dict[str, Any]) -> Any:
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    if siblings and isinstance(target, dict):
        return {**target, **siblings}
    return target


def bundle(docs: _Documents, root: Path) -> Any:
    """The root document with external refs inlined and its own `#/...` refs kept."""
    root = root.resolve()

    def walk(node: Any, base: Path, stack: tuple[tuple[Path, str], ...]) -> Any:
        ref = _ref_of(node)
        if ref is not None:
            assert isinstance(node, dict)
            target_file, pointer = _split_ref(ref, base)
            if target_file == root:
                # A ref into the root document, written there or in an included file: keep it.
                return {
                    **{k: walk(v, base, stack) for k, v in node.items() if k != "$ref"},
                    "$ref": f"#{pointer}",
                }
            key = (target_file, pointer)
            if key in stack:
                raise BundleError(f"cyclic $ref through external file: {ref} (from {base})")
            inlined = walk(docs.lookup(target_file, pointer), target_file, (*stack, key))
            return _overlay(inlined, {k: walk(v, base, stack) for k, v in node.items()})
        if isinstance(node, dict):
            return {k: walk(v, base, stack) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, base, stack) for v in node]
        return node

    return walk(docs.get(root), root, ())


def dereference(docs: _Documents, root: Path) -> Any:
    """The root document with every `$ref` inlined; a ref cycle raises BundleError."""
    root = root.resolve()
    done: dict[tuple[Path, str], Any] = {}

    def walk(node: Any, base: Path, stack: tuple[tuple[Path, str], ...]) -> Any:
        ref = _ref_of(node)
        if ref is not None:
            assert isinstance(node, dict)
            key = _split_ref(ref, base)
            if key in stack:
                chain = " -> ".join(f"{p.name}#{f}" for p, f in (*stack[stack.index(key) :], key))
                raise BundleError(f"cyclic $ref cannot be inlined: {chain}")
            if key not in done:
                done[key] = walk(docs.lookup(*key), key[0], (*stack, key))
            siblings = {k: walk(v, base, stack) for k, v in node.items() if k != "$ref"}
            return _overlay(_copy(done[key]), {"$ref": ref, **siblings})
        if isinstance(node, dict):
            return {k: walk(v, base, stack) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, base, stack) for v in node]
        return node

    return walk(docs.get(root), root, ())


def _copy(node: Any) -> Any:
    # Inlined targets are shared between their uses; copy so the written JSON has no aliasing surprises.
    return json.loads(json.dumps(node))


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_bundles(spec_dir: Path, out_dir: Path) -> list[Path]:
    """Write `openapi.bundled.json`, `openapi.deref.json` and `events.schema.json` into `out_dir`."""
    openapi = spec_dir / OPENAPI_NAME
    events = spec_dir / EVENTS_NAME
    for required in (openapi, events):
        if not required.is_file():
            raise FileNotFoundError(f"spec file missing: {required}")
    docs = _Documents()
    bundled = bundle(docs, openapi)
    derefed = dereference(docs, openapi)
    json.loads(events.read_text(encoding="utf-8"))  # refuse to publish a broken events file
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [
        _write_json(out_dir / BUNDLED_NAME, bundled),
        _write_json(out_dir / DEREF_NAME, derefed),
        Path(shutil.copyfile(events, out_dir / EVENTS_NAME)),
    ]
    return written
