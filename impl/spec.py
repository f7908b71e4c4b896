"""Load the OpenAPI document as a plain dict (so Connexion does not render it through Jinja)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class SpecError(RuntimeError):
    pass


def load_spec(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the OpenAPI document {path}: {exc.strerror}") from exc
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(spec, dict) or "paths" not in spec:
        raise SpecError(f"{path} is not an OpenAPI document (no 'paths')")
    return spec
