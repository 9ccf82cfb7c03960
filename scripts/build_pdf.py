"""Print the built book to one PDF with headless Chromium: ``python scripts/build_pdf.py``.

Run ``jupyter-book build .`` first. Every page of the table of contents is opened from
``_build/html`` (offline), typeset by MathJax, printed with the theme's print style (no
sidebars), and the pages are joined, with a bookmark per page, into ``_build/pdf/book.pdf``.

Why not LaTeX: the book's derivations use sphinx-proof blocks, which Sphinx's LaTeX
writer does not know, and a Chinese-capable TeX (xelatex + ctex) is a large install; the
browser prints exactly what readers see on the web, formulas and figures included.
Needs Chromium (``apt-get install chromium`` or ``LLMBOOK_CHROMIUM``) and pypdf.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from llmbook.book import NO_CHROMIUM, find_chromium, toc_pages

ROOT = Path(__file__).resolve().parents[1]
FOOTER = ('<div style="font-size:8px;width:100%;text-align:center;color:#666">'
          '<span class="title"></span> · <span class="pageNumber"></span></div>')


def chromium() -> str:
    """Path of a Chromium executable, or SystemExit with how to get one."""
    path = find_chromium()
    if not path:
        raise SystemExit(NO_CHROMIUM)
    return path


def print_pages(html: Path, pages: list[str], out_dir: Path) -> list[tuple[str, Path]]:
    """Print each page to its own PDF; returns (page title, pdf path) in order."""
    from playwright.sync_api import sync_playwright

    printed = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
        for i, name in enumerate(pages):
            source = html / f"{name}.html"
            if not source.is_file():
                raise SystemExit(f"{source} is missing: build the book first (jupyter-book build .)")
            page.goto(source.as_uri(), wait_until="load")
            if page.locator("script[src*='mathjax']").count():
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("() => MathJax.startup.promise")
            page.emulate_media(media="print")
            target = out_dir / f"{i:03d}.pdf"
            page.pdf(path=str(target), format="A4", print_background=True, display_header_footer=True,
                     header_template="<span></span>", footer_template=FOOTER,
                     margin={"top": "15mm", "bottom": "18mm", "left": "15mm", "right": "15mm"})
            printed.append((page.title().split(" — ")[0].strip(), target))
            print(f"printed {name}", flush=True)
        browser.close()
    return printed


def join(printed: list[tuple[str, Path]], out: Path) -> int:
    """Join the PDFs into ``out`` with one bookmark per page; returns the number of PDF pages."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for title, path in printed:
        start = len(writer.pages)
        writer.append(str(path))
        writer.add_outline_item(title, start)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        writer.write(f)
    return len(writer.pages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the built book")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf" / "book.pdf")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        printed = print_pages(args.html, toc_pages(), Path(tmp))
        n = join(printed, args.out)
    print(f"{args.out}: {n} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
