"""Gate: client generators accept the spec without complaint.

* openapi-python-client generates a package with no warnings, and every module of it imports.
* openapi-typescript generates `schema.d.ts`, and `tsc --strict` compiles it together with
  tests/spec/ts/usage.ts, which uses a few of the generated types (request bodies of the three
  generation endpoints, a query type, the blocking chat reply).  A free-form object such as
  `inputs` must say `additionalProperties: true` (or give a value schema): openapi-typescript turns a
  bare `type: object` into `Record<string, never>`, which no caller can fill.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from spec_gate import NODE_ENV, OPENAPI, ROOT, node_tool, require, run

TS_DIR = Path(__file__).resolve().parent / "ts"
PY_CLIENT_CONFIG = Path(__file__).resolve().parent / "openapi-python-client.yaml"
WARNING = re.compile(r"warning", re.IGNORECASE)

pytestmark = pytest.mark.slow


def test_openapi_python_client_generates_an_importable_package(tmp_path: Path) -> None:
    require(OPENAPI, "the OpenAPI document")
    generator = Path(sys.executable).parent / "openapi-python-client"
    assert generator.exists(), f"{generator} is missing: pip install -e '.[dev]' into the venv"
    out = tmp_path / "client"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [
            *(str(generator), "generate", "--path", str(OPENAPI), "--output-path", str(out)),
            *("--meta", "none", "--config", str(PY_CLIENT_CONFIG)),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"openapi-python-client failed (exit {result.returncode}):\n{output}"
    assert not WARNING.search(output), f"openapi-python-client printed warnings:\n{output}"
    assert (out / "__init__.py").exists() and (out / "client.py").exists(), sorted(os.listdir(out))
    assert list((out / "api").rglob("*.py")), "no API modules were generated"

    # `--meta none` writes the package itself into `out`; import it and every submodule.
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        sys.path.insert(0, sys.argv[1])
        pkg = importlib.import_module(sys.argv[2])
        names = [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
        for name in names:
            importlib.import_module(name)
        print(len(names))
        """
    )
    imported = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, str(out.parent), out.name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert imported.returncode == 0, f"the generated client does not import:\n{imported.stderr}"
    assert int(imported.stdout.strip()) > 36, imported.stdout


def test_openapi_typescript_types_compile_under_strict_tsc(tmp_path: Path) -> None:
    require(OPENAPI, "the OpenAPI document")
    generator = node_tool("openapi-typescript")
    tsc = node_tool("tsc")
    # Run outside the repository so the generator's own checks are not driven by our redocly.yaml
    # (test_gate_lint covers that); it reads a redocly.yaml from its working directory.
    # `--default-non-nullable=false`: a request field with a `default` stays optional for senders.
    generated = run(
        [generator, OPENAPI, "-o", tmp_path / "schema.d.ts", "--default-non-nullable=false"],
        cwd=tmp_path,
        timeout=90,
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, f"openapi-typescript failed:\n{output}"
    assert (tmp_path / "schema.d.ts").stat().st_size > 0
    for name in ("tsconfig.json", "usage.ts"):
        shutil.copy(TS_DIR / name, tmp_path / name)
    compiled = subprocess.run(
        [str(tsc), "--noEmit", "--strict", "-p", str(tmp_path)],
        cwd=ROOT,
        env=NODE_ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert compiled.returncode == 0, f"tsc rejected the generated types:\n{compiled.stdout}{compiled.stderr}"
