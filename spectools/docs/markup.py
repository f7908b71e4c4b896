"""A deliberately small Markdown subset for spec descriptions and topic prose.

Blocks: paragraphs, `-`/`*` and `1.` lists, fenced code, `#`-headings (shifted down), and
`|` tables.  Inline: `` `code` ``, `**bold**`, `*em*`, `[text](url)`.  Everything else is
escaped text, so a description can never inject markup into a page.
"""

from __future__ import annotations

import re
from html import escape

from markupsafe import Markup

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|\[([^\]]+)\]\(([^)\s]+)\)")
_LIST = re.compile(r"^\s*(?:[-*]|\d+\.)\s+")
_SAFE_URL = re.compile(r"^(https?://|#|\.{0,2}/|[\w.-]+\.html(#[\w.-]*)?$)")


def inline(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(escape(text[pos : m.start()], quote=False))
        code, bold, em, label, url = m.groups()
        if code is not None:
            out.append(f"<code>{escape(code, quote=False)}</code>")
        elif bold is not None:
            out.append(f"<strong>{inline(bold)}</strong>")
        elif em is not None:
            out.append(f"<em>{inline(em)}</em>")
        elif _SAFE_URL.match(url):
            out.append(f'<a href="{escape(url)}">{inline(label)}</a>')
        else:
            out.append(escape(m.group(0), quote=False))
        pos = m.end()
    out.append(escape(text[pos:], quote=False))
    return "".join(out)


def _table(lines: list[str]) -> str:
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
    rows = [r for r in rows if not all(set(c) <= set("-: ") for c in r)]
    if not rows:
        return ""
    head = "".join(f"<th>{inline(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(text: str | None) -> Markup:
    """Render the Markdown subset to HTML (safe to embed)."""
    if not text:
        return Markup("")
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        if stripped.startswith("```"):
            lang = stripped[3:].strip()
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            i += 1
            cls = f' class="lang-{escape(lang)}"' if lang else ""
            code = escape(chr(10).join(body), quote=False)
            blocks.append(f'<pre class="code"><code{cls}>{code}</code></pre>')
            continue
        if stripped.startswith("#"):
            level = min(6, len(stripped) - len(stripped.lstrip("#")) + 2)
            blocks.append(f"<h{level}>{inline(stripped.lstrip('#').strip())}</h{level}>")
            i += 1
            continue
        if stripped.startswith("|"):
            rows: list[str] = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(lines[i])
                i += 1
            blocks.append(_table(rows))
            continue
        if _LIST.match(line):
            ordered = bool(re.match(r"^\s*\d+\.", line))
            items: list[str] = []
            while i < len(lines) and lines[i].strip():
                if _LIST.match(lines[i]):
                    items.append(_LIST.sub("", lines[i], count=1))
                elif items:
                    items[-1] += " " + lines[i].strip()
                i += 1
            tag = "ol" if ordered else "ul"
            blocks.append(f"<{tag}>" + "".join(f"<li>{inline(it)}</li>" for it in items) + f"</{tag}>")
            continue
        para: list[str] = []
        while (
            i < len(lines)
            and lines[i].strip()
            and not _LIST.match(lines[i])
            and not lines[i].strip().startswith(("```", "|", "#"))
        ):
            para.append(lines[i].strip())
            i += 1
        blocks.append(f"<p>{inline(' '.join(para))}</p>")
    return Markup("\n".join(blocks))


def to_inline_html(text: str | None) -> Markup:
    """One line of inline Markdown (table cells)."""
    if not text:
        return Markup("")
    html = to_html(text)
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        return Markup(html[3:-4])
    return html


def md_cell(text: str | None) -> str:
    """Text made safe for one Markdown table cell."""
    if not text:
        return ""
    return " ".join(text.split()).replace("|", "\\|")
