"""Web page tools over the outbound address policy (`impl.outbound`): `http_get`, Dify's
`webscraper` and a local `jina_reader` (the page read here and turned into Markdown, instead of
the r.jina.ai service).

The host is resolved and refused when any of its addresses is not public, unless the allow-list
admits it; redirects are followed by hand (at most 3), each hop checked; each request connects to
the address that was checked (`outbound.pin`), so a second DNS answer cannot redirect it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import httpx

from impl import outbound
from impl.tools.base import Param, Tool, ToolContext, ToolError, ToolResult

HTTP_TIMEOUT = 10.0
HTTP_MAX_BYTES = 1024 * 1024
HTTP_MAX_TEXT = 4000
PAGE_MAX_TEXT = 20000
MAX_REDIRECTS = 3
USER_AGENT = "dify-service-tools"


async def check_url(url: str, allowed: tuple[str, ...]) -> outbound.Address:
    try:
        return await outbound.check(url, allowed)
    except outbound.Refused as exc:
        raise ToolError(f"refused: {exc.host} resolves to the non-public address {exc.address}") from None
    except outbound.InvalidUrl:
        raise ToolError("only http and https URLs with a host are allowed") from None
    except outbound.OutboundError as exc:
        raise ToolError(str(exc)) from None


async def fetch(url: str, allowed: tuple[str, ...], user_agent: str = USER_AGENT) -> tuple[int, str, str]:
    """(status, content type, text) of a GET, under the outbound policy."""
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False, trust_env=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            target, host, server_name = outbound.pin(url, await check_url(url, allowed))
            try:
                async with client.stream(
                    "GET",
                    target,
                    headers={"User-Agent": user_agent, "Host": host},
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
            return response.status_code, response.headers.get("content-type", ""), text
    raise ToolError(f"more than {MAX_REDIRECTS} redirects")


_BLOCK = {"p", "div", "section", "article", "header", "footer", "tr", "table", "ul", "ol", "br", "hr"}
_SKIP = {"script", "style", "noscript", "template", "svg", "head"}


class _Markdown(HTMLParser):
    """HTML to Markdown-ish text: headings, paragraphs, list items, links; scripts dropped."""

    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.out: list[str] = []
        self.skip = 0
        self.title = ""
        self.in_title = False
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in _SKIP:
            self.skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in _BLOCK:
            self.out.append("\n\n")
        elif tag == "a":
            href = dict(attrs).get("href")
            self.href = urljoin(self.base, href) if href and not href.startswith("javascript:") else None
            if self.href:
                self.out.append("[")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "a" and self.href:
            self.out.append(f"]({self.href})")
            self.href = None

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        if not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))

    def markdown(self) -> str:
        text = "".join(self.out)
        text = re.sub(r"[ \t]+\n", "\n", text)
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_markdown(html: str, base: str = "") -> tuple[str, str]:
    """(title, Markdown) of an HTML page."""
    parser = _Markdown(base)
    parser.feed(html)
    parser.close()
    return parser.title.strip(), parser.markdown()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


def _url(args: dict[str, Any]) -> str:
    url = args.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ToolError("the argument 'url' (a string) is required")
    return url.strip()


async def http_get(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    status, _, text = await fetch(_url(args), ctx.allowed_hosts)
    return ToolResult(f"HTTP {status}\n{_clip(text, HTTP_MAX_TEXT)}")


async def read_page(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    url = _url(args)
    status, kind, body = await fetch(url, ctx.allowed_hosts, str(args.get("user_agent") or USER_AGENT))
    if status >= 400:
        raise ToolError(f"the page answered HTTP {status}")
    if "html" in kind or body.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        title, text = html_to_markdown(body, url)
        text = f"# {title}\n\n{text}" if title else text
    else:
        text = body
    text = _clip(text, PAGE_MAX_TEXT)
    if args.get("generate_summary") is True:
        text = _clip(text, 1000)
    return ToolResult(text)


_URL = Param("url", required=True, description="http or https URL of the page")

TOOLS: tuple[Tool, ...] = (
    Tool(
        "http",
        "http_get",
        "HTTP GET",
        "Fetches a public web page and returns its status and text.",
        (_URL,),
        http_get,
    ),
    Tool(
        "webscraper",
        "webscraper",
        "Web Scraper",
        "Reads a web page and returns its text as Markdown.",
        (
            _URL,
            Param("user_agent", form="form", description="User-Agent header"),
            Param("generate_summary", type="boolean", form="form", description="return only the start"),
        ),
        read_page,
    ),
    Tool(
        "jina",
        "jina_reader",
        "JinaReader",
        "Reads a web page and turns it into Markdown for a model.",
        (_URL,),
        read_page,
    ),
)
