"""The agent-chat binding of the tool registry (`impl.services.agent.tools`): DSL entries,
fixed parameters, missing tools, failures as observations, timeouts."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from impl.services.agent.tools import ConfiguredTool, configured_tools, invoke, missing_tools
from impl.tools import Tool, ToolContext, ToolResult


async def test_configured_tools_reads_the_dsl() -> None:
    mode = {
        "tools": [
            {
                "provider_type": "builtin",
                "provider_id": "time",
                "tool_name": "current_time",
                "tool_parameters": {"timezone": "Asia/Tokyo"},
            },
            {
                "provider_type": "builtin",
                "provider_id": "calculator",
                "tool_name": "calculator",
                "enabled": False,
            },
            {"provider_type": "builtin", "provider_id": "langgenius/time/time", "tool_name": "current_time"},
            "not a mapping",
        ]
    }
    tools = await configured_tools(mode)
    assert [t.tool.name for t in tools] == ["current_time"]
    assert tools[0].fixed == {"timezone": "Asia/Tokyo"} and tools[0].label == "Current Time"


async def test_a_tool_the_server_lacks_is_left_out_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    mode = {
        "tools": [
            {"provider_id": "wikipedia", "tool_name": "wikipedia_search"},
            {"provider_id": "time", "tool_name": "current_time"},
        ]
    }
    assert missing_tools(mode) == ["wikipedia/wikipedia_search"]
    with caplog.at_level(logging.WARNING):
        tools = await configured_tools(mode)
    assert [c.tool.name for c in tools] == ["current_time"]
    assert "wikipedia/wikipedia_search left out" in caplog.text


async def test_invoke_merges_fixed_parameters_and_reports_errors() -> None:
    tools = await configured_tools(
        {"tools": [{"tool_name": "current_time", "tool_parameters": {"format": "%Y", "timezone": "UTC"}}]}
    )
    result = await invoke(
        tools, "current_time", json.dumps({"format": "%H", "timezone": "Asia/Tokyo"}), allowed=()
    )
    assert result.text == time.strftime("%Y", time.gmtime())
    assert (
        await invoke(tools, "calculator", "{}", allowed=())
    ).text == "there is not a tool named calculator"
    assert (await invoke(tools, "current_time", "[1]", allowed=())).text.startswith(
        "tool invoke error: the arguments must"
    )
    zone = await configured_tools({"tools": [{"tool_name": "current_time"}]})
    assert (await invoke(zone, "current_time", '{"timezone": "Mars/Base"}', allowed=())).text == (
        "tool invoke error: unknown time zone 'Mars/Base'"
    )


async def test_invoke_times_out() -> None:
    async def slow(_args: dict[str, object], _ctx: ToolContext) -> ToolResult:
        await asyncio.sleep(5)
        return ToolResult("late")

    tool = Tool("slow", "slow", "Slow", "sleeps", (), slow)
    result = await invoke([ConfiguredTool(tool)], "slow", "{}", timeout=0.05, allowed=())
    assert result.text == "tool invoke error: slow did not finish within 0.05 s"
