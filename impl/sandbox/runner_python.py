"""Runs inside the sandbox (never imported by the server): one job of a Python code node, or of
a JavaScript node on V8 embedded through `mini-racer` when the machine has no Node.js
(argv: `javascript HEAP_MB`).

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


# Called by the V8 runner: awaits main (it may be async) and returns its result as JSON text.
V8_ENTRY = """
globalThis.__sandbox_run = async (inputs) => {
  if (typeof main !== 'function') throw new ReferenceError('the code defines no function named main');
  const result = await main(inputs);
  if (result === null || typeof result !== 'object' || Array.isArray(result)) {
    const kind = Array.isArray(result) ? 'array' : typeof result;
    throw new TypeError(`main() must return an object, got ${kind}`);
  }
  return JSON.stringify(result);
};
"""


def run_javascript(job: dict[str, Any], heap_mb: int) -> dict[str, Any]:
    sys.path.insert(0, "/opt/sandbox/v8")
    from py_mini_racer import MiniRacer  # type: ignore[import-not-found, unused-ignore]

    context: Any = MiniRacer()
    context.set_hard_memory_limit(heap_mb * 1024 * 1024)
    try:
        context.eval(str(job.get("code") or ""))
        context.eval(V8_ENTRY)
        promise = context.eval(f"__sandbox_run({json.dumps(job.get('inputs') or {})})")
        return {"ok": True, "result": json.loads(str(promise.get()))}
    except Exception as exc:  # what V8 raised, with its own message and stack
        text = str(exc).strip().removeprefix("JavaScript rejected promise with reason: ")
        lines = [
            line
            for line in text.splitlines()
            if "__sandbox_run" not in line and "<anonymous>:1:1" not in line
        ]
        return {"ok": False, "error": "\n".join(lines)}


def main() -> None:
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open("/dev/null", os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    if sys.argv[1:2] == ["javascript"]:
        job = json.loads(sys.stdin.buffer.read() or b"{}")
        answer.write(json.dumps(run_javascript(job, int(sys.argv[2])), ensure_ascii=False) + "\n")
        answer.flush()
        return
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
