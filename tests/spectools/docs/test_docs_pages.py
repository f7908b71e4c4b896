"""The built site: every page exists, anchors are unique, operations appear, examples are valid."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _docs_paths import DOCS, SPEC
from _schemas import validate

from spectools.docs.catalog import LANGS
from spectools.docs.pages import PAGES, PageBuilder, Translator
from spectools.docs.render import Site
from spectools.docs.spec import MODES, load_bundle

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name == "href" and value:
                self.hrefs.append(value)


def _parse(path: Path) -> _Ids:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_page_in_every_language(built_site: Path) -> None:
    for lang in LANGS:
        for page in PAGES:
            for fmt in ("html", "md"):
                path = built_site / lang / f"{page}.{fmt}"
                assert path.stat().st_size > 500, path
    assert (built_site / "static" / "docs.css").exists()
    assert (built_site / "static" / "docs.js").exists()


def test_no_cjk_on_english_pages(built_site: Path) -> None:
    for path in sorted((built_site / "en").iterdir()):
        text = path.read_text(encoding="utf-8")
        # The language switcher names the other languages in their own script, by design.
        text = text.replace("简体中文", "").replace("日本語", "")
        found = CJK.findall(text)
        assert not found, f"{path.name}: {''.join(found[:20])}"


def test_anchors_unique_and_links_resolve(built_site: Path) -> None:
    for lang in LANGS:
        for page in PAGES:
            parsed = _parse(built_site / lang / f"{page}.html")
            dupes = {i for i in parsed.ids if parsed.ids.count(i) > 1}
            assert not dupes, f"{lang}/{page}: duplicate ids {sorted(dupes)}"
            for href in parsed.hrefs:
                if href.startswith("#"):
                    assert href[1:] in parsed.ids, f"{lang}/{page}: dangling {href}"
                elif not href.startswith(("http://", "https://")):
                    target = (built_site / lang / href.split("#")[0]).resolve()
                    assert target.exists(), f"{lang}/{page}: broken link {href}"


def test_every_operation_of_a_mode_on_its_page() -> None:
    bundle = load_bundle(SPEC)
    assert bundle.operations, "spec/openapi.yaml has no operations"
    site = Site.load(SPEC, DOCS)
    for mode in MODES:
        expected = [op.operation_id for op in bundle.operations_for(mode)]
        assert expected, f"no operation serves {mode}"
        for lang in LANGS:
            text, _ = site.render(lang, mode, "html")
            parser = _Ids()
            parser.feed(text)
            missing = [op for op in expected if op not in parser.ids]
            assert not missing, f"{lang}/{mode}: missing {missing}"
            others = {op.operation_id for op in bundle.operations} - set(expected)
            assert not (others & set(parser.ids)), f"{lang}/{mode}: operations of other modes"


@pytest.mark.parametrize("mode", MODES)
def test_examples_validate_against_their_schemas(site: Site, mode: str) -> None:
    builder = PageBuilder(site.bundle, Translator("en", site.catalogs["en"], site.ui), "http://x/v1")
    page = builder.mode_page(mode)
    assert page.examples, mode
    for ex in page.examples:
        assert ex.schema_loc is not None, ex.title
        if ex.kind == "sse":
            frames = [f for f in ex.text.split("\n\n") if f]
            assert frames and all(f.startswith("data: ") for f in frames)
            for frame, value in zip(frames, ex.value, strict=True):
                assert json.loads(frame[len("data: ") :]) == value
                validate(site.bundle, value, ex.schema_loc)
        else:
            assert json.loads(ex.text) == ex.value
            validate(site.bundle, ex.value, ex.schema_loc)


def test_rendered_code_blocks_parse(built_site: Path) -> None:
    block = re.compile(r'<code class="lang-(json|sse)"[^>]*>(.*?)</code>', re.S)
    count = 0
    for lang in LANGS:
        for mode in MODES:
            text = (built_site / lang / f"{mode}.html").read_text(encoding="utf-8")
            for kind, body in block.findall(text):
                body = html.unescape(body)
                if kind == "json":
                    json.loads(body)
                else:
                    for frame in filter(None, body.split("\n\n")):
                        assert frame.startswith("data: ")
                        json.loads(frame[len("data: ") :])
                count += 1
    assert count > 50


def test_streaming_samples_follow_the_grammar(site: Site) -> None:
    from spectools.docs.streams import grammars, happy_path

    all_grammars = grammars(site.bundle)
    assert all_grammars
    for g in all_grammars:
        path = happy_path(g)
        assert path, g.name
        assert g.accepts(path), (g.name, path)
