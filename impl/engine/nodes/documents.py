"""document-extractor: the text of uploaded files (one file → `text`, a file list → a list).

Rules from Dify's `api/core/workflow/nodes/document_extractor/node.py`:

* the file's extension decides the format, else its MIME type; neither → UnsupportedFileTypeError;
* plain text (txt, md, html, xml, source code, logs, ini …): the encoding is detected (chardet),
  undecodable bytes are dropped; JSON is re-dumped with a 2-space indent, YAML re-dumped;
* PDF: the text of every page (pypdfium2), concatenated;
* DOCX: paragraphs and tables in document order, tables as Markdown (`<br>` for line breaks in a
  cell), joined by newlines;
* CSV: a Markdown table, header separator `-` repeated per header cell's length;
* XLSX/XLS: one Markdown table per sheet (first row = header, empty rows dropped, line breaks
  in cells become spaces), each followed by a blank line;
* PPTX, EPUB, EML: the text of each element, one per line; `.properties`: `key: value` lines;
* local uploads are read through the service's hooks; remote URLs are fetched under the same
  address policy as http-request nodes.

Dify parses PPT, DOC, EPUB and MSG with Unstructured (or its API); here PPTX (python-pptx),
EPUB and EML (standard library) are read directly, and DOC, PPT and MSG fail the node with a
clear message. The libraries: pypdfium2, python-docx, openpyxl, xlrd, python-pptx, chardet.
"""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import html.parser
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import chardet
import httpx
import yaml

from impl.engine.graph import Node
from impl.engine.nodes.http import check_destination, pin
from impl.engine.runner import NodeError, NodeResult, Scope, WorkflowRunner, handles
from impl.engine.variables import MISSING, selector_of

MAX_DOWNLOAD_BYTES = 15 * 1024 * 1024
_PLAIN_LIST = (
    "txt markdown md mdx html htm xml c h cpp hpp cc cxx c++ py js ts jsx tsx java php rb go rs swift kt "
    "scala sh bash bat ps1 sql r m pl lua vim asm s css scss less sass ini cfg conf toml env log vtt"
)
PLAIN = frozenset("." + ext for ext in _PLAIN_LIST.split(" "))
PLAIN_MIME = frozenset({"text/plain", "text/html", "text/htm", "text/markdown", "text/xml", "text/vtt"})


class ExtractionError(NodeError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "TextExtractionError")


def _decode(content: bytes) -> str:
    encoding = chardet.detect(content).get("encoding") or "utf-8"
    try:
        return content.decode(encoding, errors="ignore")
    except LookupError:
        return content.decode("utf-8", errors="ignore")


def plain_text(content: bytes) -> str:
    return _decode(content)


def json_text(content: bytes) -> str:
    try:
        return json.dumps(json.loads(_decode(content)), indent=2, ensure_ascii=False)
    except ValueError as exc:
        raise ExtractionError(f"Failed to decode or parse JSON file: {exc}") from exc


def yaml_text(content: bytes) -> str:
    try:
        docs = list(yaml.safe_load_all(_decode(content)))
    except yaml.YAMLError as exc:
        raise ExtractionError(f"Failed to decode or parse YAML file: {exc}") from exc
    return str(yaml.dump_all(docs, allow_unicode=True, sort_keys=False))


def pdf_text(content: bytes) -> str:
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(io.BytesIO(content), autoclose=True)
        parts: list[str] = []
        for page in document:
            text_page = page.get_textpage()
            parts.append(text_page.get_text_range())
            text_page.close()
            page.close()
        document.close()
        return "".join(parts)
    except Exception as exc:
        raise ExtractionError(f"Failed to extract text from PDF: {exc}") from exc


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def docx_text(content: bytes) -> str:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(content))
        parts: list[str] = []
        for block in document.element.body.iterchildren():
            tag = block.tag.rsplit("}", 1)[-1]
            if tag == "p":
                parts.append(Paragraph(block, document).text)
            elif tag == "tbl":
                table = Table(block, document)
                rows = [[cell.text.replace("\n", "<br>") for cell in row.cells] for row in table.rows]
                if not any(cell.strip() for row in rows for cell in row):
                    continue
                lines = [_markdown_row(rows[0]), _markdown_row(["---"] * len(rows[0]))]
                lines.extend(_markdown_row(row) for row in rows[1:])
                parts.append("\n".join(lines) + "\n")
        return "\n".join(parts)
    except Exception as exc:
        raise ExtractionError(f"Failed to extract text from DOCX: {exc}") from exc


def csv_text(content: bytes) -> str:
    try:
        rows = list(csv.reader(io.StringIO(_decode(content))))
    except csv.Error as exc:
        raise ExtractionError(f"Failed to extract text from CSV: {exc}") from exc
    if not rows:
        return ""

    def one_line(cell: str) -> str:
        return cell.replace("\n", " ").replace("\r", "")

    lines = [_markdown_row([one_line(c) for c in rows[0]]), _markdown_row(["-" * len(c) for c in rows[0]])]
    lines.extend(_markdown_row([one_line(c) for c in row]) for row in rows[1:])
    return "\n".join(lines) + "\n"


def _cell(value: Any, float_column: bool) -> str:
    """A cell as pandas prints it (Dify reads sheets with pandas): NaN for empty cells, and
    whole numbers as floats in a numeric column that has gaps or fractions."""
    if value is None or value == "":
        return "nan"
    if isinstance(value, str):
        return " ".join(value.splitlines())
    if float_column and isinstance(value, int | float) and not isinstance(value, bool):
        return str(float(value))
    return str(value)


def sheet_markdown(rows: list[list[Any]]) -> str:
    rows = [r for r in rows if any(v is not None and v != "" for v in r)] if rows else []
    if not rows:
        return _markdown_row([]) + "\n" + _markdown_row([])
    width = max(len(r) for r in rows)
    rows = [list(r) + [None] * (width - len(r)) for r in rows]
    header = [
        " ".join(str(v).splitlines()) if v is not None and v != "" else f"Unnamed: {i}"
        for i, v in enumerate(rows[0])
    ]
    body = rows[1:]
    floats: list[bool] = []
    for i in range(width):
        column = [r[i] for r in body]
        present = [v for v in column if v is not None and v != ""]
        numeric = bool(present) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in present
        )
        floats.append(numeric and (len(present) < len(column) or any(isinstance(v, float) for v in present)))
    lines = [_markdown_row(header), _markdown_row(["-" * len(h) for h in header])]
    lines.extend(_markdown_row([_cell(v, floats[i]) for i, v in enumerate(r)]) for r in body)
    return "\n".join(lines)


def excel_text(content: bytes, extension: str) -> str:
    try:
        sheets: list[list[list[Any]]] = []
        if extension == ".xls":
            import xlrd

            book = xlrd.open_workbook(file_contents=content)
            for sheet in book.sheets():
                sheets.append([list(sheet.row_values(i)) for i in range(sheet.nrows)])
        else:
            import openpyxl

            workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            for worksheet in workbook.worksheets:
                sheets.append([list(row) for row in worksheet.iter_rows(values_only=True)])
            workbook.close()
    except Exception as exc:
        raise ExtractionError(f"Failed to extract text from Excel file: {exc}") from exc
    return "".join(sheet_markdown(rows) + "\n\n" for rows in sheets)


def pptx_text(content: bytes) -> str:
    from pptx import Presentation

    try:
        deck = Presentation(io.BytesIO(content))
        lines: list[str] = []
        for slide in deck.slides:
            for shape in slide.shapes:
                if getattr(shape, "has_text_frame", False):
                    lines.extend(p.text for p in shape.text_frame.paragraphs if p.text.strip())
                elif getattr(shape, "has_table", False):
                    for row in shape.table.rows:
                        lines.append(" ".join(cell.text for cell in row.cells))
        return "\n".join(lines)
    except Exception as exc:
        raise ExtractionError(f"Failed to extract text from PPTX: {exc}") from exc


class _HtmlText(html.parser.HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "title"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_lines(markup: str) -> list[str]:
    parser = _HtmlText()
    parser.feed(markup)
    text = "".join(parser.parts)
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def epub_text(content: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as book:
            names = sorted(n for n in book.namelist() if n.lower().endswith((".xhtml", ".html", ".htm")))
            lines: list[str] = []
            for name in names:
                lines.extend(html_lines(book.read(name).decode("utf-8", errors="ignore")))
        return "\n".join(lines)
    except Exception as exc:
        raise ExtractionError(f"Failed to extract text from EPUB: {exc}") from exc


def eml_text(content: bytes) -> str:
    try:
        message = email.message_from_bytes(content, policy=email.policy.default)
        lines: list[str] = []
        for part in message.walk():
            if part.is_multipart() or part.get_content_disposition() == "attachment":
                continue
            kind = part.get_content_type()
            if kind == "text/plain":
                body = str(part.get_content())
                lines.extend(line.strip() for line in body.splitlines() if line.strip())
            elif kind == "text/html" and not lines:
                lines.extend(html_lines(str(part.get_content())))
        return "\n".join(lines)
    except Exception as exc:
        raise ExtractionError(f"Failed to extract text from EML: {exc}") from exc


def properties_text(content: bytes) -> str:
    lines: list[str] = []
    for raw in _decode(content).splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            lines.append(line)
            continue
        sep = "=" if "=" in line else ":" if ":" in line else None
        key, value = line.split(sep, 1) if sep else (line, "")
        lines.append(f"{key.strip()}: {value.strip()}")
    return "\n".join(lines)


def _needs_unstructured(kind: str) -> Callable[[bytes], str]:
    def fail(_content: bytes) -> str:
        raise ExtractionError(
            f"Failed to extract text from {kind}: this server has no parser for legacy {kind} files "
            "(Dify reads them through an Unstructured API); convert the file to a newer format"
        )

    return fail


BY_EXTENSION: dict[str, Callable[[bytes], str]] = {
    **{ext: plain_text for ext in PLAIN},
    ".json": json_text,
    ".yaml": yaml_text,
    ".yml": yaml_text,
    ".pdf": pdf_text,
    ".doc": _needs_unstructured("DOC"),
    ".docx": docx_text,
    ".csv": csv_text,
    ".xlsx": lambda c: excel_text(c, ".xlsx"),
    ".xls": lambda c: excel_text(c, ".xls"),
    ".ppt": _needs_unstructured("PPT"),
    ".pptx": pptx_text,
    ".epub": epub_text,
    ".eml": eml_text,
    ".msg": _needs_unstructured("MSG"),
    ".properties": properties_text,
}
BY_MIME: dict[str, Callable[[bytes], str]] = {
    **{mime: plain_text for mime in PLAIN_MIME},
    "application/pdf": pdf_text,
    "application/msword": BY_EXTENSION[".doc"],
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": docx_text,
    "text/csv": csv_text,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": BY_EXTENSION[".xlsx"],
    "application/vnd.ms-excel": BY_EXTENSION[".xls"],
    "application/vnd.ms-powerpoint": BY_EXTENSION[".ppt"],
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": pptx_text,
    "application/epub+zip": epub_text,
    "message/rfc822": eml_text,
    "application/vnd.ms-outlook": BY_EXTENSION[".msg"],
    "application/json": json_text,
    "application/x-yaml": yaml_text,
    "text/yaml": yaml_text,
    "text/properties": properties_text,
}


def extract(content: bytes, extension: str | None, mime_type: str | None) -> str:
    """The text of a file, chosen by its extension (with the dot) or else its MIME type."""
    if extension:
        reader = BY_EXTENSION.get(extension.lower())
        if reader is None:
            raise NodeError(f"Unsupported Extension Type: {extension}", "UnsupportedFileTypeError")
        return reader(content)
    if mime_type:
        reader = BY_MIME.get(mime_type)
        if reader is None:
            raise NodeError(f"Unsupported MIME type: {mime_type}", "UnsupportedFileTypeError")
        return reader(content)
    raise NodeError(
        "Unable to determine file type: MIME type or file extension is missing", "UnsupportedFileTypeError"
    )


async def _download(runner: WorkflowRunner, file: Mapping[str, Any]) -> bytes:
    upload_id = file.get("upload_file_id") or file.get("related_id")
    try:
        if file.get("transfer_method") != "remote_url" and upload_id:
            return await runner.hooks.read_upload(str(upload_id))
        url = str(file.get("remote_url") or file.get("url") or "")
        if not url:
            raise ValueError("Missing URL for remote file")
        address = await check_destination(url, runner.hooks.http_allowed_hosts)
        target, host, server_name = pin(url, address)
        async with httpx.AsyncClient(timeout=30.0, follow_redirects=False, trust_env=False) as client:
            sni = {"sni_hostname": server_name}
            response = await client.get(target, headers={"Host": host}, extensions=sni)
        response.raise_for_status()
        if len(response.content) > MAX_DOWNLOAD_BYTES:
            raise ValueError(f"the file is larger than {MAX_DOWNLOAD_BYTES // (1024 * 1024)} MB")
        return response.content
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise NodeError(f"Error downloading file: {message}", "FileDownloadError") from exc


async def _text_of(runner: WorkflowRunner, file: Mapping[str, Any]) -> str:
    content = await _download(runner, file)
    extension = file.get("extension")
    mime = file.get("mime_type")
    return await asyncio.to_thread(extract, content, str(extension) if extension else None, mime)


def _is_file(value: Any) -> bool:
    return isinstance(value, Mapping) and "transfer_method" in value


@handles("document-extractor")
async def document_extractor_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    selector = selector_of(node.data.get("variable_selector")) or []
    value = runner.pool.get(selector)
    if value is MISSING:
        raise NodeError(f"File variable not found for selector: {selector}", "DocumentExtractorError")
    is_files = isinstance(value, list) and all(_is_file(v) for v in value)
    if value and not (is_files or _is_file(value)):
        raise NodeError(f"Variable {selector} is not an ArrayFileSegment", "DocumentExtractorError")
    inputs = {"variable_selector": selector}
    process_data = {"documents": value if isinstance(value, list) else [value]}
    if isinstance(value, list):
        text: str | list[str] = [await _text_of(runner, f) for f in value]
    elif _is_file(value):
        text = await _text_of(runner, value)
    else:
        raise NodeError(f"Unsupported variable type: {type(value)}", "DocumentExtractorError")
    return NodeResult(outputs={"text": text}, inputs=inputs, process_data=process_data)
