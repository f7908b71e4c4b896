"""The `md_exporter` provider (Dify plugin `bowenliang123/md_exporter`): Markdown text in, files
out, all offline.  Tool names, parameter names and forms, MIME types and file names follow the
plugin's tool declarations; the conversions are this server's own (markdown-it-py plus
python-docx, python-pptx and openpyxl, see `impl.tools.office`), not pandoc's.

Every tool reads `md_text` as the plugin does (`markdown_blocks.prepare`).  On success a tool
returns only its file(s), no text, as the plugin does (`md_to_html_text` returns the HTML as text).
A failed conversion fails the tool for `md_to_docx`, `md_to_pptx`, `md_to_html`, `md_to_ipynb` and
`md_to_codeblock`; the others answer with the plugin's "Failed to convert ..." text and no file.
`output_filename` names the file (its extension added when missing); without it the file gets a
random name, as Dify names blobs.  Table tools (`md_to_csv`, `md_to_json`, `md_to_latex`) make one
file per table, `<name>_<n>` when there are several.  `md_to_pdf` prints this server's HTML of the
text with headless Chromium and `md_to_png` renders that PDF's pages as PNG images
(`impl.tools.pdf_render`); without Chromium they fail with a clear error.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import re
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from typing import Any

from impl.tools.base import Param, Tool, ToolContext, ToolError, ToolFile, ToolResult
from impl.tools.markdown_blocks import Table, blocks, parser, prepare, tables
from impl.tools.office import docx_bytes, pptx_bytes, xlsx_bytes
from impl.tools.pdf_render import html_to_pdf, page, pdf_to_pngs

PROVIDER = "md_exporter"

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXTENSIONS = {
    DOCX: ".docx",
    PPTX: ".pptx",
    XLSX: ".xlsx",
    "text/csv": ".csv",
    "application/json": ".json",
    "text/html": ".html",
    "text/markdown": ".md",
    "text/xml": ".xml",
    "application/x-tex": ".tex",
    "application/x-ipynb+json": ".ipynb",
    "application/zip": ".zip",
    "application/pdf": ".pdf",
    "image/png": ".png",
    "text/plain": ".txt",
    "text/x-python": ".py",
    "text/javascript": ".js",
    "application/x-sh": ".sh",
    "text/css": ".css",
    "image/svg+xml": ".svg",
    "text/yaml": ".yaml",
    "text/x-ruby": ".rb",
    "application/x-httpd-php": ".php",
    "text/x-java-source": ".java",
}
# A code block's language -> the MIME type of its file (others are text/plain, .txt).
CODE_TYPES = {
    "python": "text/x-python",
    "py": "text/x-python",
    "javascript": "text/javascript",
    "js": "text/javascript",
    "bash": "application/x-sh",
    "sh": "application/x-sh",
    "shell": "application/x-sh",
    "json": "application/json",
    "html": "text/html",
    "xml": "text/xml",
    "css": "text/css",
    "csv": "text/csv",
    "svg": "image/svg+xml",
    "yaml": "text/yaml",
    "yml": "text/yaml",
    "markdown": "text/markdown",
    "md": "text/markdown",
    "ruby": "text/x-ruby",
    "php": "application/x-httpd-php",
    "java": "text/x-java-source",
}
# What a kind of file is to Dify (the tool node's file `type`).
DOCUMENT_TYPES = {
    "application/pdf",
    DOCX,
    PPTX,
    XLSX,
    "text/csv",
    "text/html",
    "text/markdown",
    "text/xml",
    "text/plain",
}


UNSAFE_NAME = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


def file_name(given: Any, mime_type: str, suffix: str = "") -> str:
    """The plugin's naming: the given name (plus `suffix`) with the extension ensured, else a
    random hex name.  Characters a stored file name may not hold become `_`."""
    extension = EXTENSIONS.get(mime_type, ".bin")
    stem = UNSAFE_NAME.sub("_", str(given or "").strip())[:150]
    if not stem:
        return f"{uuid.uuid4().hex}{extension}"
    stem += suffix
    return stem if stem.lower().endswith(extension) else f"{stem}{extension}"


def make_file(name: str, mime_type: str, data: bytes) -> ToolFile:
    kind = "document" if mime_type in DOCUMENT_TYPES else "custom"
    return ToolFile(name, mime_type, data, kind)


def per_table(
    found: list[Table], given: Any, mime_type: str, render: Callable[[Table], str]
) -> tuple[ToolFile, ...]:
    many = len(found) > 1
    return tuple(
        make_file(file_name(given, mime_type, f"_{i}" if many else ""), mime_type, render(t).encode())
        for i, t in enumerate(found, start=1)
    )


# --- renderers (markdown text -> files) ----------------------------------------------------------


def to_docx(text: str, args: dict[str, Any]) -> ToolResult:
    return ToolResult(
        files=(make_file(file_name(args.get("output_filename"), DOCX), DOCX, docx_bytes(blocks(text))),)
    )


def to_pptx(text: str, args: dict[str, Any]) -> ToolResult:
    return ToolResult(
        files=(make_file(file_name(args.get("output_filename"), PPTX), PPTX, pptx_bytes(blocks(text))),)
    )


def to_xlsx(text: str, args: dict[str, Any]) -> ToolResult:
    force = str(args.get("force_text_value", "true")).strip().lower() != "false"
    data = xlsx_bytes(tables(text), force_text=force)
    return ToolResult(files=(make_file(file_name(args.get("output_filename"), XLSX), XLSX, data),))


def csv_text(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(table.rows)
    return out.getvalue()


def to_csv(text: str, args: dict[str, Any]) -> ToolResult:
    return ToolResult(files=per_table(tables(text), args.get("output_filename"), "text/csv", csv_text))


def records(table: Table) -> list[dict[str, str]]:
    header = list(table.header)
    return [{h: (row[i] if i < len(row) else "") for i, h in enumerate(header)} for row in table.body]


def to_json(text: str, args: dict[str, Any]) -> ToolResult:
    style = str(args.get("output_style") or "jsonl").strip().lower()

    def render(table: Table) -> str:
        rows = records(table)
        if style == "json_array":
            return json.dumps(rows, ensure_ascii=False)
        return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)

    return ToolResult(files=per_table(tables(text), args.get("output_filename"), "application/json", render))


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(value: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in value)


def latex_text(table: Table) -> str:
    width = max(len(r) for r in table.rows)

    def line(row: tuple[str, ...]) -> str:
        cells = [latex_escape(c) for c in row] + [""] * (width - len(row))
        return " & ".join(cells) + r" \\"

    body = [r"\begin{tabular}{" + "l" * width + "}", r"\toprule", line(table.header), r"\midrule"]
    body += [line(r) for r in table.body]
    body += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(
        [
            r"\documentclass[]{article}",
            r"\usepackage{booktabs}",
            r"\begin{document}",
            "",
            *body,
            "",
            r"\end{document}",
            "",
        ]
    )


def to_latex(text: str, args: dict[str, Any]) -> ToolResult:
    return ToolResult(
        files=per_table(tables(text), args.get("output_filename"), "application/x-tex", latex_text)
    )


def html_fragment(text: str) -> str:
    return str(parser().render(text))


def html_fragment_safe(text: str) -> str:
    """The HTML with raw HTML of the text escaped (for pages a browser renders)."""
    return str(parser(html=False).render(text))


def to_html(text: str, args: dict[str, Any]) -> ToolResult:
    data = html_fragment(text).encode()
    return ToolResult(
        files=(make_file(file_name(args.get("output_filename"), "text/html"), "text/html", data),)
    )


def to_html_text(text: str, args: dict[str, Any]) -> ToolResult:
    return ToolResult(html_fragment(text))


def to_md(text: str, args: dict[str, Any]) -> ToolResult:
    name = file_name(args.get("output_filename"), "text/markdown")
    return ToolResult(files=(make_file(name, "text/markdown", text.encode()),))


def xml_text(text: str) -> str:
    """The Markdown as XHTML under one `<div>` root (raw HTML in the text is escaped, so the
    result is well-formed; it is parsed once to make sure)."""
    import xml.dom.minidom

    document = f"<div>\n{parser(html=False).render(text)}</div>\n"
    xml.dom.minidom.parseString(document)
    return "<?xml version='1.0' encoding='UTF-8'?>\n" + document


def to_xml(text: str, args: dict[str, Any]) -> ToolResult:
    data = xml_text(text).encode()
    return ToolResult(
        files=(make_file(file_name(args.get("output_filename"), "text/xml"), "text/xml", data),)
    )


def notebook(text: str) -> dict[str, Any]:
    """An nbformat 4 notebook: each fenced code block a code cell, the text between them a
    Markdown cell."""
    cells: list[dict[str, Any]] = []
    lines = text.split("\n")
    prose: list[str] = []
    code: list[str] | None = None

    def source(chunk: list[str]) -> list[str]:
        return [line + "\n" for line in chunk[:-1]] + chunk[-1:]

    def flush_prose() -> None:
        while prose and not prose[-1].strip():
            prose.pop()
        while prose and not prose[0].strip():
            prose.pop(0)
        if prose:
            cells.append({"cell_type": "markdown", "metadata": {}, "source": source(prose)})
        prose.clear()

    for line in lines:
        fence = line.lstrip().startswith("```")
        if code is None and fence:
            flush_prose()
            code = []
        elif code is not None and fence:
            cells.append(
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "metadata": {},
                    "outputs": [],
                    "source": source(code),
                }
            )
            code = None
        elif code is not None:
            code.append(line)
        else:
            prose.append(line)
    if code is not None:
        prose[:0] = code
    flush_prose()
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def to_ipynb(text: str, args: dict[str, Any]) -> ToolResult:
    data = json.dumps(notebook(text), ensure_ascii=False, indent=1).encode()
    mime = "application/x-ipynb+json"
    return ToolResult(files=(make_file(file_name(args.get("output_filename"), mime), mime, data),))


def to_codeblock(text: str, args: dict[str, Any]) -> ToolResult:
    found = [b for b in blocks(text) if b.kind == "code"]
    if not found:
        raise ToolError("No code blocks found in the input text")
    compress = str(args.get("is_compress") or "false").strip().lower() == "true"
    given = args.get("output_filename")
    named: list[tuple[str, str, bytes]] = []
    for i, block in enumerate(found, start=1):
        mime = CODE_TYPES.get(block.language.lower(), "text/plain")
        stem = str(given or "").strip() or "code"
        name = file_name(stem, mime, f"_{i}" if len(found) > 1 else "")
        named.append((name, mime, block.code.strip().encode()))
    if not compress:
        return ToolResult(files=tuple(make_file(n, m, d) for n, m, d in named))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, _, data in named:
            archive.writestr(name, data)
    return ToolResult(
        files=(make_file(file_name(given, "application/zip"), "application/zip", out.getvalue()),)
    )


async def to_pdf(text: str, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    pdf = await html_to_pdf(page(html_fragment_safe(text)), ctx.timeout)
    mime = "application/pdf"
    return ToolResult(files=(make_file(file_name(args.get("output_filename"), mime), mime, pdf),))


async def to_png(text: str, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    images = pdf_to_pngs(await html_to_pdf(page(html_fragment_safe(text)), ctx.timeout))
    given = str(args.get("output_filename") or "").strip() or "output"
    if str(args.get("is_compress") or "false").strip().lower() == "true":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for i, data in enumerate(images, start=1):
                archive.writestr(f"page_{i}.png", data)
        return ToolResult(
            files=(make_file(file_name(given, "application/zip"), "application/zip", out.getvalue()),)
        )
    many = len(images) > 1
    return ToolResult(
        files=tuple(
            ToolFile(file_name(given, "image/png", f"_{i}" if many else ""), "image/png", data, "image")
            for i, data in enumerate(images, start=1)
        )
    )


# --- the tools -----------------------------------------------------------------------------------


def runner(
    convert: Any, label: str, *, fails: bool, strip_wrapper: bool = True
) -> Callable[[dict[str, Any], ToolContext], Awaitable[ToolResult]]:
    """A tool run: input prepared (empty input always fails); a failed conversion fails the tool
    (`fails`) or answers with the plugin's failure text."""

    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        text = prepare(args.get("md_text"), strip_wrapper=strip_wrapper)
        try:
            if inspect.iscoroutinefunction(convert):
                result: ToolResult = await convert(text, args, ctx)
                return result
            done: ToolResult = convert(text, args)
            return done
        except Exception as exc:  # the plugin reports every conversion failure so
            message = f"Failed to convert markdown text to {label}, error: {exc}"
            if fails:
                raise ToolError(message) from exc
            return ToolResult(message)

    return run


MD_TEXT = Param("md_text", required=True, description="Markdown text")
TABLE_TEXT = Param("md_text", required=True, description="Markdown text with one or more tables")
FILENAME = Param("output_filename", description="Optional output file name; the extension is added")
COMPRESS = Param("is_compress", type="select", form="form", default="false", options=("true", "false"))


def _tool(
    name: str, label: str, description: str, convert: Any, what: str, *extra: Param, fails: bool = False
) -> Tool:
    text = TABLE_TEXT if name in ("md_to_csv", "md_to_json", "md_to_latex", "md_to_xlsx") else MD_TEXT
    params = (text, *extra, FILENAME) if name != "md_to_html_text" else (text,)
    strip = name != "md_to_codeblock"  # the plugin keeps a code block that spans the whole text
    return Tool(
        PROVIDER, name, label, description, params, runner(convert, what, fails=fails, strip_wrapper=strip)
    )


TOOLS: tuple[Tool, ...] = (
    _tool(
        "md_to_docx",
        "Markdown to DOCX",
        "Generate DOCX file from Markdown text",
        to_docx,
        "DOCX file",
        Param("docx_template_file", type="file", description="ignored on this server"),
        fails=True,
    ),
    _tool(
        "md_to_pptx",
        "Markdown to PPTX",
        "Generate PPTX file from Markdown text",
        to_pptx,
        "PPTX file",
        Param("pptx_template_file", type="file", description="ignored on this server"),
        fails=True,
    ),
    _tool(
        "md_to_xlsx",
        "Markdown tables to XLSX",
        "Generate XLSX file from Markdown tables",
        to_xlsx,
        "XLSX file",
        Param("force_text_value", type="select", form="form", default="true", options=("true", "false")),
    ),
    _tool("md_to_csv", "Markdown tables to CSV", "Generate CSV file from Markdown text", to_csv, "CSV file"),
    _tool(
        "md_to_json",
        "Markdown tables to JSON",
        "Generate JSON file from Markdown text",
        to_json,
        "JSON file",
        Param("output_style", type="select", form="form", default="jsonl", options=("jsonl", "json_array")),
    ),
    _tool(
        "md_to_latex",
        "Markdown tables to LaTeX",
        "Generate LaTeX file from Markdown table",
        to_latex,
        "LaTeX file",
    ),
    _tool(
        "md_to_html",
        "Markdown to HTML",
        "Generate HTML file from Markdown text",
        to_html,
        "HTML file",
        fails=True,
    ),
    _tool(
        "md_to_html_text",
        "Markdown to HTML Text",
        "Generate HTML text from Markdown text",
        to_html_text,
        "HTML text",
    ),
    _tool("md_to_md", "Markdown to MD", "Generate .md file from Markdown text", to_md, "MD file"),
    _tool("md_to_xml", "Markdown to XML", "Generate XML file from Markdown text", to_xml, "XML file"),
    _tool(
        "md_to_ipynb",
        "Markdown to Jupyter Notebook",
        "Generate Jupyter Notebook file from Markdown text",
        to_ipynb,
        "IPYNB file",
        fails=True,
    ),
    _tool(
        "md_to_codeblock",
        "Code blocks in Markdown to script files",
        "Generate script files from code blocks from Markdown text",
        to_codeblock,
        "code block files",
        COMPRESS,
        fails=True,
    ),
    _tool(
        "md_to_pdf",
        "Markdown to PDF",
        "Generate PDF file from Markdown text",
        to_pdf,
        "PDF file",
        fails=True,
    ),
    _tool(
        "md_to_png",
        "Markdown to PNG",
        "Generate PNG images from Markdown text",
        to_png,
        "PNG files",
        COMPRESS,
        fails=True,
    ),
)
