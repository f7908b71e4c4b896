"""Render pages (HTML and Markdown) from page models with the Jinja templates of `docs/templates`."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from spectools.docs import DEFAULT_BASE_URL, markup
from spectools.docs.catalog import LANGS, Catalog, load_sources
from spectools.docs.pages import PAGES, TOPICS, PageBuilder, Translator
from spectools.docs.search import index_script, page_entries
from spectools.docs.spec import MODES, SpecBundle, load_bundle

LANG_NAMES = {"en": "English", "zh": "简体中文", "ja": "日本語"}
HTML_LANG = {"en": "en", "zh": "zh-Hans", "ja": "ja"}


@dataclass
class Site:
    """Everything a build needs, loaded once: spec, catalogs and one Jinja environment per language."""

    spec_dir: Path
    docs_dir: Path
    bundle: SpecBundle
    ui: dict[str, str]
    catalogs: dict[str, Catalog]
    envs: dict[str, jinja2.Environment]
    _builders: dict[tuple[str, str], PageBuilder] = field(default_factory=dict)

    @classmethod
    def load(cls, spec_dir: Path, docs_dir: Path) -> Site:
        bundle = load_bundle(spec_dir)
        sources = load_sources(bundle, docs_dir)
        catalogs = {lang: Catalog.load(docs_dir, lang) for lang in LANGS}
        envs = {lang: _environment(docs_dir / "templates", lang) for lang in LANGS}
        return cls(spec_dir, docs_dir, bundle, sources.ui, catalogs, envs)

    def render(
        self, lang: str, page: str, fmt: str = "html", base_url: str | None = None
    ) -> tuple[str, Translator]:
        """One page as text (`fmt` is `html` or `md`), plus the translator (for its fallbacks)."""
        if lang not in LANGS or page not in PAGES or fmt not in ("html", "md"):
            raise KeyError(f"{lang}/{page}.{fmt}")
        memo_key = (lang, base_url or DEFAULT_BASE_URL)
        if memo_key not in self._builders:
            if len(self._builders) > 32:  # the docs server sees one base URL per Host header
                self._builders.clear()
            t = Translator(lang, self.catalogs[lang], self.ui)
            self._builders[memo_key] = PageBuilder(self.bundle, t, base_url or DEFAULT_BASE_URL)
        builder = self._builders[memo_key]
        t = builder.t
        ctx: dict[str, Any] = {
            "lang": lang,
            "html_lang": HTML_LANG[lang],
            "langs": [(code, LANG_NAMES[code]) for code in LANGS],
            "page": page,
            "ui": t.ui,
            "modes": MODES,
            "topics": TOPICS,
            "base_url": base_url or DEFAULT_BASE_URL,
            "b": builder,
        }
        if page in MODES:
            template, ctx["model"] = "mode", builder.mode_page(page)
        elif page in TOPICS:
            template = "topic"
        else:
            template = "index"
            ctx["mode_counts"] = {m: len(self.bundle.operations_for(m)) for m in MODES}
        text = self.envs[lang].get_template(f"{template}.{fmt}.j2").render(ctx)
        return text, t

    def search_index(self, lang: str, base_url: str | None = None) -> str:
        """`<lang>/search-index.js`: every titled section of every HTML page of `lang`."""
        entries: list[list[str]] = []
        for page in PAGES:
            html, _ = self.render(lang, page, "html", base_url)
            entries.extend(page_entries(page, html))
        return index_script(entries)


def _environment(templates: Path, lang: str) -> jinja2.Environment:
    search = [templates / lang] + ([templates / "en"] if lang != "en" else [])
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = markup.to_html
    env.filters["mdi"] = markup.to_inline_html
    env.filters["cell"] = markup.md_cell
    return env


def build_site(
    spec_dir: Path,
    docs_dir: Path,
    out_dir: Path,
    langs: Sequence[str] | None = None,
    base_url: str | None = None,
) -> list[Path]:
    """Render every page of every language (HTML and Markdown) under `out_dir`; returns the files."""
    site = Site.load(spec_dir, docs_dir)
    chosen = list(langs) if langs else list(LANGS)
    unknown = [lang for lang in chosen if lang not in LANGS]
    if unknown:
        raise ValueError(f"unknown language(s): {', '.join(unknown)}; choose from {', '.join(LANGS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for lang in chosen:
        (out_dir / lang).mkdir(exist_ok=True)
        entries: list[list[str]] = []
        for page in PAGES:
            for fmt in ("html", "md"):
                text, _ = site.render(lang, page, fmt, base_url)
                path = out_dir / lang / f"{page}.{fmt}"
                path.write_text(text, encoding="utf-8")
                written.append(path)
                if fmt == "html":
                    entries.extend(page_entries(page, text))
        index = out_dir / lang / "search-index.js"
        index.write_text(index_script(entries), encoding="utf-8")
        written.append(index)
    static_out = out_dir / "static"
    static_out.mkdir(exist_ok=True)
    for src in sorted((docs_dir / "static").glob("*")):
        if src.is_file():
            shutil.copyfile(src, static_out / src.name)
            written.append(static_out / src.name)
    root = out_dir / "index.html"
    root.write_text(_ROOT_INDEX.format(lang=chosen[0]), encoding="utf-8")
    written.append(root)
    return written


_ROOT_INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>Dify Service API</title>
<meta http-equiv="refresh" content="0; url={lang}/index.html"></head>
<body><p><a href="{lang}/index.html">Dify Service API</a></p></body></html>
"""
