"""Runs inside the sandbox (never imported by the server): one job of a Python code node.

Started ahead of time by the pool, it imports what it needs and waits on stdin. The job is one
JSON document `{"code": str, "inputs": {...}}`; the answer is one JSON line on the original
stdout: `{"ok": true, "result": {...}}` or `{"ok": false, "error": "..."}`. While user code
runs, its own stdout goes to /dev/null (Dify keeps only `main`'s return value). The process
then exits: a worker never runs a second job.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

sys.path.append("/opt/sandbox/site")
sys.dont_write_bytecode = True


def _error_text(exc: BaseException) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    # Drop this runner's own frame: the traceback starts at the user's code.
    kept = [line for line in lines if 'File "/opt/sandbox/runner.py"' not in line]
    return "".join(kept).strip()


def main() -> None:
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open("/dev/null", os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    job = json.loads(sys.stdin.buffer.read() or b"{}")
    outcome: dict[str, Any]
    try:
        scope: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        exec(compile(str(job.get("code") or ""), "<code>", "exec"), scope)
        entry = scope.get("main")
        if not callable(entry):
            raise NameError("the code defines no function named main")
        result = entry(**(job.get("inputs") or {}))
        if not isinstance(result, dict):
            raise TypeError(f"main() must return a dict, got {type(result).__name__}")
        outcome = {"ok": True, "result": result}
        text = json.dumps(outcome, ensure_ascii=False)
    except BaseException as exc:
        text = json.dumps({"ok": False, "error": _error_text(exc)}, ensure_ascii=False)
    answer.write(text + "\n")
    answer.flush()


if __name__ == "__main__":
    main()
