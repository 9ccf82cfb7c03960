"""The built book, read in a real browser (headless Chromium) with the network switched off.

Every page of the table of contents is opened from disk (``file://``), as a reader without
network would open it, and checked: no JavaScript errors, every formula typeset by MathJax,
every image loaded. Then: Chinese full-text search finds a page by a term from its body text,
and an exercise's solution opens and closes. Screenshots of the home page and of one chapter
page are written to ``_build/screenshots/`` for a person to look at.

The tests need Chromium (Debian: ``apt-get install chromium``; elsewhere set
``LLMBOOK_CHROMIUM`` to a Chromium/Chrome executable) and the built book. They use
``_build/html`` when it is newer than every source file, and otherwise build the book into
a temporary folder first.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmbook.book import NO_CHROMIUM, find_chromium, toc_pages

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: pip install -r requirements.txt"
)


CHROMIUM = find_chromium()
# the jupyter-book command of this Python environment
JUPYTER_BOOK = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason=NO_CHROMIUM,
)


def _sources() -> list[Path]:
    files = [ROOT / "_toc.yml", ROOT / "_config.yml", ROOT / "references.bib"]
    files += [ROOT / f"{page}{ext}" for page in toc_pages() for ext in (".md", ".ipynb")]
    return [f for f in files if f.exists()]


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """Folder of the built HTML book, building it first when _build/html is missing or stale."""
    html = ROOT / "_build" / "html"
    index = html / "index.html"
    if index.exists() and index.stat().st_mtime >= max(f.stat().st_mtime for f in _sources()):
        return html
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run(
        [JUPYTER_BOOK, "build", str(ROOT), "--path-output", str(out)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, f"jupyter-book build failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Reader:
    """One offline browser tab that records JavaScript errors and attempted network requests."""

    def __init__(self, browser, book: Path):
        self.book = book
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        self.errors: list[str] = []
        self.network: list[str] = []
        self.context.route("**/*", self._offline)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        self.page.on("console", self._console)

    def _offline(self, route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:  # the book must not need the network
            self.network.append(url)
            route.abort()

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text}")

    def open(self, page: str, query: str = "") -> None:
        url = (self.book / f"{page}.html").as_uri() + query
        self.page.goto(url, wait_until="load")
        # Sphinx loads MathJax (from the book itself) only on pages with formulas:
        # there, wait until it has typeset the page
        if self.page.locator("script[src*='mathjax']").count():
            self.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
            self.page.evaluate("() => MathJax.startup.promise")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def reader(browser, book):
    r = Reader(browser, book)
    yield r
    r.close()


@pytest.mark.parametrize("page", toc_pages())
def test_page_renders_offline(reader, page):
    reader.open(page)
    p = reader.page
    assert p.title(), f"{page}: the page has no title"
    # every formula typeset: each math node holds MathJax output, none is an error
    math = p.evaluate(
        """() => {
        const nodes = [...document.querySelectorAll('main .math')];
        return {total: nodes.length,
                typeset: nodes.filter(n => n.querySelector('mjx-container')).length,
                errors: document.querySelectorAll('mjx-merror').length};
    }"""
    )
    assert math["typeset"] == math["total"], f"{page}: {math['total'] - math['typeset']} formulas not typeset"
    assert math["errors"] == 0, f"{page}: {math['errors']} MathJax errors"
    text = p.inner_text("main")
    assert "$$" not in text and "\\begin{" not in text, f"{page}: raw TeX left in the text"
    # every image loaded
    broken = p.evaluate(
        """() => [...document.images]
            .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src)"""
    )
    assert not broken, f"{page}: images that did not load: {broken}"
    assert not reader.errors, f"{page}: JavaScript errors: {reader.errors}"
    assert not reader.network, f"{page}: tried to reach the network: {reader.network[:5]}"


def _search(reader, term: str) -> list[str]:
    """Document names of the results of the book's own search page for ``term``."""
    reader.open("search", f"?q={term}")
    p = reader.page
    # Sphinx writes a summary paragraph when the search has finished
    p.wait_for_selector("#search-results .search-summary", timeout=20000)
    hrefs = p.eval_on_selector_all("#search-results ul.search li a", "els => els.map(a => a.href)")
    book_uri = reader.book.as_uri() + "/"
    return [h.split("#")[0].split("?")[0].removeprefix(book_uri).removesuffix(".html") for h in hrefs]


@pytest.mark.parametrize(
    "term, expected",
    [
        ("马尔可夫", "chapters/01_background/02_ngram"),  # body text of 1.2, not in its title
        ("折扣", "chapters/01_background/03_smoothing"),  # absolute discounting, body text of 1.3
    ],
)
def test_chinese_search_finds_body_text(reader, term, expected):
    source = (ROOT / f"{expected}.ipynb").read_text(encoding="utf-8")
    assert term in source, f"the test's premise is wrong: {term!r} is not in {expected}"
    results = _search(reader, term)
    assert expected in results, f"searching {term!r} found {results}, not {expected}"
    assert not reader.errors, reader.errors


def test_solution_toggles_open_and_closed(reader):
    reader.open("chapters/01_background/02_ngram")
    p = reader.page
    solution = p.locator(".solution.dropdown").first
    button = solution.locator("button.toggle-button")
    body = solution.locator(".admonition-title ~ *").first
    solution.scroll_into_view_if_needed()
    assert not body.is_visible(), "a solution is visible before it is opened"
    button.click()
    body.wait_for(state="visible")
    button.click()
    body.wait_for(state="hidden")
    assert not reader.errors, reader.errors


def test_screenshots_for_a_person(reader):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    reader.open("intro")
    reader.page.screenshot(path=str(SCREENSHOTS / "home.png"))
    reader.open("chapters/01_background/03_smoothing")
    reader.page.screenshot(path=str(SCREENSHOTS / "chapter.png"))
    assert (SCREENSHOTS / "home.png").stat().st_size > 10_000
    assert (SCREENSHOTS / "chapter.png").stat().st_size > 10_000
