"""Report writers: JUnit XML, JSON and a self-contained HTML page, all from one Report."""

from __future__ import annotations

from pathlib import Path

from conformance.reports import html, jsonreport, junit
from conformance.runner import Report

WRITERS = {
    "junit": (junit.write, "junit.xml"),
    "json": (jsonreport.write, "report.json"),
    "html": (html.write, "report.html"),
}


def write_all(report: Report, formats: list[str], directory: str | Path) -> list[Path]:
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        writer, name = WRITERS[fmt]
        path = out_dir / name
        path.write_text(writer(report), encoding="utf-8")
        written.append(path)
    return written
