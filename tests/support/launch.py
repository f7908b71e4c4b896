"""Run the `dify-service` CLI for tests.

Before handing over to `impl.cli.main`, it registers the test-only operations of the fixture
specs under tests/impl/fixtures (e.g. `echoBody`).  Every operation of the real spec has a
handler; like the shipped server, the launcher refuses to start when one does not.
Usage: python tests/support/launch.py serve --demo --port P --data-dir D
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from impl import cli
from impl.config import DEFAULT_SPEC_PATH
from impl.handlers._common import body_user, json_response
from impl.routing import discover_handlers, missing_handlers, operation
from impl.spec import load_spec


async def echo_body(body: dict[str, Any]) -> Any:
    return json_response({"user": body_user(body, required=True), "body": body})


def prepare() -> list[str]:
    """Register the fixture operations; return the spec's operations that still lack a handler."""
    discover_handlers()
    operation("echoBody")(echo_body)
    spec = load_spec(Path(os.environ.get("DIFY_SPEC_PATH") or DEFAULT_SPEC_PATH))
    return missing_handlers(spec)


if __name__ == "__main__":
    prepare()
    sys.exit(cli.main(sys.argv[1:]))
