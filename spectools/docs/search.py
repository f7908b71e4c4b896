"""The offline search index of one language: every titled section of every page.

The index is a small JavaScript file (`<lang>/search-index.js`, assigning
`window.difyDocsIndex`) rather than JSON, so that the site also searches when opened from disk
(`file://`), where pages cannot fetch files.  Entries are `[page, anchor, title, text,
page title]`.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

_HEADINGS = {"h1", "h2", "h3", "h4"}
_SKIP = {"script", "style", "nav", "header", "pre", "details"}
_TEXT_LIMIT = 600


class _Sections(HTMLParser):
    """Splits a page's `<main>` into sections at headings; the anchor is the nearest id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_main = 0
        self.skip = 0
        self.anchor = ""
        self.heading: list[str] | None = None
        self.entries: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main":
            self.in_main += 1
            return
        if not self.in_main:
            return
        if tag in _SKIP:
            self.skip += 1
            return
        ident = dict(attrs).get("id")
        if ident and not self.skip:
            self.anchor = ident
        if tag in _HEADINGS and not self.skip:
            self.heading = []
            self.entries.append([self.anchor, "", ""])

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.in_main -= 1
        elif self.in_main and tag in _SKIP:
            self.skip -= 1
        elif tag in _HEADINGS and self.heading is not None:
            self.entries[-1][1] = " ".join("".join(self.heading).split())
            self.heading = None

    def handle_data(self, data: str) -> None:
        if not self.in_main or self.skip or not self.entries:
            return
        if self.heading is not None:
            self.heading.append(data)
            return
        entry = self.entries[-1]
        if len(entry[2]) < _TEXT_LIMIT:
            entry[2] = (entry[2] + " " + " ".join(data.split())).strip()[:_TEXT_LIMIT]


def page_entries(page: str, html: str) -> list[list[str]]:
    parser = _Sections()
    parser.feed(html)
    page_title = parser.entries[0][1] if parser.entries else page
    return [[page, anchor, title, text, page_title] for anchor, title, text in parser.entries if title]


def index_script(entries: list[list[str]]) -> str:
    data = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
    data = re.sub(r"</", "<\\\\/", data)
    return f"window.difyDocsIndex = {data};\n"
