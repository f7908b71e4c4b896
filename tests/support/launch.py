"""Run the `dify-service` CLI for tests.

Before handing over to `impl.cli.main`, it registers:
* the test-only operations of the fixture specs under tests/impl/fixtures (e.g. `echoBody`);
* a placeholder for any operation of the served spec that has no handler yet, answering
  501 `not_implemented`.  The shipped server never does this: it refuses to start.
Usage: python tests/support/launch.py serve --demo --port P --data-dir D
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from impl import cli
from impl.config import DEFAULT_SPEC_PATH
from impl.errors import ApiError
from impl.handlers._common import body_user, json_response
from impl.routing import discover_handlers, missing_handlers, operation
from impl.spec import load_spec


async def echo_body(body: dict[str, Any]) -> Any:
    return json_response({"user": body_user(body, required=True), "body": body})


def _placeholder(operation_id: str) -> Any:
    async def not_implemented(**_kwargs: Any) -> Any:
        raise ApiError("not_implemented", f"{operation_id} is not implemented yet.", 501)

    not_implemented.__name__ = f"placeholder_{operation_id}"
    return not_implemented


def prepare() -> list[str]:
    discover_handlers()
    operation("echoBody")(echo_body)
    spec = load_spec(Path(os.environ.get("DIFY_SPEC_PATH") or DEFAULT_SPEC_PATH))
    missing = missing_handlers(spec)
    for op_id in missing:
        operation(op_id)(_placeholder(op_id))
    if missing:
        sys.stderr.write("test launcher: placeholders for " + ", ".join(missing) + "\n")
    return missing


if __name__ == "__main__":
    prepare()
    sys.exit(cli.main(sys.argv[1:]))
