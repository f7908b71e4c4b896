"""Tools that make files: Dify's `chart` (bar, line, pie: SVG images drawn here, no plotting
library), `audio` `tts` (the local espeak-ng, WAV), `dalle` (dalle2, dalle3: the routed
OpenAI-compatible `/images/generations`; on the builtin route a deterministic PNG) and
`solid_image` (a PNG of one colour) and `qrcode` `qrcode_generator` (a PNG drawn by the `qrcode`
library, as Dify's tool does).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import shutil
import struct
import zlib
from html import escape
from typing import Any

from impl.providers import ProviderError
from impl.providers.embeddings import generate_images
from impl.providers.routing import active
from impl.tools.base import Param, Tool, ToolContext, ToolError, ToolFile, ToolResult

MAX_IMAGE_SIDE = 256
MAX_SPEECH_CHARS = 5000
PALETTE = ("#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00")
WIDTH, HEIGHT, PAD = 640, 400, 48


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


# --- charts ------------------------------------------------------------------------------------


def _numbers(raw: Any) -> list[float]:
    items = raw if isinstance(raw, list) else str(raw or "").replace("；", ";").replace(",", ";").split(";")
    try:
        values = [float(str(v).strip()) for v in items if str(v).strip()]
    except ValueError:
        raise ToolError("data must be numbers separated by ';' (e.g. 1;2;3)") from None
    if not values:
        raise ToolError("data is empty")
    return values


def _labels(raw: Any, count: int) -> list[str]:
    items = raw if isinstance(raw, list) else str(raw or "").replace("；", ";").split(";")
    labels = [str(v).strip() for v in items if str(v).strip()]
    return (labels + [str(i + 1) for i in range(len(labels), count)])[:count]


def _svg(body: list[str], title: str) -> bytes:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>'
    )
    heading = (
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="16">{escape(title)}</text>'
        if title
        else ""
    )
    return (head + heading + "".join(body) + "</svg>").encode()


def _axes(values: list[float]) -> tuple[float, float, list[str]]:
    top = max(max(values), 0.0)
    bottom = min(min(values), 0.0)
    span = (top - bottom) or 1.0
    lines = [
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#333"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#333"/>',
        f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end">{top:g}</text>',
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end">{bottom:g}</text>',
    ]
    return bottom, span, lines


def _y(value: float, bottom: float, span: float) -> float:
    return HEIGHT - PAD - (value - bottom) / span * (HEIGHT - 2 * PAD)


def bar_svg(values: list[float], labels: list[str], title: str = "") -> bytes:
    bottom, span, body = _axes(values)
    slot = (WIDTH - 2 * PAD) / len(values)
    zero = _y(0.0, bottom, span)
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        x = PAD + i * slot + slot * 0.15
        y = _y(value, bottom, span)
        body.append(
            f'<rect x="{x:.1f}" y="{min(y, zero):.1f}" width="{slot * 0.7:.1f}" '
            f'height="{abs(zero - y):.1f}" fill="{PALETTE[i % len(PALETTE)]}"/>'
        )
        body.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - PAD + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    return _svg(body, title)


def line_svg(values: list[float], labels: list[str], title: str = "") -> bytes:
    bottom, span, body = _axes(values)
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)
    points = [(PAD + i * step, _y(v, bottom, span)) for i, v in enumerate(values)]
    body.append(
        '<polyline fill="none" stroke="#3366cc" stroke-width="2" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        + '"/>'
    )
    for (x, y), label in zip(points, labels, strict=True):
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#3366cc"/>')
        body.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle">{escape(label)}</text>')
    return _svg(body, title)


def pie_svg(values: list[float], labels: list[str], title: str = "") -> bytes:
    if any(v < 0 for v in values) or sum(values) <= 0:
        raise ToolError("a pie chart needs non-negative values with a positive sum")
    total = sum(values)
    cx, cy, r = WIDTH / 2 - 80, HEIGHT / 2 + 10, 140
    body: list[str] = []
    angle = -math.pi / 2
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        sweep = value / total * 2 * math.pi
        colour = PALETTE[i % len(PALETTE)]
        if sweep >= 2 * math.pi - 1e-9:
            body.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{colour}"/>')
        elif sweep > 0:
            x1, y1 = cx + r * math.cos(angle), cy + r * math.sin(angle)
            x2, y2 = cx + r * math.cos(angle + sweep), cy + r * math.sin(angle + sweep)
            large = 1 if sweep > math.pi else 0
            body.append(
                f'<path d="M{cx},{cy} L{x1:.1f},{y1:.1f} A{r},{r} 0 {large} 1 {x2:.1f},{y2:.1f} Z" '
                f'fill="{colour}"/>'
            )
        angle += sweep
        legend_y = 70 + i * 20
        body.append(f'<rect x="{WIDTH - 180}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>')
        body.append(f'<text x="{WIDTH - 162}" y="{legend_y}">{escape(label)} ({value / total:.0%})</text>')
    return _svg(body, title)


def _chart(draw: Any, label_param: str) -> Any:
    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        values = _numbers(args.get("data"))
        labels = _labels(args.get(label_param), len(values))
        title = str(args.get("title") or "")
        image = draw(values, labels, title)
        return ToolResult("the chart was drawn", files=(ToolFile("chart.svg", "image/svg+xml", image),))

    return run


# --- speech ------------------------------------------------------------------------------------


async def speak(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    text = str(args.get("text") or "").strip()
    if not text:
        raise ToolError("the argument 'text' is required")
    if shutil.which("espeak-ng") is None:
        raise ToolError("no text-to-speech engine is installed on this server (espeak-ng is missing)")
    voice = str(args.get("voice") or args.get("voice#openai") or "en").strip() or "en"
    if not all(ch.isalnum() or ch in "-_+" for ch in voice):
        voice = "en"
    process = await asyncio.create_subprocess_exec(
        "espeak-ng",
        "--stdout",
        "-v",
        voice,
        "--stdin",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(text[:MAX_SPEECH_CHARS].encode()), ctx.timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ToolError("the speech engine did not finish in time") from None
    if process.returncode != 0 or not out:
        raise ToolError(f"the speech engine failed: {err.decode(errors='replace').strip()[:200]}")
    return ToolResult("the speech was generated", files=(ToolFile("speech.wav", "audio/wav", out, "audio"),))


# --- images ------------------------------------------------------------------------------------

DALLE3_SIZES = {"square": "1024x1024", "vertical": "1024x1792", "horizontal": "1792x1024"}
DALLE2_SIZES = {"small": "256x256", "medium": "512x512", "large": "1024x1024"}


def _images(model: str, sizes: dict[str, str]) -> Any:
    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        prompt = str(args.get("prompt") or "").strip()
        if not prompt:
            raise ToolError("the argument 'prompt' is required")
        count = max(1, min(int(args.get("n") or 1), 4))
        try:
            resolved = active().resolve("openai", model)
        except ProviderError as exc:
            raise ToolError(f"image generation is not configured: {exc.message}") from None
        if resolved.backend == "builtin":
            digest = hashlib.sha256(prompt.encode()).digest()
            images = [png(64, 64, (digest[0], digest[1], digest[2]))] * count
        else:
            extra = {k: args[k] for k in ("quality", "style") if args.get(k) and model == "dall-e-3"}
            size = sizes.get(str(args.get("size") or ""), str(args.get("size") or "1024x1024"))
            try:
                images = await generate_images(resolved, prompt, size=size, n=count, extra=extra)
            except ProviderError as exc:
                raise ToolError(f"image generation failed: {exc.message}") from None
        files = tuple(ToolFile(f"image_{i + 1}.png", "image/png", data) for i, data in enumerate(images))
        return ToolResult(f"generated {len(files)} image(s)", files=files)

    return run


async def solid_image(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    colour = str(args.get("color") or "#3366cc").lstrip("#")
    try:
        if len(colour) != 6:
            raise ValueError(colour)
        rgb = (int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16))
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
        f"drew a {width}x{height} image of colour #{colour}",
        files=(ToolFile("image.png", "image/png", data),),
    )


QR_LEVELS = ("L", "M", "Q", "H")
MAX_QR_CONTENT = 2953  # the most bytes a QR code (version 40, level L) holds


async def qrcode_generator(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Dify's `qrcode` tool: its parameter checks and answers; the image a PNG."""
    import qrcode
    import qrcode.constants

    content = str(args.get("content") or "")
    if not content:
        return ToolResult("Invalid parameter content")
    try:
        border = int(args.get("border", 2))
    except (TypeError, ValueError):
        return ToolResult("Invalid parameter border")
    if not 0 <= border <= 100:
        return ToolResult("Invalid parameter border")
    level = str(args.get("error_correction") or "")
    if level not in QR_LEVELS:
        return ToolResult("Invalid parameter error_correction")
    if len(content.encode()) > MAX_QR_CONTENT:
        return ToolResult("Failed to generate QR code")
    code = qrcode.QRCode(error_correction=getattr(qrcode.constants, f"ERROR_CORRECT_{level}"), border=border)
    code.add_data(content)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out)
    return ToolResult(files=(ToolFile("qrcode.png", "image/png", out.getvalue()),))


_DATA = Param("data", required=True, description="numbers separated by ';', e.g. 10;20;30")
_TITLE = Param("title", description="chart title")
_PROMPT = Param("prompt", required=True, description="what the image shows")

TOOLS: tuple[Tool, ...] = (
    Tool(
        "chart",
        "bar_chart",
        "Bar Chart",
        "Draw a bar chart.",
        (_DATA, Param("x_axis", description="labels separated by ';'"), _TITLE),
        _chart(bar_svg, "x_axis"),
    ),
    Tool(
        "chart",
        "line_chart",
        "Line Chart",
        "Draw a line chart.",
        (_DATA, Param("x_axis", description="labels separated by ';'"), _TITLE),
        _chart(line_svg, "x_axis"),
    ),
    Tool(
        "chart",
        "pie_chart",
        "Pie Chart",
        "Draw a pie chart.",
        (_DATA, Param("categories", description="labels separated by ';'"), _TITLE),
        _chart(pie_svg, "categories"),
    ),
    Tool(
        "audio",
        "tts",
        "Text To Speech",
        "Read a text aloud (a WAV file).",
        (Param("text", required=True), Param("voice", form="form")),
        speak,
    ),
    Tool(
        "dalle",
        "dalle3",
        "DALL-E 3",
        "Generate an image from a prompt.",
        (
            _PROMPT,
            Param("size", form="form", default="square", options=tuple(DALLE3_SIZES)),
            Param("n", type="number", form="form"),
            Param("quality", form="form"),
            Param("style", form="form"),
        ),
        _images("dall-e-3", DALLE3_SIZES),
    ),
    Tool(
        "dalle",
        "dalle2",
        "DALL-E 2",
        "Generate an image from a prompt.",
        (
            _PROMPT,
            Param("size", form="form", default="large", options=tuple(DALLE2_SIZES)),
            Param("n", type="number", form="form"),
        ),
        _images("dall-e-2", DALLE2_SIZES),
    ),
    Tool(
        "image",
        "solid_image",
        "Solid Image",
        "Draws a PNG image of one colour.",
        (
            Param("color", description="#rrggbb"),
            Param("width", type="number"),
            Param("height", type="number"),
        ),
        solid_image,
    ),
    Tool(
        "qrcode",
        "qrcode_generator",
        "Generate QR Code",
        "Generates a QR code image of a text.",
        (
            Param("content", required=True, description="the text the QR code holds"),
            Param("error_correction", type="select", form="form", default="M", options=QR_LEVELS),
            Param("border", type="number", form="form", default=2),
        ),
        qrcode_generator,
    ),
)
