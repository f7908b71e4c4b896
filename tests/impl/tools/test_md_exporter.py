"""The md_exporter tools: each output opened with the library that reads its format (python-docx,
python-pptx, openpyxl, csv, json, zipfile, pypdfium2) and its content checked."""

from __future__ import annotations

import csv
import io
import json
import xml.dom.minidom
import zipfile
from typing import Any

import pytest

from impl.tools import ToolContext, ToolError, ToolResult
from impl.tools.markdown_blocks import blocks, prepare
from impl.tools.registry import builtin_tool, lookup_tool

PROVIDER = "bowenliang123/md_exporter/md_exporter"

REPORT = """```markdown
<think>plan the report first</think>
# Quarterly Report

The year went **well** and *calmly*, see `figures`.

## Highlights

- Revenue grew
- Costs fell
  - mostly rent
1. first step
2. second step

> A quoted line

## Figures

| Region | Sales | Growth |
|--------|-------|--------|
| North  | 120   | 4.5    |
| South  | 80    | -1     |

```python
print("hello")
```
```"""

TWO_TABLES = """# Fruit

| Name | Price |
|---|---|
| apple | 1.5 |
| pear | 2 |

# Vegetables

| Name | Price |
|---|---|
| leek | 3 |
"""


async def run(tool: str, **args: Any) -> ToolResult:
    found = builtin_tool(PROVIDER, tool)
    assert found is not None, tool
    return await found.run(found.arguments(args), ToolContext(timeout=60))


def test_every_plugin_tool_is_in_the_registry_under_its_plugin_names() -> None:
    names = [
        "md_to_docx",
        "md_to_pptx",
        "md_to_xlsx",
        "md_to_csv",
        "md_to_json",
        "md_to_latex",
        "md_to_html",
        "md_to_html_text",
        "md_to_md",
        "md_to_xml",
        "md_to_ipynb",
        "md_to_codeblock",
        "md_to_pdf",
        "md_to_png",
    ]
    for name in names:
        for provider in (PROVIDER, "md_exporter"):
            ref = lookup_tool(provider, name)
            assert ref is not None and ref.source == "builtin" and ref.provider == "md_exporter", name
    docx_tool = builtin_tool(PROVIDER, "md_to_docx")
    assert docx_tool is not None
    assert docx_tool.spec().parameters["required"] == ["md_text"]
    assert set(docx_tool.spec().parameters["properties"]) == {"md_text", "output_filename"}
    json_tool = builtin_tool(PROVIDER, "md_to_json")
    assert json_tool is not None
    assert {p.name: p.form for p in json_tool.params}["output_style"] == "form"


def test_input_is_prepared_as_the_plugin_prepares_it() -> None:
    assert prepare("```markdown\n# A\n```") == "# A"
    assert prepare("```\n# A\n```") == "# A"
    two_blocks = "```\na\n```\n\n```\nb\n```"
    assert prepare(two_blocks) == two_blocks  # not a wrapper: two code blocks
    assert prepare("<think>x</think>Hello\\nWorld") == "Hello\nWorld"
    with pytest.raises(ToolError, match="Empty input md_text"):
        prepare("   ")
    kinds = [b.kind for b in blocks(prepare(REPORT))]
    assert kinds == ["heading", "paragraph", "heading", "item", "item", "item", "item", "item"] + [
        "quote",
        "heading",
        "table",
        "code",
    ]


async def test_docx_has_headings_runs_lists_tables_and_code() -> None:
    import docx

    result = await run("md_to_docx", md_text=REPORT, output_filename="report")
    assert result.text == ""
    (file,) = result.files
    assert file.filename == "report.docx" and file.type == "document"
    assert file.mime_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    document = docx.Document(io.BytesIO(file.data))
    paragraphs = [(p.style.name if p.style else "", p.text) for p in document.paragraphs]
    assert ("Heading 1", "Quarterly Report") in paragraphs
    assert ("Heading 2", "Highlights") in paragraphs
    assert ("List Bullet", "Revenue grew") in paragraphs
    assert ("List Bullet 2", "mostly rent") in paragraphs
    assert ("List Number", "second step") in paragraphs
    assert ("Quote", "A quoted line") in paragraphs
    assert not any("plan the report" in text for _, text in paragraphs)
    intro = next(p for p in document.paragraphs if p.text.startswith("The year"))
    assert [r.text for r in intro.runs if r.bold] == ["well"]
    assert [r.text for r in intro.runs if r.italic] == ["calmly"]
    assert [r.font.name for r in intro.runs if r.text == "figures"] == ["Courier New"]
    assert any(p.text == 'print("hello")' for p in document.paragraphs)
    (table,) = document.tables
    assert [c.text for c in table.rows[0].cells] == ["Region", "Sales", "Growth"]
    assert [c.text for c in table.rows[2].cells] == ["South", "80", "-1"]
    assert all(r.bold for r in table.rows[0].cells[0].paragraphs[0].runs)


async def test_pptx_cuts_slides_at_the_slide_level() -> None:
    from pptx import Presentation

    result = await run("md_to_pptx", md_text=REPORT)
    (file,) = result.files
    assert file.filename.endswith(".pptx") and len(file.filename) == 32 + 5  # a random hex name
    deck = Presentation(io.BytesIO(file.data))
    slides = list(deck.slides)
    titles = [s.shapes.title.text if s.shapes.title is not None else "" for s in slides]
    # level-1 headings are above the slide level (2): a section slide, its text on an untitled slide
    assert titles == ["Quarterly Report", "", "Highlights", "Figures"]
    assert slides[0].slide_layout.name == "Section Header"
    intro = [shape for shape in slides[1].placeholders if shape.placeholder_format.idx != 0][0]
    assert intro.text_frame.text.startswith("The year went well")
    body = [shape for shape in slides[2].placeholders if shape.placeholder_format.idx != 0][0]
    lines = [(p.level, "".join(r.text for r in p.runs)) for p in body.text_frame.paragraphs]
    assert (0, "Revenue grew") in lines and (1, "mostly rent") in lines
    tables = [shape.table for shape in slides[3].shapes if shape.has_table]
    assert len(tables) == 1
    assert [tables[0].cell(1, c).text for c in range(3)] == ["North", "120", "4.5"]


async def test_xlsx_has_a_sheet_per_table_named_by_its_heading() -> None:
    from openpyxl import load_workbook

    result = await run("md_to_xlsx", md_text=TWO_TABLES, output_filename="prices.xlsx")
    (file,) = result.files
    assert file.filename == "prices.xlsx"
    book = load_workbook(io.BytesIO(file.data))
    assert book.sheetnames == ["Fruit", "Vegetables"]
    assert [[c.value for c in row] for row in book["Fruit"].iter_rows()] == [
        ["Name", "Price"],
        ["apple", "1.5"],
        ["pear", "2"],
    ]
    numbers = await run("md_to_xlsx", md_text=TWO_TABLES, force_text_value="false")
    sheet = load_workbook(io.BytesIO(numbers.files[0].data))["Fruit"]
    assert sheet["B2"].value == 1.5 and sheet["B3"].value == 2


async def test_table_tools_make_one_file_per_table() -> None:
    result = await run("md_to_csv", md_text=TWO_TABLES, output_filename="prices")
    assert [f.filename for f in result.files] == ["prices_1.csv", "prices_2.csv"]
    rows = list(csv.reader(io.StringIO(result.files[0].data.decode())))
    assert rows == [["Name", "Price"], ["apple", "1.5"], ["pear", "2"]]
    lines = (await run("md_to_json", md_text=TWO_TABLES)).files[0].data.decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"Name": "apple", "Price": "1.5"},
        {"Name": "pear", "Price": "2"},
    ]
    array = await run("md_to_json", md_text=TWO_TABLES, output_style="json_array", output_filename="x")
    assert json.loads(array.files[1].data) == [{"Name": "leek", "Price": "3"}]
    assert array.files[1].filename == "x_2.json"
    latex = (await run("md_to_latex", md_text="| a_b | c |\n|---|---|\n| 50% | d |")).files[0]
    assert latex.mime_type == "application/x-tex" and latex.filename.endswith(".tex")
    source = latex.data.decode()
    assert r"\begin{tabular}{ll}" in source and r"a\_b & c \\" in source and r"50\% & d \\" in source


async def test_a_text_without_tables_gets_the_plugins_failure_text() -> None:
    result = await run("md_to_csv", md_text="just words")
    assert result.files == ()
    assert result.text.startswith("Failed to convert markdown text to CSV file, error: ")


async def test_html_xml_md_and_html_text() -> None:
    html = (await run("md_to_html", md_text=REPORT)).files[0]
    assert html.mime_type == "text/html"
    assert "<h1>Quarterly Report</h1>" in html.data.decode() and "<td>South</td>" in html.data.decode()
    text = await run("md_to_html_text", md_text="# Hi\n\n*x*")
    assert text.text == "<h1>Hi</h1>\n<p><em>x</em></p>\n" and text.files == ()
    xml_file = (await run("md_to_xml", md_text="# T & U\n\n<b>raw</b> text")).files[0]
    root = xml.dom.minidom.parseString(xml_file.data).documentElement
    assert root.tagName == "div"
    assert root.getElementsByTagName("h1")[0].firstChild.data == "T & U"  # type: ignore[union-attr]
    assert not root.getElementsByTagName("b")  # raw HTML stays text
    md = (await run("md_to_md", md_text="```markdown\n# A\n```", output_filename="a/b")).files[0]
    assert md.filename == "a_b.md" and md.data == b"# A"


async def test_notebook_and_code_files() -> None:
    notebook = json.loads((await run("md_to_ipynb", md_text=REPORT)).files[0].data)
    assert notebook["nbformat"] == 4
    kinds = [c["cell_type"] for c in notebook["cells"]]
    assert kinds == ["markdown", "code"]
    assert notebook["cells"][1]["source"] == ['print("hello")']
    code = "```python\nx = 1\n```\n\ntext\n\n```bash\necho hi\n```\n\n```\nplain\n```"
    files = (await run("md_to_codeblock", md_text=code)).files
    assert [(f.filename, f.mime_type, f.data) for f in files] == [
        ("code_1.py", "text/x-python", b"x = 1"),
        ("code_2.sh", "application/x-sh", b"echo hi"),
        ("code_3.txt", "text/plain", b"plain"),
    ]
    zipped = (await run("md_to_codeblock", md_text=code, is_compress="true", output_filename="src")).files
    assert [f.filename for f in zipped] == ["src.zip"]
    assert zipfile.ZipFile(io.BytesIO(zipped[0].data)).namelist() == ["src_1.py", "src_2.sh", "src_3.txt"]
    with pytest.raises(ToolError, match="No code blocks found"):
        await run("md_to_codeblock", md_text="no code here")


async def test_pdf_and_png_are_printed_offline() -> None:
    """Needs Debian chromium and fonts-noto-cjk (dev.py and .ci/run install both)."""
    import pypdfium2

    text = "# 季度报告 Report\n\n| A | B |\n|---|---|\n| 1 | 2 |\n\n<img src='http://127.0.0.1:9/x.png'>"
    pdf = (await run("md_to_pdf", md_text=text, output_filename="r")).files[0]
    assert (pdf.filename, pdf.mime_type) == ("r.pdf", "application/pdf")
    document = pypdfium2.PdfDocument(pdf.data)
    words = document[0].get_textpage().get_text_range()
    document.close()
    assert "季度报告 Report" in words and "<img" in words  # raw HTML is printed as text, never loaded
    png = (await run("md_to_png", md_text=text)).files
    assert [f.filename for f in png] == ["output.png"] and png[0].data.startswith(b"\x89PNG")
    assert png[0].type == "image"
