"""document-extractor (impl/engine/nodes/documents.py) against Dify's
`api/core/workflow/nodes/document_extractor/node.py`, on files written by the test."""

from __future__ import annotations

import io
import sys
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest
from pptx import Presentation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from graphs import START, Hooks, edge, end, node, run

from impl.engine.nodes.documents import extract


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` in Helvetica, with a correct cross-reference table."""
    stream = f"BT /F1 18 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def docx_bytes() -> bytes:
    document = docx.Document()
    document.add_paragraph("Hello")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([["a", "b"], ["1", "two\nlines"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("Bye")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["name", "n"], ["x", 1], [None, None], ["y", None]):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def pptx_bytes() -> bytes:
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly plan"
    slide.placeholders[1].text = "Ship the extractor"
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def eml_bytes() -> bytes:
    message = EmailMessage()
    message["Subject"] = "Hi"
    message["From"] = "a@example.com"
    message["To"] = "b@example.com"
    message.set_content("First line\n\nSecond line\n")
    return message.as_bytes()


def epub_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("mimetype", "application/epub+zip")
        book.writestr("OEBPS/ch1.xhtml", "<html><body><h1>Chapter</h1><p>Once upon a time</p></body></html>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "extension", "expected"),
    [
        ("Grüße, 世界\n".encode(), ".md", "Grüße, 世界\n"),
        (b'{"a":[1,"\\u00e9"]}', ".json", '{\n  "a": [\n    1,\n    "é"\n  ]\n}'),
        (b"a: 1\nb: [x]\n", ".yaml", "a: 1\nb:\n- x\n"),
        (b"name,age\nAda,36\n", ".csv", "| name | age |\n| ---- | --- |\n| Ada | 36 |\n"),
        (b"# c\nhost=example\nport: 80\n", ".properties", "# c\nhost: example\nport: 80"),
        (docx_bytes(), ".docx", "Hello\n| a | b |\n| --- | --- |\n| 1 | two<br>lines |\n\nBye"),
        (xlsx_bytes(), ".xlsx", "| name | n |\n| ---- | - |\n| x | 1.0 |\n| y | nan |\n\n"),
        (pptx_bytes(), ".pptx", "Quarterly plan\nShip the extractor"),
        (eml_bytes(), ".eml", "First line\nSecond line"),
        (epub_bytes(), ".epub", "Chapter\nOnce upon a time"),
    ],
)
def test_formats(content: bytes, extension: str, expected: str) -> None:
    assert extract(content, extension, None) == expected


def test_pdf_text() -> None:
    assert extract(minimal_pdf("Hello PDF"), ".pdf", "application/pdf").strip() == "Hello PDF"


def test_type_is_chosen_by_extension_then_mime_type() -> None:
    assert extract(b"[1]", None, "application/json") == "[\n  1\n]"
    with pytest.raises(Exception, match="Unsupported Extension Type: .xyz"):
        extract(b"x", ".xyz", "text/plain")
    with pytest.raises(Exception, match="Unsupported MIME type: image/png"):
        extract(b"x", None, "image/png")
    with pytest.raises(Exception, match="MIME type or file extension is missing"):
        extract(b"x", None, None)
    with pytest.raises(Exception, match="Failed to extract text from DOC"):
        extract(b"x", ".doc", None)


def local(upload_id: str, name: str) -> dict[str, Any]:
    ext = "." + name.rsplit(".", 1)[-1]
    return {"transfer_method": "local_file", "upload_file_id": upload_id, "filename": name, "extension": ext}


def extract_run(value: Any, hooks: Hooks) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    nodes = [
        START,
        node("doc", "document-extractor", variable_selector=["start", "f"]),
        end(text=["doc", "text"]),
    ]
    outcome, events = run(nodes, [edge("start", "doc"), edge("doc", "end")], {"f": value}, hooks=hooks)
    return (outcome.outputs["text"] if outcome.status == "succeeded" else outcome.error), events


def test_one_file_gives_text_and_a_list_gives_a_list() -> None:
    hooks = Hooks()
    hooks.uploads = {"u1": b"one", "u2": b"name\nx\n"}
    text, events = extract_run(local("u1", "a.txt"), hooks)
    assert text == "one"
    finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "doc"][0]
    assert finished["inputs"] == {"variable_selector": ["start", "f"]}
    assert finished["process_data"]["documents"][0]["filename"] == "a.txt"
    assert extract_run([local("u1", "a.txt"), local("u2", "b.csv")], hooks)[0] == [
        "one",
        "| name |\n| ---- |\n| x |\n",
    ]
    assert extract_run([], hooks)[0] == []


def test_failures_are_node_failures() -> None:
    hooks = Hooks()
    assert extract_run("not a file", hooks)[0] == "Variable ['start', 'f'] is not an ArrayFileSegment"
    assert "Error downloading file" in extract_run(local("gone", "a.txt"), hooks)[0]
    remote = {"transfer_method": "remote_url", "remote_url": "http://127.0.0.1:9/a.txt", "extension": ".txt"}
    assert "Error downloading file: requests to 127.0.0.1" in extract_run(remote, hooks)[0]
