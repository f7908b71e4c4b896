"""Gate: the OpenAPI document is valid (openapi-spec-validator) and lint-clean (Redocly, zero errors)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV30SpecValidator
from spec_gate import OPENAPI, ROOT, node_tool, run


def test_openapi_is_3_0_x(openapi: dict[str, Any]) -> None:
    # Connexion 3.3 accepts only 3.0.x documents (stack-notes §1).
    assert re.fullmatch(r"3\.0\.\d+", str(openapi.get("openapi"))), openapi.get("openapi")


def test_openapi_spec_validator_passes(openapi: dict[str, Any]) -> None:
    errors = [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in OpenAPIV30SpecValidator(openapi, base_uri=OPENAPI.as_uri()).iter_errors()
    ]
    assert not errors, "openapi-spec-validator found:\n" + "\n".join(errors[:50])
    validate(openapi, base_uri=OPENAPI.as_uri())  # the public entry point agrees


def test_redocly_lint_reports_zero_errors() -> None:
    redocly = node_tool("redocly")
    result = run([redocly, "lint", OPENAPI.relative_to(ROOT), "--format", "stylish"], timeout=90)
    output = result.stdout + result.stderr
    # Redocly exits non-zero exactly when an error-severity rule fires; warnings are shown, not fatal.
    assert result.returncode == 0, f"redocly lint failed (exit {result.returncode}):\n{output}"
    assert "Woohoo" in output or "valid" in output.lower(), output


def test_missing_node_tools_fail_with_a_hint() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"run `npm ci`"):
        node_tool("no-such-tool-in-node-modules")
