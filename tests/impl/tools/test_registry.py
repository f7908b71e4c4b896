"""The registry's builtin tools with Dify's provider and tool names: time, JSON, base64, charts,
speech, images (builtin route and a fake images endpoint), the web page reader; argument
handling in Dify's parameter forms; lookups by short and plugin provider names."""

from __future__ import annotations

import base64
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.fake_openai import API_KEY, running_fake_openai

from impl.providers import routing
from impl.providers.routing import load
from impl.tools import BUILTIN, ToolContext, ToolError, builtin_tool, invoke, lookup_tool
from impl.tools.web import html_to_markdown

CTX = ToolContext()


@pytest.fixture(autouse=True)
def unpinned() -> Iterator[None]:
    yield
    routing.use(None)


async def run(provider: str, name: str, **args: object) -> str:
    tool = builtin_tool(provider, name)
    assert tool is not None, (provider, name)
    return (await invoke(tool, args, CTX)).text


@pytest.mark.parametrize(
    ("provider", "name"),
    [
        ("time", "current_time"),
        ("langgenius/time/time", "timezone_conversion"),
        ("webscraper", "webscraper"),
        ("webscraper", "http_get"),
        ("langgenius/jina_tool/jina", "jina_reader"),
        ("json_process", "parse"),
        ("bowenliang123/base64_codec/base64_codec", "base64_encoder"),
        ("chart", "pie_chart"),
        ("audio", "tts"),
        ("langgenius/dalle/dalle", "dalle3"),
        ("math", "calculator"),
        ("", "solid_image"),
    ],
)
def test_lookups(provider: str, name: str) -> None:
    ref = lookup_tool(provider, name)
    assert ref is not None and ref.source == "builtin" and ref.tool == name


def test_every_tool_offers_a_json_schema() -> None:
    for tool in BUILTIN.values():
        spec = tool.spec()
        assert spec.parameters["type"] == "object"
        for name in spec.parameters.get("required", []):
            assert name in spec.parameters["properties"]
    form_only = builtin_tool("time", "current_time")
    assert (
        form_only is not None and form_only.spec().parameters["properties"] == {}
    )  # form parameters are fixed


async def test_time_tools() -> None:
    assert (
        await run(
            "time",
            "timezone_conversion",
            current_time="2024-01-01 12:00:00",
            current_timezone="UTC",
            target_timezone="Asia/Tokyo",
        )
        == "2024-01-01 21:00:00"
    )
    assert (
        await run("time", "localtime_to_timestamp", localtime="1970-01-01 08:00:00", timezone="Asia/Shanghai")
        == "0"
    )
    assert (
        await run("time", "timestamp_to_localtime", timestamp="86400", timezone="UTC")
        == "1970-01-02 00:00:00"
    )
    assert await run("time", "weekday", year="2024", month="1", day="1") == "January 1, 2024 is Monday."
    assert await run("time", "current_time", timezone="UTC", format="%Y") == str(datetime.now(UTC).year)
    with pytest.raises(ToolError, match="valid date"):
        await run("time", "weekday", year=2024, month=2, day=30)
    with pytest.raises(ToolError, match="is required"):
        await run("time", "timezone_conversion", current_time="2024-01-01 00:00:00")


async def test_json_and_base64_tools() -> None:
    doc = '{"a": {"b": [1, 2, {"c": "x"}]}}'
    assert await run("json_process", "parse", content=doc, json_filter="$.a.b[2].c") == "x"
    assert (
        await run("json_process", "replace", content=doc, query="$.a.b[0]", replace_value="9")
        == '{"a": {"b": [9, 2, {"c": "x"}]}}'
    )
    assert (
        await run("json_process", "insert", content=doc, query="$.a", new_value='"v"', key="k")
        == '{"a": {"b": [1, 2, {"c": "x"}], "k": "v"}}'
    )
    assert await run("json_process", "delete", content=doc, query="$.a.b") == '{"a": {}}'
    with pytest.raises(ToolError, match="does not exist"):
        await run("json_process", "parse", content=doc, json_filter="$.nope")
    with pytest.raises(ToolError, match="not valid JSON"):
        await run("json_process", "parse", content="{", json_filter="$")
    assert (
        await run("base64_codec", "base64_encoder", plaintext="héllo")
        == base64.b64encode("héllo".encode()).decode()
    )
    assert await run("base64_codec", "base64_decoder", ciphertext="aGk=") == "hi"


@pytest.mark.parametrize("name", ["bar_chart", "line_chart", "pie_chart"])
async def test_charts_are_svg_images(name: str) -> None:
    tool = builtin_tool("chart", name)
    assert tool is not None
    result = await invoke(
        tool, {"data": "3;1;2", "x_axis": "a;b;c", "categories": "a;b;c", "title": "T <1>"}, CTX
    )
    [file] = result.files
    assert file.mime_type == "image/svg+xml" and file.type == "image"
    root = ET.fromstring(file.data)
    assert root.tag.endswith("svg") and "T <1>" in "".join(root.itertext())
    with pytest.raises(ToolError, match="numbers"):
        await invoke(tool, {"data": "a;b"}, CTX)


async def test_text_to_speech_with_espeak() -> None:
    tool = builtin_tool("audio", "tts")
    assert tool is not None
    [file] = (await invoke(tool, {"text": "Hello there"}, CTX)).files
    assert file.mime_type == "audio/wav" and file.data[:4] == b"RIFF" and file.type == "audio"


async def _images(request: Request) -> Response:
    if request.headers.get("authorization") != f"Bearer {API_KEY}":
        return JSONResponse({"error": {"message": "bad key"}}, 401)
    body = await request.json()
    request.app.state.received.append(body)
    return JSONResponse({"data": [{"b64_json": base64.b64encode(b"\x89PNG fake").decode()}] * body["n"]})


async def test_dalle_on_the_builtin_route_and_on_an_images_endpoint() -> None:
    routing.use(load({"DIFY_BUILTIN_MODELS": "1"}))
    tool = builtin_tool("dalle", "dalle3")
    assert tool is not None
    offline = await invoke(tool, {"prompt": "a red cat", "n": 2}, CTX)
    assert len(offline.files) == 2 and offline.files[0].data.startswith(b"\x89PNG")
    with running_fake_openai([Route("/v1/images/generations", _images, methods=["POST"])]) as (
        base,
        received,
    ):
        routing.use(load({"OPENAI_API_BASE": base, "OPENAI_API_KEY": API_KEY}))
        made = await invoke(tool, {"prompt": "a cat", "size": "vertical", "quality": "hd"}, CTX)
        assert made.files[0].data == b"\x89PNG fake"
        assert received[-1] == {
            "model": "dall-e-3",
            "prompt": "a cat",
            "size": "1024x1792",
            "n": 1,
            "response_format": "b64_json",
            "quality": "hd",
        }
        routing.use(load({}))
        with pytest.raises(ToolError, match="image generation is not configured: .*OPENAI_API_KEY"):
            await invoke(tool, {"prompt": "a cat"}, CTX)
        routing.use(load({"OPENAI_API_BASE": base, "OPENAI_API_KEY": "wrong"}))
        with pytest.raises(ToolError, match="image generation failed"):
            await invoke(tool, {"prompt": "a cat"}, CTX)


PAGE = b"""<!doctype html><html><head><title>Demo page</title><style>p{}</style></head>
<body><h1>Welcome</h1><p>Read <a href="/more">more here</a>.</p><script>alert(1)</script>
<ul><li>one</li><li>two</li></ul></body></html>"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *_args: object) -> None:
        return


def test_html_to_markdown() -> None:
    title, text = html_to_markdown(PAGE.decode(), "http://example.com/a")
    assert title == "Demo page"
    assert "# Welcome" in text and "[more here](http://example.com/more)" in text and "- one\n- two" in text
    assert "alert" not in text and "p{}" not in text


async def test_web_page_reader_under_the_outbound_policy() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/page"
    try:
        scraper = builtin_tool("webscraper", "webscraper")
        assert scraper is not None
        with pytest.raises(ToolError, match="refused"):
            await invoke(scraper, {"url": url}, CTX)
        text = (await invoke(scraper, {"url": url}, ToolContext(allowed_hosts=("127.0.0.1",)))).text
        assert text.startswith("# Demo page\n\n") and "# Welcome" in text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
