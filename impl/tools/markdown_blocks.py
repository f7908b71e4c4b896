"""Markdown read into a flat list of blocks, for the `md_exporter` tools to write as files.

The parser is markdown-it-py (CommonMark with GFM tables and strikethrough): it is already on
every install (rich, which the MCP SDK uses, depends on it), it follows the CommonMark spec
instead of a home-grown reading, its token stream is easy to walk into DOCX/PPTX shapes, and its
HTML renderer serves the HTML and XML outputs.  (mistune is not installed; Python-Markdown, which
the plugin uses, is not either.)

A block is a heading, a paragraph, a list item (with its nesting depth and number), a table (rows
of cell texts, the first row the header), a code block (with its language), a quote or a rule.
Inline text is kept as runs with bold, italic, code and strikethrough flags.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

from impl.tools.base import ToolError

_THINK = re.compile(r"<think>.*?</think>", flags=re.DOTALL)


@dataclass(frozen=True)
class Run:
    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    strike: bool = False


@dataclass(frozen=True)
class Block:
    kind: str  # heading | paragraph | item | table | code | quote | rule
    runs: tuple[Run, ...] = ()
    level: int = 0  # heading level (1-6), or list depth (1 = top level)
    ordered: bool = False
    number: int = 0  # an ordered item's number
    rows: tuple[tuple[str, ...], ...] = ()  # table rows, the header first
    language: str = ""  # a code block's info string (first word)
    code: str = ""

    @property
    def text(self) -> str:
        return "".join(r.text for r in self.runs)


def parser(*, html: bool = True) -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": html}).enable(["table", "strikethrough"])


def prepare(raw: object, *, strip_wrapper: bool = True) -> str:
    """The plugin's input handling: trimmed, `<think>` sections dropped, a fence around the whole
    text removed (```markdown, or a bare ``` with no fence inside it, so a text that starts and
    ends with two code blocks keeps them), literal `\\n` read as line breaks; empty input fails."""
    text = str(raw or "").strip()
    if not text:
        raise ToolError("Empty input md_text")
    text = _THINK.sub("", text).strip()
    if strip_wrapper and text.endswith("```") and "\n" in text:
        first, inner = text.split("\n", 1)
        inner = inner[:-3]
        language = first[3:].strip().lower() if first.startswith("```") else None
        nested = any(line.lstrip().startswith("```") for line in inner.split("\n"))
        if language in ("markdown", "md") or (language == "" and not nested):
            text = inner.strip("\n")
    if "\\n" in text:
        text = text.replace("\\n", "\n")
    if not text.strip():
        raise ToolError("Empty input md_text")
    return text


def _runs(token: Token | None) -> tuple[Run, ...]:
    """The inline children of a token as runs."""
    if token is None or not token.children:
        return (Run(token.content),) if token is not None and token.content else ()
    runs: list[Run] = []
    bold = italic = strike = 0
    for child in token.children:
        kind = child.type
        if kind == "strong_open":
            bold += 1
        elif kind == "strong_close":
            bold -= 1
        elif kind == "em_open":
            italic += 1
        elif kind == "em_close":
            italic -= 1
        elif kind == "s_open":
            strike += 1
        elif kind == "s_close":
            strike -= 1
        elif kind in ("softbreak", "hardbreak"):
            runs.append(Run("\n" if kind == "hardbreak" else " ", bold > 0, italic > 0))
        elif kind == "code_inline":
            runs.append(Run(child.content, bold > 0, italic > 0, code=True))
        elif kind == "image":
            runs.append(Run(child.content or str(child.attrs.get("alt") or ""), bold > 0, italic > 0))
        elif kind in ("text", "html_inline"):
            runs.append(Run(child.content, bold > 0, italic > 0, strike=strike > 0))
    merged: list[Run] = []
    for run in runs:
        last = merged[-1] if merged else None
        if last is not None and (last.bold, last.italic, last.code, last.strike) == (
            run.bold,
            run.italic,
            run.code,
            run.strike,
        ):
            merged[-1] = Run(last.text + run.text, run.bold, run.italic, run.code, run.strike)
        else:
            merged.append(run)
    return tuple(merged)


@dataclass
class _Walk:
    tokens: Sequence[Token]
    blocks: list[Block] = field(default_factory=list)
    lists: list[list[int]] = field(default_factory=list)  # per open list: [ordered, next number]
    item_started: list[bool] = field(default_factory=list)
    quote: int = 0

    def run(self) -> list[Block]:
        i = 0
        tokens = self.tokens
        while i < len(tokens):
            token = tokens[i]
            kind = token.type
            if kind == "heading_open":
                self.blocks.append(Block("heading", _runs(tokens[i + 1]), level=int(token.tag[1:])))
                i += 3
                continue
            if kind in ("bullet_list_open", "ordered_list_open"):
                start = int(token.attrs.get("start") or 1) if kind == "ordered_list_open" else 0
                self.lists.append([int(kind == "ordered_list_open"), start])
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
            elif kind == "list_item_open":
                self.item_started.append(False)
            elif kind == "list_item_close":
                if not self.item_started.pop():  # an empty item
                    self._item(())
            elif kind == "blockquote_open":
                self.quote += 1
            elif kind == "blockquote_close":
                self.quote -= 1
            elif kind == "paragraph_open":
                self._paragraph(_runs(tokens[i + 1]))
                i += 3
                continue
            elif kind in ("fence", "code_block"):
                language = (token.info or "").strip().split(" ")[0] if kind == "fence" else ""
                self.blocks.append(Block("code", language=language, code=token.content.rstrip("\n")))
            elif kind == "html_block" and token.content.strip():
                self._paragraph((Run(token.content.strip()),))
            elif kind == "hr":
                self.blocks.append(Block("rule"))
            elif kind == "table_open":
                i = self._table(i)
                continue
            i += 1
        return self.blocks

    def _item(self, runs: tuple[Run, ...]) -> None:
        ordered, number = self.lists[-1]
        self.blocks.append(Block("item", runs, level=len(self.lists), ordered=bool(ordered), number=number))
        self.lists[-1][1] = number + 1

    def _paragraph(self, runs: tuple[Run, ...]) -> None:
        if self.item_started and not self.item_started[-1]:
            self.item_started[-1] = True
            self._item(runs)
        elif self.quote:
            self.blocks.append(Block("quote", runs))
        else:
            self.blocks.append(Block("paragraph", runs, level=len(self.lists)))

    def _table(self, i: int) -> int:
        rows: list[tuple[str, ...]] = []
        row: list[str] = []
        tokens = self.tokens
        while i < len(tokens) and tokens[i].type != "table_close":
            kind = tokens[i].type
            if kind == "tr_open":
                row = []
            elif kind in ("th_open", "td_open"):
                row.append("".join(r.text for r in _runs(tokens[i + 1])).strip())
                i += 2
            elif kind == "tr_close":
                rows.append(tuple(row))
            i += 1
        self.blocks.append(Block("table", rows=tuple(rows)))
        return i + 1


def blocks(markdown: str) -> list[Block]:
    """The blocks of a Markdown text, in order."""
    return _Walk(parser().parse(markdown)).run()


@dataclass(frozen=True)
class Table:
    rows: tuple[tuple[str, ...], ...]
    title: str = ""  # the nearest heading above the table

    @property
    def header(self) -> tuple[str, ...]:
        return self.rows[0] if self.rows else ()

    @property
    def body(self) -> tuple[tuple[str, ...], ...]:
        return self.rows[1:]


def tables(markdown: str) -> list[Table]:
    """The tables of a Markdown text, each with the heading above it; none fails as the plugin
    does ("No available tables ...")."""
    found: list[Table] = []
    title = ""
    for block in blocks(markdown):
        if block.kind == "heading":
            title = block.text.strip()
        elif block.kind == "table" and block.rows:
            found.append(Table(block.rows, title))
    if not found:
        raise ToolError("Failed to parse markdown to tables: no available tables parsed from markdown text")
    return found
