"""Dify's `time` tool provider, offline: current_time, timezone_conversion,
localtime_to_timestamp, timestamp_to_localtime, weekday (Dify's tool and parameter names)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from impl.tools.base import Param, Tool, ToolContext, ToolError, ToolResult

DEFAULT_FORMAT = "%Y-%m-%d %H:%M:%S"


def zone(name: Any) -> ZoneInfo:
    text = str(name or "UTC").strip() or "UTC"
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone {text!r}") from None


def _parse_local(text: str, tz: ZoneInfo) -> datetime:
    for fmt in (DEFAULT_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ToolError(f"cannot read the time {text!r}; use YYYY-MM-DD HH:MM:SS") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


async def current_time(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    fmt = str(args.get("format") or DEFAULT_FORMAT)
    return ToolResult(datetime.now(UTC).astimezone(zone(args.get("timezone"))).strftime(fmt))


async def timezone_conversion(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    source = zone(args.get("current_timezone"))
    moment = _parse_local(str(args.get("current_time") or ""), source)
    return ToolResult(moment.astimezone(zone(args.get("target_timezone"))).strftime(DEFAULT_FORMAT))


async def localtime_to_timestamp(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    moment = _parse_local(str(args.get("localtime") or ""), zone(args.get("timezone") or "Asia/Shanghai"))
    return ToolResult(str(int(moment.timestamp())))


async def timestamp_to_localtime(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    try:
        stamp = float(args.get("timestamp") or 0)
    except (TypeError, ValueError):
        raise ToolError(f"the timestamp must be a number, got {args.get('timestamp')!r}") from None
    try:
        moment = datetime.fromtimestamp(stamp, zone(args.get("timezone") or "Asia/Shanghai"))
    except (OverflowError, OSError, ValueError):
        raise ToolError(f"the timestamp {stamp:g} is out of range") from None
    return ToolResult(moment.strftime(DEFAULT_FORMAT))


async def weekday(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    try:
        year, month, day = int(args.get("year") or 0), int(args.get("month") or 0), int(args.get("day") or 0)
        date = datetime(year, month, day)
    except (TypeError, ValueError):
        raise ToolError("year, month and day must form a valid date") from None
    name = calendar.day_name[date.weekday()]
    return ToolResult(f"{calendar.month_name[month]} {day}, {year} is {name}.")


def _p(name: str, description: str, **kw: Any) -> Param:
    return Param(name, description=description, **kw)


TOOLS: tuple[Tool, ...] = (
    Tool(
        "time",
        "current_time",
        "Current Time",
        "Get the current time.",
        (
            _p("format", "strftime format of the answer", form="form", default=DEFAULT_FORMAT),
            _p("timezone", "IANA time zone", form="form", default="UTC"),
        ),
        current_time,
    ),
    Tool(
        "time",
        "timezone_conversion",
        "Timezone Conversion",
        "Convert a time from one time zone to another.",
        (
            _p("current_time", "the time, YYYY-MM-DD HH:MM:SS", required=True),
            _p("current_timezone", "its IANA time zone", required=True),
            _p("target_timezone", "the IANA time zone to convert to", required=True),
        ),
        timezone_conversion,
    ),
    Tool(
        "time",
        "localtime_to_timestamp",
        "Localtime to timestamp",
        "Convert a local time to a Unix timestamp.",
        (_p("localtime", "YYYY-MM-DD HH:MM:SS", required=True), _p("timezone", "IANA time zone")),
        localtime_to_timestamp,
    ),
    Tool(
        "time",
        "timestamp_to_localtime",
        "Timestamp to localtime",
        "Convert a Unix timestamp to a local time.",
        (_p("timestamp", "Unix timestamp", type="number", required=True), _p("timezone", "IANA time zone")),
        timestamp_to_localtime,
    ),
    Tool(
        "time",
        "weekday",
        "Weekday Calculator",
        "The day of the week of a date.",
        (
            _p("year", "year", type="number", required=True),
            _p("month", "month (1-12)", type="number", required=True),
            _p("day", "day of the month", type="number", required=True),
        ),
        weekday,
    ),
)
