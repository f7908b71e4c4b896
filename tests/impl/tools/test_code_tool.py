"""Dify's `code` `simple_code` tool: snippets run in the code sandbox, never in the server, and
answer with what they printed; the box's rules (no network) hold for them too."""

from __future__ import annotations

from typing import Any

import pytest

from impl.tools import ToolContext, ToolError, ToolResult
from impl.tools.registry import builtin_tool


async def run(**args: Any) -> ToolResult:
    found = builtin_tool("langgenius/code/code", "simple_code")
    assert found is not None
    return await found.run(found.arguments(args), ToolContext(timeout=30))


async def test_python_prints_come_back() -> None:
    result = await run(language="python3", code="import math\nprint(6 * 7)\nprint(math.sqrt(16))")
    assert result.text == "42\n4.0\n"
    assert (await run(language="python3", code="x = 1")).text == ""


async def test_javascript_console_lines_come_back() -> None:
    result = await run(language="javascript", code="console.log(6 * 7, {a: 1}); console.log('done')")
    assert result.text == '42 {"a":1}\ndone\n'


async def test_the_snippet_runs_in_the_box() -> None:
    import os

    pid = await run(language="python3", code="import os\nprint(os.getpid())")
    assert int(pid.text) != os.getpid()
    with pytest.raises(ToolError, match="Operation not permitted"):
        await run(language="python3", code="import socket\nsocket.create_connection(('127.0.0.1', 9))")


async def test_errors_fail_the_tool() -> None:
    with pytest.raises(ToolError, match="ValueError: boom"):
        await run(language="python3", code="raise ValueError('boom')")
    with pytest.raises(ToolError, match="Only python3 and javascript are supported, not ruby"):
        await run(language="ruby", code="puts 1")
