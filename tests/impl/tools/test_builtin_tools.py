"""Builtin tools of the registry: safe calculator, clock, image, HTTP GET with its address checks."""

from __future__ import annotations

import socket
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from impl import outbound
from impl.config import Settings
from impl.tools import ToolContext, ToolError, ToolResult
from impl.tools.media import png
from impl.tools.utilities import calculate
from impl.tools.web import check_url
from impl.tools.web import http_get as http_get_tool


async def http_get(url: str, allowed: tuple[str, ...]) -> ToolResult:
    return await http_get_tool({"url": url}, ToolContext(allowed_hosts=allowed))


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("6*7", "42"),
        ("12 * (3 + 4)", "84"),
        ("2^10", "1024"),
        ("10 / 4", "2.5"),
        ("7 // 2 + 7 % 2", "4"),
        ("-3 + -2", "-5"),
        ("sqrt(16) + abs(-1)", "5"),
        ("round(pi, 2)", "3.14"),
        ("0.1 + 0.2", "0.3"),
        ("2 ** 0.5", "1.414213562373"),
    ],
)
def test_calculator(expression: str, value: str) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("1/0", "division by zero"),
        ("__import__('os').system('true')", "unsupported"),
        ("().__class__", "unsupported"),
        ("open('/etc/passwd')", "unsupported"),
        ("9 ** 9 ** 9", "exponent"),
        ("10 ** 1000 ** 2", "exponent"),
        ("1 +", "cannot parse"),
        ("", "empty"),
        ("1" * 300, "longer than"),
        ("'a' * 3", "unsupported"),
        ("(-8) ** 0.5", "not a real number"),
        ("[1, 2]", "unsupported"),
        ("x = 1", "cannot parse"),
    ],
)
def test_calculator_refuses(expression: str, reason: str) -> None:
    with pytest.raises(ToolError, match=reason):
        calculate(expression)


def test_png_is_a_valid_image() -> None:
    data = png(3, 2, (255, 0, 0))
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    ihdr = data[16:29]
    assert ihdr[:8] == (3).to_bytes(4, "big") + (2).to_bytes(4, "big")
    idat_len = int.from_bytes(data[33:37], "big")
    raw = zlib.decompress(data[41 : 41 + idat_len])
    assert raw == (b"\x00" + b"\xff\x00\x00" * 3) * 2


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/redirect-private":
            self.send_response(302)
            self.send_header("Location", "http://10.0.0.1/")
            self.end_headers()
            return
        if self.path == "/redirect-home":
            self.send_response(302)
            self.send_header("Location", "/hello")
            self.end_headers()
            return
        body = b"hello from the loopback page"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture(scope="module")
def page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://224.0.0.1/",
    ],
)
async def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(ToolError, match="refused"):
        await check_url(url, ())


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/", "http:///nohost", "gopher://x"])
async def test_only_http_urls(url: str) -> None:
    with pytest.raises(ToolError, match="only http and https"):
        await check_url(url, ())


async def test_unresolvable_host() -> None:
    with pytest.raises(ToolError, match="cannot resolve"):
        await check_url("http://no-such-host.invalid/", ())


async def test_allow_list_admits_loopback(page: str) -> None:
    with pytest.raises(ToolError, match="refused"):
        await http_get(page + "/hello", ())
    for allowed in (("127.0.0.1",), ("127.0.0.0/8",)):
        result = await http_get(page + "/hello", allowed)
        assert result.text == "HTTP 200\nhello from the loopback page"
    followed = await http_get(page + "/redirect-home", ("127.0.0.1",))
    assert followed.text.endswith("hello from the loopback page")


async def test_redirect_to_a_private_address_is_refused(page: str) -> None:
    with pytest.raises(ToolError, match="refused: 10.0.0.1"):
        await http_get(page + "/redirect-private", ("127.0.0.1",))


def test_allow_list_from_the_environment() -> None:
    settings = Settings.from_env({"AGENT_HTTP_ALLOWLIST": " internal.example , 10.0.0.0/8 ,"})
    assert settings.outbound_allowed_hosts == ("internal.example", "10.0.0.0/8")
    both = Settings.from_env(
        {"OUTBOUND_ALLOWED_HOSTS": "a.test", "HTTP_REQUEST_ALLOWED_HOSTS": "B.test,a.test"}
    )
    assert both.outbound_allowed_hosts == ("a.test", "b.test")


async def test_allow_list_by_host_name() -> None:
    # `localhost` resolves to loopback; naming it admits it.
    await check_url("http://localhost:1/", ("localhost",))
    assert socket.gethostbyname("localhost").startswith("127.")


def test_pinned_url_keeps_host_and_port() -> None:
    import ipaddress

    url, header, name = outbound.pin("https://example.com:8443/a?b=1", ipaddress.ip_address("93.184.216.34"))
    assert (
        url == "https://93.184.216.34:8443/a?b=1" and header == "example.com:8443" and name == "example.com"
    )
    url, header, _ = outbound.pin("http://example.com/x", ipaddress.ip_address("2606:2800:220:1::1"))
    assert url == "http://[2606:2800:220:1::1]/x" and header == "example.com"


async def test_connection_goes_to_the_checked_address(page: str) -> None:
    # `localhost` is admitted by name; the request connects to the checked loopback address
    # with `Host: localhost:<port>`.
    port = page.rsplit(":", 1)[1]
    result = await http_get(f"http://localhost:{port}/hello", ("localhost",))
    assert result.text == "HTTP 200\nhello from the loopback page"
