"""Builtin tools an agent-chat app can enable in its DSL (`agent_mode.tools`).

| tool_name      | provider_id (any of)          | what it does                                          |
| -------------- | ----------------------------- | ----------------------------------------------------- |
| `current_time` | `time`                        | the current time (`format`, `timezone` parameters)    |
| `calculator`   | `calculator`, `math`          | arithmetic on an `expression`, evaluated safely       |
| `http_get`     | `http`, `webscraper`          | GET a public http(s) URL, return status and text      |
| `solid_image`  | `image`                       | a PNG of one colour (a file for `message_file`)       |

The calculator parses the expression with `ast` and evaluates only numbers, the operators
`+ - * / // % **` (bounded exponents), parentheses and a few functions; there is no `eval`.

`http_get` resolves the host and refuses it when any of its addresses is private, loopback,
link-local, multicast, reserved or unspecified, unless the allow-list admits the host name or the
address (`AGENT_HTTP_ALLOWLIST` in the environment or `agent_http_allowlist` in the settings'
`extra`: comma-separated host names, addresses or CIDR networks).  Redirects are followed by
hand (at most 3), each hop checked the same way, and each request connects to the address that
was checked (the URL carries the address; `Host` and the TLS server name carry the host name),
so a second DNS answer cannot redirect it.  A failing tool never raises: its error becomes the
observation the model reads.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import operator
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from impl import outbound, runtime
from impl.providers.function_calling import ToolSpec

HTTP_TIMEOUT = 10.0
HTTP_MAX_BYTES = 256 * 1024
HTTP_MAX_TEXT = 4000
MAX_REDIRECTS = 3
MAX_EXPRESSION = 200
MAX_EXPONENT = 1000
MAX_IMAGE_SIDE = 256


class ToolError(Exception):
    """A tool could not do its job; the message becomes the observation."""


@dataclass(frozen=True)
class ToolFile:
    filename: str
    mime_type: str
    data: bytes
    type: str = "image"


@dataclass(frozen=True)
class ToolResult:
    text: str
    files: tuple[ToolFile, ...] = ()


@dataclass(frozen=True)
class BuiltinTool:
    name: str
    providers: tuple[str, ...]
    label: str
    description: str
    parameters: Mapping[str, Any]
    run: Callable[[dict[str, Any]], Any]  # returns an awaitable of ToolResult

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)


@dataclass(frozen=True)
class ConfiguredTool:
    """A tool enabled in an app's DSL, with the parameter values the DSL fixes."""

    tool: BuiltinTool
    fixed: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""


# --- calculator -------------------------------------------------------------------------------

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "log": math.log,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def _evaluate(node: ast.AST) -> float | int:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and (
            abs(right) > MAX_EXPONENT or abs(left) > 1e6 and abs(right) > 10
        ):
            raise ToolError("the exponent is too large")
        result = _BINARY[type(node.op)](left, right)
        if isinstance(result, complex):
            raise ToolError("the result is not a real number")
        return float(result) if isinstance(result, float) else int(result)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        value: float | int = _UNARY[type(node.op)](_evaluate(node.operand))
        return value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and len(node.args) <= 4
    ):
        result = _FUNCTIONS[node.func.id](*[_evaluate(a) for a in node.args])
        return float(result) if isinstance(result, float) else int(result)
    raise ToolError(f"unsupported element in the expression: {ast.dump(node)[:60]}")


def calculate(expression: str) -> str:
    text = expression.replace("^", "**").replace("×", "*").replace("÷", "/").strip()
    if not text:
        raise ToolError("the expression is empty")
    if len(text) > MAX_EXPRESSION:
        raise ToolError(f"the expression is longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ToolError(f"cannot parse the expression {expression!r}") from None
    try:
        value = _evaluate(tree)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except (OverflowError, ValueError, TypeError) as exc:
        raise ToolError(f"cannot evaluate the expression: {exc}") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ToolError("the result is not finite")
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(round(value, 12))
    return str(value)


async def _calculator(args: dict[str, Any]) -> ToolResult:
    expression = args.get("expression")
    if not isinstance(expression, str):
        raise ToolError("the argument 'expression' (a string) is required")
    return ToolResult(calculate(expression))


# --- current time -----------------------------------------------------------------------------


async def _current_time(args: dict[str, Any]) -> ToolResult:
    zone_name = str(args.get("timezone") or "UTC")
    fmt = str(args.get("format") or "%Y-%m-%d %H:%M:%S %Z")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone {zone_name!r}") from None
    return ToolResult(datetime.now(UTC).astimezone(zone).strftime(fmt))


# --- HTTP GET ---------------------------------------------------------------------------------


def allowlist() -> tuple[str, ...]:
    """Where the HTTP tool may reach non-public addresses: the server's outbound allow-list."""
    return runtime.current().settings.outbound_allowed_hosts


async def check_url(url: str, allowed: tuple[str, ...]) -> outbound.Address:
    """Apply the outbound address policy (`impl.outbound`); return the address to connect to."""
    try:
        return await outbound.check(url, allowed)
    except outbound.Refused as exc:
        raise ToolError(f"refused: {exc.host} resolves to the non-public address {exc.address}") from None
    except outbound.InvalidUrl:
        raise ToolError("only http and https URLs with a host are allowed") from None
    except outbound.OutboundError as exc:
        raise ToolError(str(exc)) from None


def pinned(url: str, address: outbound.Address) -> tuple[str, dict[str, str], str]:
    """(URL with the checked address as host, Host header, TLS server name): see `outbound.pin`."""
    target, header, name = outbound.pin(url, address)
    return target, {"Host": header}, name


async def http_get(url: str, allowed: tuple[str, ...] | None = None) -> ToolResult:
    allowed = allowlist() if allowed is None else allowed
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False, trust_env=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            target, host_header, server_name = pinned(url, await check_url(url, allowed))
            try:
                async with client.stream(
                    "GET",
                    target,
                    headers={"User-Agent": "dify-service-agent", **host_header},
                    extensions={"sni_hostname": server_name},
                ) as response:
                    if response.is_redirect and response.headers.get("location"):
                        url = urljoin(url, response.headers["location"])
                        continue
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) >= HTTP_MAX_BYTES:
                            break
            except httpx.HTTPError as exc:
                raise ToolError(f"the request failed: {exc.__class__.__name__}: {exc}") from None
            text = bytes(body[:HTTP_MAX_BYTES]).decode(response.encoding or "utf-8", "replace")
            if len(text) > HTTP_MAX_TEXT:
                text = text[:HTTP_MAX_TEXT] + " …"
            return ToolResult(f"HTTP {response.status_code}\n{text}")
    raise ToolError(f"more than {MAX_REDIRECTS} redirects")


async def _http_get(args: dict[str, Any]) -> ToolResult:
    url = args.get("url")
    if not isinstance(url, str) or not url:
        raise ToolError("the argument 'url' (a string) is required")
    return await http_get(url)


# --- solid image ------------------------------------------------------------------------------


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


async def _solid_image(args: dict[str, Any]) -> ToolResult:
    colour = str(args.get("color") or "#3366cc").lstrip("#")
    try:
        rgb = (int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16))
        if len(colour) != 6:
            raise ValueError(colour)
    except ValueError:
        raise ToolError(f"the colour must be #rrggbb, got {args.get('color')!r}") from None
    try:
        width = int(args.get("width") or 64)
        height = int(args.get("height") or 64)
    except (TypeError, ValueError):
        raise ToolError("width and height must be integers") from None
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
        raise ToolError(f"width and height must be between 1 and {MAX_IMAGE_SIDE}")
    data = png(width, height, rgb)
    return ToolResult(
        f"drew a {width}x{height} image of colour #{colour}", (ToolFile("image.png", "image/png", data),)
    )


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


BUILTIN_TOOLS: dict[str, BuiltinTool] = {
    t.name: t
    for t in (
        BuiltinTool(
            "current_time",
            ("time", "current_time"),
            "Current Time",
            "Returns the current date and time.",
            _object(
                timezone={"type": "string", "description": "IANA time zone, e.g. Europe/Lisbon"},
                format={"type": "string", "description": "strftime format"},
            ),
            _current_time,
        ),
        BuiltinTool(
            "calculator",
            ("calculator", "math"),
            "Calculator",
            "Evaluates an arithmetic expression such as (2 + 3) * 4.",
            {**_object(expression={"type": "string"}), "required": ["expression"]},
            _calculator,
        ),
        BuiltinTool(
            "http_get",
            ("http", "webscraper", "http_get"),
            "HTTP GET",
            "Fetches a public web page and returns its status and text.",
            {**_object(url={"type": "string", "description": "http or https URL"}), "required": ["url"]},
            _http_get,
        ),
        BuiltinTool(
            "solid_image",
            ("image", "solid_image"),
            "Solid Image",
            "Draws a PNG image of one colour.",
            _object(
                color={"type": "string", "description": "#rrggbb"},
                width={"type": "integer"},
                height={"type": "integer"},
            ),
            _solid_image,
        ),
    )
}


def configured_tools(agent_mode: Mapping[str, Any] | None) -> list[ConfiguredTool]:
    """The builtin tools an `agent_mode` enables (unknown or disabled entries are skipped)."""
    found: list[ConfiguredTool] = []
    for entry in (agent_mode or {}).get("tools") or []:
        if not isinstance(entry, Mapping) or entry.get("enabled", True) is False:
            continue
        if str(entry.get("provider_type") or "builtin") != "builtin":
            continue
        tool = BUILTIN_TOOLS.get(str(entry.get("tool_name") or ""))
        if tool is None or any(c.tool.name == tool.name for c in found):
            continue
        fixed = entry.get("tool_parameters")
        label = entry.get("tool_label")
        found.append(
            ConfiguredTool(tool, dict(fixed) if isinstance(fixed, Mapping) else {}, str(label or tool.label))
        )
    return found


async def invoke(tools: list[ConfiguredTool], name: str, arguments: str, timeout: float = 30.0) -> ToolResult:
    """Run one tool call; every failure comes back as a `tool invoke error` text."""
    configured = next((c for c in tools if c.tool.name == name), None)
    if configured is None:
        return ToolResult(f"there is not a tool named {name}")
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return ToolResult(f"tool invoke error: the arguments are not valid JSON: {arguments[:200]}")
    if not isinstance(parsed, dict):
        return ToolResult("tool invoke error: the arguments must be a JSON object")
    args = {**parsed, **{k: v for k, v in configured.fixed.items() if v not in (None, "")}}
    try:
        result: ToolResult = await asyncio.wait_for(configured.tool.run(args), timeout)
    except ToolError as exc:
        return ToolResult(f"tool invoke error: {exc}")
    except TimeoutError:
        return ToolResult(f"tool invoke error: {name} did not finish within {timeout:g} s")
    except Exception as exc:  # a tool bug must not end the answer
        return ToolResult(f"tool invoke error: {exc.__class__.__name__}: {exc}")
    return result
