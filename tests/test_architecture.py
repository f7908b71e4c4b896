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
    "impl.engine": (
        "impl.services",
        "impl.handlers",
        "impl.db",
        "impl.app",
        "impl.runtime",
        "impl.knowledge",
    ),
    # Local knowledge bases: above the database, the providers and the engine, below the services.
    "impl.knowledge": (
        "impl.services",
        "impl.handlers",
        "impl.app",
        "impl.runtime",
        "impl.cli",
        "impl.tasks",
    ),
    "impl.providers": (
        "impl.knowledge",
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
    "impl.db": (
        "impl.services",
        "impl.handlers",
        "impl.engine",
        "impl.providers",
        "impl.tools",
        "impl.app",
        "impl.knowledge",
    ),
    "impl.outbound": (
        "impl.services",
        "impl.handlers",
        "impl.engine",
        "impl.db",
        "impl.runtime",
        "impl.tools",
    ),
    "impl.limits": ("impl.services", "impl.handlers", "impl.engine", "impl.db", "impl.providers", "impl.app"),
    "impl.tasks": ("impl.services", "impl.handlers", "impl.db", "impl.engine", "impl.app", "impl.runtime"),
    "impl.sandbox": (
        "impl.services",
        "impl.handlers",
        "impl.engine",
        "impl.db",
        "impl.providers",
        "impl.app",
        "impl.runtime",
        "impl.config",
    ),
    "conformance": ("impl", "spectools"),
    # The docs renderer and the spec bundles read only `spec/` and `docs/`.
    "spectools": ("impl", "conformance"),
    # The server only serves the built site: only its CLI calls the renderer (see below).
    "impl": ("spectools",),
}

# modules allowed to import what FORBIDDEN bans for their layer
ALLOWED: dict[str, tuple[str, ...]] = {
    # `dify-service serve` renders the site it mounts; `dify-service docs|spec` are shims.
    "impl.cli": ("spectools",),
}

# The service packages stack one way too (bottom first); `impl.services.starters`, the table of
# chat-mode starters, and `impl.services.requirements`, what an app needs that the server lacks,
# sit on top of them all; `impl.services.runs` (the run lifecycle's shared state) is below them.
SERVICE_STACK = (
    "runs",
    "apps",
    ("media", "annotations"),
    "turns",
    "history",
    ("agent", "workflows"),
    ("starters", "requirements"),
)


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
    for package in ("impl", "conformance", "spectools"):
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
        and not any(_under(name, allowed) for allowed in ALLOWED.get(module, ()))
    ]
    assert offences == []


def test_the_app_factory_and_handlers_never_reach_the_renderer() -> None:
    """Only `impl.cli` may import spectools, and nothing imports `impl.cli` back into the server."""
    importers = sorted(
        module
        for module, path in _modules()
        if _under(module, "impl") and any(_under(name, "spectools") for name in _imports(path))
    )
    assert importers == ["impl.cli"]
    assert [m for m, p in _modules() if _under(m, "impl") and "impl.cli" in _imports(p)] == []
