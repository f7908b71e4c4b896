"""PDF and PNG from HTML, offline: headless Chromium (Debian `chromium`, with `fonts-noto-cjk`
for Chinese and Japanese text) prints the page, pypdfium2 renders its pages as PNG images.

The page is this server's own HTML of the Markdown (raw HTML in the text escaped) with a content
security policy that forbids every load and script, so printing reaches no network and no file.
Chromium runs in a fresh temporary profile, killed when it overruns the tool's timeout.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import tempfile
from html import escape
from pathlib import Path

from impl.tools.base import ToolError

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
POLICY = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = """
body { font-family: "Noto Sans CJK SC", "Noto Sans", "DejaVu Sans", sans-serif; font-size: 12pt;
       line-height: 1.5; margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #666; padding: 4px 6px; text-align: left; }
pre { background: #f4f4f4; padding: 8px; white-space: pre-wrap; }
code { font-family: "DejaVu Sans Mono", monospace; }
blockquote { border-left: 3px solid #ccc; margin-left: 0; padding-left: 12px; color: #444; }
"""
PNG_SCALE = 1.5  # 72 dpi * 1.5 = 108 dpi


def page(body_html: str, title: str = "document") -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body_html}</body></html>"
    )


def chromium() -> str | None:
    return next((found for name in CHROMIUM_CANDIDATES if (found := shutil.which(name))), None)


async def html_to_pdf(html: str, timeout: float) -> bytes:
    """The page printed to PDF by headless Chromium."""
    binary = chromium()
    if binary is None:
        raise ToolError("PDF output needs Chromium, which is not installed on this server")
    with tempfile.TemporaryDirectory(prefix="md-pdf-") as folder:
        source, target = Path(folder, "page.html"), Path(folder, "page.pdf")
        source.write_text(html, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={folder}/profile",
            f"--print-to-pdf={target}",
            source.as_uri(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ToolError("the PDF renderer did not finish in time") from None
        if not target.exists() or target.stat().st_size == 0:
            detail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {process.returncode}"]
            raise ToolError(f"the PDF renderer failed: {detail[0][:200]}")
        return target.read_bytes()


def pdf_to_pngs(pdf: bytes) -> list[bytes]:
    """Each page of a PDF as a PNG image."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    images: list[bytes] = []
    try:
        for index in range(len(document)):
            bitmap = document[index].render(scale=PNG_SCALE)
            out = io.BytesIO()
            bitmap.to_pil().save(out, format="PNG")
            images.append(out.getvalue())
    finally:
        document.close()
    return images
