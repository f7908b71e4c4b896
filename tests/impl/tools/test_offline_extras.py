"""Dify's `qrcode`, `regex` and `maths` tools: their answers, their checks, and a runaway pattern
that is stopped instead of stalling the server."""

from __future__ import annotations

import io
import time
from typing import Any

from PIL import Image

from impl.tools import ToolContext, ToolResult
from impl.tools.registry import builtin_tool, lookup_tool


async def run(provider: str, tool: str, **args: Any) -> ToolResult:
    found = builtin_tool(provider, tool)
    assert found is not None, (provider, tool)
    return await found.run(found.arguments(args), ToolContext(timeout=30))


def test_the_tools_are_found_under_dify_names() -> None:
    for provider, tool in (
        ("langgenius/qrcode/qrcode", "qrcode_generator"),
        ("langgenius/regex/regex", "regex_extract"),
        ("langgenius/maths/maths", "eval_expression"),
    ):
        ref = lookup_tool(provider, tool)
        assert ref is not None and ref.source == "builtin"


async def test_qrcode_draws_a_png_whose_size_follows_border_and_level() -> None:
    small = await run(
        "qrcode", "qrcode_generator", content="https://example.com", error_correction="L", border=0
    )
    (file,) = small.files
    assert file.mime_type == "image/png" and file.type == "image" and file.data.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(file.data)).convert("L")
    # without a border the finder pattern's dark corner is the first pixel; with one it is light
    assert image.getpixel((0, 0)) == 0
    framed = await run(
        "qrcode", "qrcode_generator", content="https://example.com", error_correction="L", border=4
    )
    framed_image = Image.open(io.BytesIO(framed.files[0].data)).convert("L")
    assert framed_image.getpixel((0, 0)) == 255 and framed_image.width > image.width
    high = await run(
        "qrcode", "qrcode_generator", content="https://example.com", error_correction="H", border=0
    )
    assert Image.open(io.BytesIO(high.files[0].data)).width > image.width
    defaults = await run("qrcode", "qrcode_generator", content="x")
    assert len(defaults.files) == 1
    bad_level = await run("qrcode", "qrcode_generator", content="x", error_correction="Z")
    assert bad_level.text == "Invalid parameter error_correction" and bad_level.files == ()
    assert (
        await run("qrcode", "qrcode_generator", content="x", border=101)
    ).text == "Invalid parameter border"


async def test_regex_extract_answers_as_dify_does() -> None:
    pairs = await run("regex", "regex_extract", content="a1 b22 c333", expression=r"([a-z])(\d+)")
    assert pairs.text == "[('a', '1'), ('b', '22'), ('c', '333')]"
    words = await run(
        "regex", "regex_extract", content="mail ann@x.org, bob@y.net", expression=r"\w+@\w+\.\w+"
    )
    assert words.text == "['ann@x.org', 'bob@y.net']"
    assert (await run("regex", "regex_extract", content="abc", expression=r"\d")).text == "[]"
    broken = await run("regex", "regex_extract", content="abc", expression="(")
    assert broken.text.startswith("Failed to extract result, error: missing )")


async def test_a_runaway_pattern_is_stopped() -> None:
    started = time.monotonic()
    result = await run("regex", "regex_extract", content="a" * 40 + "!", expression=r"(a+)+$")
    assert result.text == "Failed to extract result, error: the expression took too long to match"
    assert time.monotonic() - started < 20  # the limit is 5 s; generous for a loaded machine


async def test_eval_expression_answers_with_dify_sentences() -> None:
    assert (await run("maths", "eval_expression", expression="12 * (3 + 4)")).text == (
        'The result of the expression "12 * (3 + 4)" is 84'
    )
    assert (await run("maths", "eval_expression", expression="10 / 4")).text.endswith(" is 2.5")
    bad = await run("maths", "eval_expression", expression="__import__('os')")
    assert bad.text.startswith("Invalid expression: __import__('os'), error: ")
