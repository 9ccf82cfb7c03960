"""Facts about the book itself that its tools share: the pages in reading order, the browser.

Used by the browser tests, the slides and the PDF script, so that they agree on which pages
the book has and on how Chromium is found.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

__all__ = ["ROOT", "NO_CHROMIUM", "toc_pages", "find_chromium"]

ROOT = Path(__file__).resolve().parents[2]
NO_CHROMIUM = ("no Chromium found: install it (Debian/Ubuntu: apt-get install chromium) "
               "or set LLMBOOK_CHROMIUM to a Chromium or Chrome executable")


def toc_pages(root: str | os.PathLike = ROOT) -> list[str]:
    """Document names of every page in root/_toc.yml, in reading order (the root page first)."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return pages


def find_chromium() -> str | None:
    """Path of a Chromium executable: $LLMBOOK_CHROMIUM, else chromium (or Chrome) on the PATH."""
    explicit = os.environ.get("LLMBOOK_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None
