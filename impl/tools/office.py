"""Office files written from Markdown blocks (`impl.tools.markdown_blocks`): DOCX with
python-docx, PPTX with python-pptx, XLSX with openpyxl, each from the library's own default
template (the plugin renders DOCX and PPTX with pandoc and its bundled templates instead).

DOCX: headings as Word headings, paragraphs with bold/italic/strikethrough runs and inline code in
a monospace font, lists in the List Bullet / List Number styles (nesting up to three levels),
tables in the Table Grid style with a bold header row, code blocks in a monospace font, quotes in
the Quote style.  PPTX: slides cut as pandoc cuts them: the slide level is the deepest heading
level that is directly followed by content; a heading above it makes a section slide, a heading
at it starts a slide, and a rule (`---`) starts a new slide too; text, lists and code become the
slide's body and a table becomes a table shape.  XLSX: one worksheet per table, named after the
heading above it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

from impl.tools.markdown_blocks import Block, Run, Table

MONOSPACE = "Courier New"


# --- DOCX --------------------------------------------------------------------------------------


def docx_bytes(items: Sequence[Block]) -> bytes:
    import docx
    from docx.shared import Pt
    from docx.text.paragraph import Paragraph

    document = docx.Document()
    style_names = {s.name for s in document.styles}

    def add_runs(paragraph: Paragraph, runs: Sequence[Run]) -> None:
        for run in runs:
            piece = paragraph.add_run(run.text)
            piece.bold = run.bold or None
            piece.italic = run.italic or None
            if run.strike:
                piece.font.strike = True
            if run.code:
                piece.font.name = MONOSPACE

    for block in items:
        if block.kind == "heading":
            add_runs(document.add_heading("", level=min(block.level, 9)), block.runs)
        elif block.kind == "item":
            base = "List Number" if block.ordered else "List Bullet"
            depth = min(block.level, 3)
            style = base if depth == 1 else f"{base} {depth}"
            add_runs(document.add_paragraph(style=style if style in style_names else base), block.runs)
        elif block.kind == "quote":
            add_runs(document.add_paragraph(style="Quote" if "Quote" in style_names else None), block.runs)
        elif block.kind == "paragraph":
            add_runs(document.add_paragraph(), block.runs)
        elif block.kind == "code":
            paragraph = document.add_paragraph()
            piece = paragraph.add_run(block.code)
            piece.font.name = MONOSPACE
            piece.font.size = Pt(9)
        elif block.kind == "table" and block.rows:
            width = max(len(r) for r in block.rows)
            table = document.add_table(rows=len(block.rows), cols=width)
            if "Table Grid" in style_names:
                table.style = document.styles["Table Grid"]
            for r, row in enumerate(block.rows):
                for c, value in enumerate(row):
                    cell = table.cell(r, c)
                    cell.text = value
                    if r == 0:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
        elif block.kind == "rule":
            document.add_paragraph("")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- PPTX --------------------------------------------------------------------------------------

TITLE_LAYOUT, CONTENT_LAYOUT, SECTION_LAYOUT, TITLE_ONLY_LAYOUT = 0, 1, 2, 5


def slide_level(items: Sequence[Block]) -> int:
    """Pandoc's rule: the deepest heading level directly followed by something not a heading."""
    level = 0
    for here, after in zip(items, [*items[1:], None], strict=True):
        if here.kind == "heading" and after is not None and after.kind != "heading":
            level = max(level, here.level)
    return level or 1


def slides(items: Sequence[Block]) -> list[tuple[str, list[Block], bool]]:
    """The slides: (title, body blocks, is a section slide)."""
    level = slide_level(items)
    found: list[tuple[str, list[Block], bool]] = []
    for block in items:
        if block.kind == "heading" and block.level <= level:
            found.append((block.text.strip(), [], block.level < level))
        elif block.kind == "rule":
            found.append(("", [], False))
        else:
            if not found or found[-1][2]:
                found.append(("", [], False))
            found[-1][1].append(block)
    return [s for s in found if s[0] or s[1]]


def pptx_bytes(items: Sequence[Block]) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches, Pt

    deck = Presentation()
    for title, body, section in slides(items):
        table = next((b for b in body if b.kind == "table" and b.rows), None)
        text_blocks = [b for b in body if b.kind != "table"]
        if section:
            slide = deck.slides.add_slide(deck.slide_layouts[SECTION_LAYOUT])
        elif text_blocks or table is None:
            slide = deck.slides.add_slide(deck.slide_layouts[CONTENT_LAYOUT])
        else:
            slide = deck.slides.add_slide(deck.slide_layouts[TITLE_ONLY_LAYOUT])
        if slide.shapes.title is not None:
            slide.shapes.title.text = title
        placeholders = [p for p in slide.placeholders if p.placeholder_format.idx != 0]
        if text_blocks and placeholders:
            frame = placeholders[0].text_frame
            first = True
            for block in text_blocks:
                lines = block.code.split("\n") if block.kind == "code" else [block.text]
                for line in lines:
                    paragraph = frame.paragraphs[0] if first else frame.add_paragraph()
                    first = False
                    paragraph.level = max(0, block.level - 1) if block.kind == "item" else 0
                    if block.kind == "code":
                        run = paragraph.add_run()
                        run.text = line
                        run.font.name = MONOSPACE
                        run.font.size = Pt(12)
                        continue
                    for piece in block.runs or (Run(line),):
                        run = paragraph.add_run()
                        run.text = piece.text
                        run.font.bold = piece.bold or None
                        run.font.italic = piece.italic or None
                        if piece.code:
                            run.font.name = MONOSPACE
        elif placeholders and table is not None:
            placeholders[0].element.getparent().remove(placeholders[0].element)
        if table is not None:
            width = max(len(r) for r in table.rows)
            top = Inches(4.2) if text_blocks else Inches(1.6)
            height = Inches(0.4) * len(table.rows)
            shape = slide.shapes.add_table(len(table.rows), width, Inches(0.5), top, Inches(9), height)
            for r, row in enumerate(table.rows):
                for c, value in enumerate(row):
                    shape.table.cell(r, c).text = value
    if not deck.slides:
        deck.slides.add_slide(deck.slide_layouts[TITLE_LAYOUT])
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


# --- XLSX --------------------------------------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def sheet_name(title: str, index: int, taken: set[str]) -> str:
    base = _SHEET_FORBIDDEN.sub(" ", title).strip()[:30] or f"Sheet{index}"
    name, n = base, 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


def xlsx_bytes(found: Sequence[Table], *, force_text: bool = True) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    first = book.active
    if first is not None:
        book.remove(first)
    taken: set[str] = set()
    for i, table in enumerate(found, start=1):
        sheet = book.create_sheet(sheet_name(table.title, i, taken))
        for r, row in enumerate(table.rows, start=1):
            for c, value in enumerate(row, start=1):
                cell_value: str | int | float = value
                if not force_text and r > 1 and _NUMBER.fullmatch(value):
                    cell_value = float(value) if "." in value else int(value)
                cell = sheet.cell(row=r, column=c, value=cell_value)
                if r == 1:
                    cell.font = Font(bold=True)
        for c in range(1, max(len(r) for r in table.rows) + 1):
            longest = max(len(row[c - 1]) if c - 1 < len(row) else 0 for row in table.rows)
            sheet.column_dimensions[sheet.cell(row=1, column=c).column_letter].width = min(60, longest + 4)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
