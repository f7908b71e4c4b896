"""Offline utilities: the calculator (also Dify's `maths` `eval_expression`), Dify's
`json_process` tools (parse, insert, replace, delete on a `$.a.b[0]` path), base64 encode/decode
and Dify's `regex` `regex_extract`.

The calculator parses the expression with `ast` and evaluates only numbers, the operators
`+ - * / // % **` (bounded exponents), parentheses and a few functions; there is no `eval`.
`regex_extract` runs Python's `re.findall` in a child process killed after a few seconds, so a
pattern that backtracks without end costs that child, not the server.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import binascii
import json
import math
import operator
import re
import sys
from collections.abc import Callable
from typing import Any

from impl.tools.base import Param, Tool, ToolContext, ToolError, ToolResult

MAX_EXPRESSION = 200
MAX_EXPONENT = 1000

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


async def calculator(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    expression = args.get("expression")
    if not isinstance(expression, str):
        raise ToolError("the argument 'expression' (a string) is required")
    return ToolResult(calculate(expression))


async def eval_expression(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Dify's `maths` tool: its sentences, this module's evaluator (Dify uses numexpr)."""
    expression = str(args.get("expression") or "").strip()
    if not expression:
        return ToolResult("Invalid expression")
    try:
        value = calculate(expression)
    except ToolError as exc:
        return ToolResult(f"Invalid expression: {expression}, error: {exc}")
    return ToolResult(f'The result of the expression "{expression}" is {value}')


# --- regex ------------------------------------------------------------------------------------

MAX_REGEX_CONTENT = 1_000_000
REGEX_SECONDS = 5.0
_FINDALL = (
    "import json, re, sys\n"
    "job = json.load(sys.stdin)\n"
    "try:\n"
    "    out = {'result': repr(re.findall(job['expression'], job['content']))}\n"
    "except Exception as exc:\n"
    "    out = {'error': str(exc)}\n"
    "sys.stdout.write(json.dumps(out))\n"
)


async def regex_extract(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Dify's `regex` tool: every match of `expression` in `content`, as Python prints the list."""
    content = str(args.get("content") or "").strip()
    if not content:
        return ToolResult("Invalid content")
    expression = str(args.get("expression") or "").strip()
    if not expression:
        return ToolResult("Invalid expression")
    if len(content) > MAX_REGEX_CONTENT:
        raise ToolError(f"the content is longer than {MAX_REGEX_CONTENT} characters")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        "-c",
        _FINDALL,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    job = json.dumps({"expression": expression, "content": content}).encode()
    try:
        out, _ = await asyncio.wait_for(process.communicate(job), min(REGEX_SECONDS, ctx.timeout))
    except TimeoutError:
        process.kill()
        await process.wait()
        return ToolResult("Failed to extract result, error: the expression took too long to match")
    try:
        answer = json.loads(out)
    except ValueError:
        raise ToolError("the regular expression matcher failed") from None
    if "error" in answer:
        return ToolResult(f"Failed to extract result, error: {answer['error']}")
    return ToolResult(str(answer["result"]))


# --- JSON -----------------------------------------------------------------------------------

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def path_steps(path: str) -> list[str | int]:
    """`$.a.b[0]` -> ['a', 'b', 0]; '' or '$' is the root."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    elif text and not text.startswith((".", "[")):
        text = "." + text
    steps: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None:
            raise ToolError(f"cannot read the JSON path {path!r}")
        steps.append(int(match.group(2)) if match.group(2) is not None else match.group(1) or match.group(3))
        pos = match.end()
    return steps


def _load(args: dict[str, Any]) -> Any:
    content = args.get("content")
    if not isinstance(content, str):
        return content
    try:
        return json.loads(content)
    except ValueError:
        raise ToolError("the content is not valid JSON") from None


def _walk(data: Any, steps: list[str | int]) -> Any:
    for step in steps:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            raise ToolError(f"the path does not exist in the JSON (at {step!r})") from None
    return data


def _value(args: dict[str, Any], name: str) -> Any:
    raw = args.get(name)
    if isinstance(raw, str) and args.get("value_decode") is not False:
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _dump(data: Any, args: dict[str, Any]) -> ToolResult:
    text = json.dumps(data, ensure_ascii=bool(args.get("ensure_ascii", False)))
    return ToolResult(text, json=(data,) if isinstance(data, dict) else ())


async def json_parse(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    found = _walk(_load(args), path_steps(str(args.get("json_filter") or "$")))
    return ToolResult(found if isinstance(found, str) else json.dumps(found, ensure_ascii=False))


async def json_replace(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    data = _load(args)
    steps = path_steps(str(args.get("query") or args.get("json_filter") or ""))
    if not steps:
        return _dump(_value(args, "replace_value"), args)
    parent = _walk(data, steps[:-1])
    try:
        parent[steps[-1]] = _value(args, "replace_value")
    except (IndexError, TypeError):
        raise ToolError("the path does not exist in the JSON") from None
    return _dump(data, args)


async def json_insert(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    data = _load(args)
    target = _walk(data, path_steps(str(args.get("query") or "$")))
    value = _value(args, "new_value")
    if isinstance(target, list):
        index = args.get("index")
        target.insert(int(index) if index not in (None, "") else len(target), value)
    elif isinstance(target, dict):
        key = args.get("key") or args.get("create_path")
        if not isinstance(key, str) or not key:
            raise ToolError("inserting into an object needs a 'key'")
        target[key] = value
    else:
        raise ToolError("the path must point at an object or an array")
    return _dump(data, args)


async def json_delete(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    data = _load(args)
    steps = path_steps(str(args.get("query") or ""))
    if not steps:
        raise ToolError("the path must name something below the root")
    parent = _walk(data, steps[:-1])
    try:
        del parent[steps[-1]]
    except (KeyError, IndexError, TypeError):
        raise ToolError("the path does not exist in the JSON") from None
    return _dump(data, args)


async def b64_encode(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    return ToolResult(
        base64.b64encode(str(args.get("plaintext") or args.get("text") or "").encode()).decode()
    )


async def b64_decode(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    try:
        data = base64.b64decode(str(args.get("ciphertext") or args.get("text") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise ToolError("the text is not valid base64") from None
    return ToolResult(data.decode("utf-8", "replace"))


_CONTENT = Param("content", required=True, description="the JSON text")
_QUERY = Param("query", required=True, description="JSON path such as $.a.b[0]")

TOOLS: tuple[Tool, ...] = (
    Tool(
        "calculator",
        "calculator",
        "Calculator",
        "Evaluates an arithmetic expression such as (2 + 3) * 4.",
        (Param("expression", required=True, description="the expression"),),
        calculator,
    ),
    Tool(
        "maths",
        "eval_expression",
        "Evaluate Expression",
        "Evaluates a mathematical expression such as (2 + 3) * 4.",
        (Param("expression", required=True, description="the expression"),),
        eval_expression,
    ),
    Tool(
        "regex",
        "regex_extract",
        "Regex Extract",
        "Extracts every match of a regular expression from a text.",
        (
            Param("content", required=True, description="the text to search"),
            Param("expression", required=True, description="a Python regular expression"),
        ),
        regex_extract,
    ),
    Tool(
        "json_process",
        "parse",
        "JSON Parse",
        "Extract the value at a JSON path.",
        (_CONTENT, Param("json_filter", description="JSON path such as $.a.b[0]")),
        json_parse,
    ),
    Tool(
        "json_process",
        "replace",
        "JSON Replace",
        "Replace the value at a JSON path.",
        (_CONTENT, _QUERY, Param("replace_value", required=True, description="the new value (JSON or text)")),
        json_replace,
    ),
    Tool(
        "json_process",
        "insert",
        "JSON Insert",
        "Insert a value into the object or array at a JSON path.",
        (_CONTENT, _QUERY, Param("new_value", required=True), Param("index", type="number"), Param("key")),
        json_insert,
    ),
    Tool(
        "json_process",
        "delete",
        "JSON Delete",
        "Delete the value at a JSON path.",
        (_CONTENT, _QUERY),
        json_delete,
    ),
    Tool(
        "base64_codec",
        "base64_encoder",
        "Base64 Encoder",
        "Encode text as base64.",
        (Param("plaintext", required=True),),
        b64_encode,
    ),
    Tool(
        "base64_codec",
        "base64_decoder",
        "Base64 Decoder",
        "Decode base64 to text.",
        (Param("ciphertext", required=True),),
        b64_decode,
    ),
)
