"""Dify's `code` provider: `simple_code` runs a snippet of Python 3 or JavaScript and answers with
what it printed.  The snippet runs in the code sandbox (`impl.sandbox`, the box of code nodes:
no network, its limits, its own uid), never in the server: a small `main` of our own, run in the
box, executes the snippet with `print` / `console.log` collected and returns the output.
"""

from __future__ import annotations

from typing import Any

from impl import sandbox
from impl.tools.base import Param, Tool, ToolContext, ToolError, ToolResult

LANGUAGES = ("python3", "javascript")

# The entry each language's sandbox runner calls: the snippet comes in as the `code` input.
PYTHON_ENTRY = """
def main(code):
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "<code>", "exec"), {"__name__": "__main__"})
    return {"stdout": printed.getvalue()}
"""

JAVASCRIPT_ENTRY = """
function main({code}) {
  const lines = [];
  const show = (args) => args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
  const collect = (...args) => { lines.push(show(args)); };
  const saved = globalThis.console;
  globalThis.console = {log: collect, info: collect, warn: collect, error: collect, debug: collect};
  try {
    (new Function(code))();
  } finally {
    globalThis.console = saved;
  }
  return {stdout: lines.length ? lines.join('\\n') + '\\n' : ''};
}
"""


async def simple_code(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    language = str(args.get("language") or "python3").strip()
    if language not in LANGUAGES:
        raise ToolError(f"Only python3 and javascript are supported, not {language}")
    code = str(args.get("code") or "")
    entry = PYTHON_ENTRY if language == "python3" else JAVASCRIPT_ENTRY
    try:
        result = await sandbox.run_code(language, entry, {"code": code})
    except sandbox.CodeExecutionError as exc:
        raise ToolError(str(exc)) from None
    except sandbox.SandboxUnavailable as exc:
        raise ToolError(f"the code sandbox is not available on this server: {exc}") from None
    return ToolResult(str(result.get("stdout") or ""))


TOOLS: tuple[Tool, ...] = (
    Tool(
        "code",
        "simple_code",
        "Code Interpreter",
        "Runs Python 3 or JavaScript code in a sandbox without network and returns what it printed: "
        "use print() or console.log() to output the result.",
        (
            Param("language", required=True, options=LANGUAGES, description='"python3" or "javascript"'),
            Param("code", required=True, description="the code; only built-in modules, no network"),
        ),
        simple_code,
    ),
)
