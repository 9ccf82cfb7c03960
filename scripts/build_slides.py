"""Build one offline HTML slide deck per chapter from the book's notebooks.

    python scripts/build_slides.py [--html _build/html] [--out _build/html/slides]

Every numbered part of ``_toc.yml`` is a chapter: its ``index.md`` and its section notebooks, in
table-of-contents order, become one self-contained deck ``<out>/<chapter folder>.html``;
``<out>/index.html`` lists the decks. Headings (#, ##, ###) start slides, exercise solutions,
hidden cells and ``slideshow`` skip/notes cells are left out, formulas are typeset by the book's own
MathJax (copied to ``<out>/mathjax``) and plots are embedded from the stored outputs, so the decks
work without a network. Slides that the layout estimate finds too full continue on a new slide
("（续）"); in the browser a slide whose content still overflows is scaled down to fit.

The work is shared with the package next to this script: ``slides/myst.py`` (MyST markdown, roles,
directives, numbering), ``slides/blocks.py`` (code, outputs, heights, pagination), ``slides/bib.py``
(citations), and ``slides/deck.css`` + ``slides/deck.js``, inlined into every deck.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the slides package next to this script
from slides.blocks import Block, Heading, Slide, code_blocks, esc, output_blocks, paginate  # noqa: E402
from slides.myst import Book, Page, Renderer, directive, top_level  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(__file__).resolve().parent / "slides"  # deck.css and deck.js, inlined into every deck
HIDDEN_TAGS = {"remove-cell", "remove-input"}


@dataclass
class Chapter:
    """A numbered chapter: its index page and its sections, as _toc.yml lists them."""
    number: int
    caption: str
    index: Page
    sections: list


# ---------------------------------------------------------------- table of contents
def read_toc(root: Path, allow_missing: bool = False) -> tuple[list[Chapter], list[Page]]:
    """Chapters (numbered parts of _toc.yml) and every existing page of the book, in reading order."""
    toc_file = root / "_toc.yml"
    if not toc_file.exists():
        raise FileNotFoundError(f"{toc_file} not found: pass --root, the folder of the book's _config.yml")
    toc = yaml.safe_load(toc_file.read_text(encoding="utf-8"))
    chapters, pages, n_chapter = [], [], 0

    def page(doc: str, number: str) -> Page | None:
        for ext in (".ipynb", ".md"):
            if (root / f"{doc}{ext}").exists():
                p = Page(doc, root / f"{doc}{ext}", number)
                pages.append(p)
                return p
        if allow_missing:
            print(f"warning: {doc} is listed in _toc.yml but has no .ipynb or .md; left out", file=sys.stderr)
            return None
        raise FileNotFoundError(f"{doc} is listed in _toc.yml but neither {doc}.ipynb nor {doc}.md exists "
                                "(write it, or pass --allow-missing to leave it out)")

    page(toc["root"], "")
    for part in toc.get("parts", []):
        for entry in part.get("chapters", []):
            if part.get("numbered"):
                n_chapter += 1
                index = page(entry["file"], str(n_chapter))
                sections = []  # numbered as the book numbers them: a missing page takes no number
                for s in entry.get("sections", []):
                    sec = page(s["file"], f"{n_chapter}.{len(sections) + 1}")
                    sections += [sec] if sec else []
                if index is not None:
                    chapters.append(Chapter(n_chapter, part.get("caption", ""), index, sections))
            else:
                page(entry["file"], "")
                for s in entry.get("sections", []):
                    page(s["file"], "")
    return chapters, pages


# ---------------------------------------------------------------- cells -> slides
def visible_items(page: Page, renderer: Renderer) -> list:
    """Headings, blocks and slide breaks of a page, without hidden cells and solutions."""
    items, in_solution = [], False
    for k, cell in enumerate(page.cells):
        meta = cell["metadata"]
        slide_type = meta.get("slideshow", {}).get("slide_type", "-")
        if HIDDEN_TAGS & set(meta.get("tags", [])) or slide_type in ("skip", "notes"):
            continue
        if slide_type in ("slide", "subslide"):
            items.append("break")
        if cell["type"] == "code":
            if not in_solution:
                items += code_blocks(cell["source"]) if cell["source"].strip() else []
                if "remove-output" not in meta.get("tags", []):
                    try:
                        items += output_blocks(cell["outputs"])
                    except ValueError as err:
                        raise ValueError(f"{page.path}, cell {k}: {err}") from None
        elif cell["type"] == "markdown":
            kept = []
            for group in top_level(cell["tokens"]):
                d = directive(group[0])
                if d and d[0] == "solution-start":
                    in_solution = True
                elif d and d[0] == "solution-end":
                    in_solution = False
                elif not in_solution and not (d and d[0] == "solution"):
                    kept += group
            items += renderer.blocks(kept)
    return items


def split_slides(items: list, title: str, kicker: str) -> list[Slide]:
    """Start a slide at every #/##/### heading (and at slide breaks); drop empty slides."""
    slides, h2 = [Slide(title, kicker)], ""
    for item in items:
        cur = slides[-1]
        if item == "break":
            if cur.blocks:
                slides.append(Slide(cur.title, cur.kicker))
        elif isinstance(item, Heading) and item.level <= 3:
            if item.level == 3 and h2 and not cur.blocks and cur.title == h2:
                cur.title, cur.kicker = item.html, f"{kicker} · {h2}"  # "## 推导" right before "### ..."
                continue
            if item.level <= 2:
                h2 = item.html if item.level == 2 else ""
            new = Slide(item.html, f"{kicker} · {h2}" if item.level == 3 and h2 else kicker)
            if item.level == 1 and not cur.blocks:
                continue  # the page title: shown on the title slide
            if cur.blocks:
                slides.append(new)
            else:
                slides[-1] = new
        elif isinstance(item, Heading):
            cur.blocks.append(Block(f"<h4>{item.html}</h4>", 1.9, keep_with_next=True))
        else:
            cur.blocks.append(item)
    return [s for s in slides if s.blocks]


def page_slides(book: Book, page: Page, kicker: str, title: str) -> list[Slide]:
    """The content slides of one page, paginated."""
    items = visible_items(page, Renderer(book, page))
    return [p for s in split_slides(items, title, kicker) for p in paginate(s)]


def deck_slides(book: Book, chapter: Chapter, html_dir: Path, out: Path) -> list[Slide]:
    """All slides of one chapter: chapter title, chapter introduction, then every section."""
    agenda = "".join(f'<li><span class="num">{s.number}</span>{Renderer(book, s).inline(s.title)}</li>'
                     for s in chapter.sections)
    title = Renderer(book, chapter.index).inline(chapter.index.title)
    slides = [Slide(title, f"第 {chapter.number} 章", kind="chapter", extra=f'<ol class="agenda">{agenda}</ol>')]
    slides += page_slides(book, chapter.index, f"第 {chapter.number} 章 {title}", "本章导读")
    for sec in chapter.sections:
        title = Renderer(book, sec).inline(sec.title)
        extra = f'<p class="run">在 JupyterLab 中运行：<code>{esc(sec.path.relative_to(book.root).as_posix())}</code></p>'
        link = html_dir / f"{sec.docname}.html"
        if link.exists():
            extra += f'<p class="book"><a href="{esc(relpath(link, out))}">在书中阅读本节 →</a></p>'
        slides.append(Slide(title, sec.number, kind="section", extra=extra))
        slides += page_slides(book, sec, f"{sec.number} {title}", title)
    return slides


def relpath(target: Path, start: Path) -> str:
    """Relative link (with /) from folder ``start`` to ``target``."""
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


# ---------------------------------------------------------------- HTML
MATHJAX_CONFIG = """window.MathJax = {
  tex: {inlineMath: [['\\\\(', '\\\\)']], displayMath: [['\\\\[', '\\\\]']]},
  options: {ignoreHtmlClass: 'deck', processHtmlClass: 'math'},
  startup: {pageReady: () => MathJax.startup.defaultPageReady().then(() => window.deckFit && window.deckFit())}
};"""


def slide_html(slide: Slide, n: int, total: int, deck_name: str) -> str:
    """One <section> of a deck: a title slide or a content slide, with its footer."""
    foot = f'<footer><span>{deck_name}</span><span class="pnum">{n} / {total}</span></footer>'
    if slide.kind in ("chapter", "section"):
        return (f'<section class="slide title-slide {slide.kind}" data-n="{n}"><div class="title-wrap">'
                f'<div class="number">{slide.kicker}</div><h1>{slide.title}</h1>{slide.extra}</div>{foot}</section>')
    body = "\n".join(b.html for b in slide.blocks)
    return (f'<section class="slide" data-n="{n}"><header><div class="kicker">{slide.kicker}</div>'
            f'<h2>{slide.title}</h2></header><div class="body"><div class="content">\n{body}\n</div></div>'
            f"{foot}</section>")


def page_html(title: str, body: str, css: str, js: str = "") -> str:
    """A complete HTML page; a deck (with ``js``) loads the MathJax copied next to it."""
    head = f'<script>{MATHJAX_CONFIG}</script>\n<script defer src="mathjax/tex-chtml-full.js"></script>\n' if js else ""
    script = f"<script>{js}</script>\n" if js else ""
    return (f'<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{title}</title>\n'
            f"<style>{css}</style>\n{head}</head>\n<body class=\"{'deck' if js else 'index'}\">\n{body}\n{script}</body>\n</html>\n")


def deck_html(name: str, slides: list[Slide]) -> str:
    """A self-contained deck: slides, navigation, inlined CSS and JavaScript."""
    css = (ASSETS / "deck.css").read_text(encoding="utf-8")
    js = (ASSETS / "deck.js").read_text(encoding="utf-8")
    total = len(slides)
    body = "\n".join(slide_html(s, k, total, name) for k, s in enumerate(slides, 1))
    nav = (f'<nav id="nav"><a href="index.html" title="全部幻灯片">☰</a><button id="prev" title="上一张（←）">‹</button>'
           f'<span id="slide-number">1 / {total}</span><button id="next" title="下一张（→ 或空格）">›</button></nav>'
           '<div id="progress"></div>')
    return page_html(f"{name} · 幻灯片", f'<main id="slides">\n{body}\n</main>\n{nav}', css, js)


def index_html(book_title: str, entries: list[tuple[Chapter, str, int, dict]], book_href: str | None) -> str:
    """The list of decks: each chapter, its sections (linked to their first slide), number of slides."""
    css = (ASSETS / "deck.css").read_text(encoding="utf-8")
    cards = []
    for ch, href, count, starts in entries:
        secs = "".join(f'<li><a href="{href}#{starts[s.number]}"><span class="num">{s.number}</span>{esc(s.title)}</a></li>'
                       for s in ch.sections)
        cards.append(f'<li class="card"><a href="{href}"><span class="num">第 {ch.number} 章</span>'
                     f'<strong>{esc(ch.index.title)}</strong><span class="count">{count} 张</span></a>'
                     f"<ol>{secs}</ol></li>")
    back = f'<p><a href="{esc(book_href)}">← 返回本书</a></p>' if book_href else ""
    body = (f'<div class="index-page"><h1>{esc(book_title)}</h1><p class="lead">课堂幻灯片：每章一套，'
            "由书中的笔记本自动生成，离线可用。</p>"
            '<p class="help">翻页：→ / 空格 / PageDown 下一张，← / PageUp 上一张，也可以点击页面；'
            "网址中的 #编号 记住当前页；打印（另存为 PDF）时每页一张幻灯片。</p>"
            f'<ol class="cards">{"".join(cards)}</ol>{back}</div>')
    return page_html(f"{esc(book_title)} · 幻灯片", body, css)


def build_slides(root: Path = ROOT, html_dir: Path | None = None, out: Path | None = None,
                 allow_missing: bool = False) -> list[Path]:
    """Write one deck per chapter plus index.html into ``out``; return the files written."""
    root = Path(root)
    html_dir = Path(html_dir) if html_dir else root / "_build" / "html"
    out = Path(out) if out else html_dir / "slides"
    if not (html_dir / "index.html").exists():
        raise FileNotFoundError(f"no built book at {html_dir} (index.html missing): build it first with "
                                "`jupyter-book build .`, or pass --html")
    mathjax = root / "_mathjax" / "mathjax"
    if not (mathjax / "tex-chtml-full.js").exists():
        raise FileNotFoundError(f"{mathjax}/tex-chtml-full.js not found: the book's local MathJax is missing")
    chapters, pages = read_toc(root, allow_missing)
    if not chapters:
        raise ValueError(f"{root / '_toc.yml'} has no numbered part with chapters: nothing to make slides of")
    book = Book(root, pages)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(mathjax, out / "mathjax", dirs_exist_ok=True)
    written, entries = [], []
    for ch in chapters:
        slides = deck_slides(book, ch, html_dir, out)
        name = Path(ch.index.docname).parent.name or f"chapter{ch.number}"
        path = out / f"{name}.html"
        path.write_text(deck_html(f"第 {ch.number} 章 {esc(ch.index.title)}", slides), encoding="utf-8")
        written.append(path)
        starts = {s.kicker: k for k, s in enumerate(slides, 1) if s.kind == "section"}  # section number -> slide
        entries.append((ch, path.name, len(slides), starts))
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) if (root / "_config.yml").exists() else {}
    back = relpath(html_dir / "index.html", out)
    (out / "index.html").write_text(index_html((config or {}).get("title", "幻灯片"), entries, back), encoding="utf-8")
    written.append(out / "index.html")
    for w in sorted(set(book.warnings)):
        print(f"warning: {w}", file=sys.stderr)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: build the decks; exit status 1 with a message when something is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=None, help="the built book (default: _build/html)")
    parser.add_argument("--out", type=Path, default=None, help="where the decks go (default: <html>/slides)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's source folder (default: this repository)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="leave out pages that _toc.yml lists but that do not exist yet")
    args = parser.parse_args(argv)
    try:
        written = build_slides(args.root, args.html, args.out, args.allow_missing)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{len(written) - 1} decks and index.html written to {written[-1].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
