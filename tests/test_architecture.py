"""The one-way imports of ARCHITECTURE.md, checked on the source: a layer never imports one above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package prefix -> module prefixes it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "impl.handlers": ("impl.db",),
    "impl.services": ("impl.handlers", "impl.app", "impl.cli", "connexion"),
    "impl.engine": ("impl.services", "impl.handlers", "impl.db", "impl.app", "impl.runtime"),
    "impl.providers": (
        "impl.services",
        "impl.handlers",
        "impl.db",
        "impl.engine",
        "impl.tools",
        "impl.app",
        "impl.runtime",
    ),
    "impl.tools": (
        "impl.services",
        "impl.handlers",
        "impl.db",
        "impl.engine",
        "impl.app",
        "impl.runtime",
    ),
    "impl.db": ("impl.services", "impl.handlers", "impl.engine", "impl.providers", "impl.tools", "impl.app"),
    "impl.outbound": (
        "impl.services",
        "impl.handlers",
        "impl.engine",
        "impl.db",
        "impl.runtime",
        "impl.tools",
    ),
    "conformance": ("impl",),
}

# The service packages stack one way too (bottom first); `impl.services.starters`, the table of
# chat-mode starters, sits on top of them all.
SERVICE_STACK = ("apps", ("media", "annotations"), "turns", "history", ("agent", "workflows"), "starters")


def _service_rules() -> dict[str, tuple[str, ...]]:
    levels = [(level,) if isinstance(level, str) else level for level in SERVICE_STACK]
    rules: dict[str, tuple[str, ...]] = {}
    for index, level in enumerate(levels):
        above = [name for upper in levels[index + 1 :] for name in upper]
        for name in level:
            siblings = [other for other in level if other != name]
            rules[f"impl.services.{name}"] = tuple(f"impl.services.{n}" for n in [*siblings, *above])
    return rules


FORBIDDEN.update(_service_rules())


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in ("impl", "conformance"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append((".".join(p for p in parts if p != "__init__"), path))
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_downwards(layer: str) -> None:
    offences = [
        f"{module} imports {name}"
        for module, path in _modules()
        if _under(module, layer)
        for name in sorted(_imports(path))
        if any(_under(name, banned) for banned in FORBIDDEN[layer])
    ]
    assert offences == []


def test_docs_tooling_reads_only_the_spec_and_docs() -> None:
    offences = [
        f"{module} imports {name}"
        for module, path in _modules()
        if _under(module, "impl.docs")
        for name in sorted(_imports(path))
        if _under(name, "impl") and not _under(name, "impl.docs")
    ]
    assert offences == []
