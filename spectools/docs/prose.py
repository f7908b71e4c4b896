"""English left on a translated page: `dify-docs check` fails on it.

The catalogs can be complete while a page still shows English: text the renderer takes from
somewhere the catalog extraction does not look, or a template string that bypasses the
catalogs.  This check reads what readers read: it renders every zh and ja page and looks, in the
visible text outside code, for a run of four or more Latin-script words.  Product names and wire
literals are single words or sit in `code`, so they never form such a run.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

_CODE = {"code", "pre", "script", "style", "kbd", "samp"}
_RUN = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ ,;:()/-]+[A-Za-z][A-Za-z'’-]*){3,}")


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.runs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _CODE:
            self.skip += 1
        for name, value in attrs:
            if name in ("placeholder", "aria-label", "title", "data-none", "data-need-key") and value:
                self.runs.extend(_RUN.findall(value))

    def handle_endtag(self, tag: str) -> None:
        if tag in _CODE and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.runs.extend(_RUN.findall(data))


def english_runs(html: str) -> list[str]:
    """Runs of four or more Latin-script words in the visible, non-code text of a page."""
    parser = _Visible()
    parser.feed(html)
    return parser.runs


def check_prose(spec_dir: Path, docs_dir: Path, langs: tuple[str, ...] = ("zh", "ja")) -> list[str]:
    """`<lang>/<page>.html: "<english>"` for every English run on a translated page."""
    from spectools.docs.pages import PAGES
    from spectools.docs.render import Site

    site = Site.load(spec_dir, docs_dir)
    problems: list[str] = []
    for lang in langs:
        for page in PAGES:
            html, _ = site.render(lang, page, "html")
            seen: set[str] = set()
            for run in english_runs(html):
                if run not in seen:
                    seen.add(run)
                    problems.append(f'{lang}/{page}.html: English on the page: "{run}"')
    return problems
