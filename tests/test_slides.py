"""scripts/build_slides.py: one offline HTML deck per chapter, generated from the notebooks.

Unit tests build a small fake book in a temporary folder; the integration tests build the decks
of the real chapters; the last test opens a deck in headless Chromium (skipped without one).
"""
import base64
import importlib.util
import io
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from llmbook.book import NO_CHROMIUM, find_chromium

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("build_slides", ROOT / "scripts" / "build_slides.py")
bs = importlib.util.module_from_spec(spec)
sys.modules["build_slides"] = bs  # dataclasses look their module up there
spec.loader.exec_module(bs)
from slides import bib, blocks, myst  # noqa: E402  (the script put scripts/ on sys.path)


def png_bytes(w: int = 40, h: int = 30) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def md(src, **meta):
    cell = new_markdown_cell(src)
    cell.metadata.update(meta)
    return cell


def code(src, outputs=(), tags=None, **meta):
    cell = new_code_cell(src)
    cell.outputs = list(outputs)
    if tags:
        cell.metadata["tags"] = tags
    cell.metadata.update(meta)
    return cell


ALPHA = [
    code("SECRET_SETUP = 1", tags=["remove-cell"]),
    md("# Alpha 标题\n\n引言 $x<y$，见 {cite:p}`smith2020`。"),
    md("## 推导\n\n### 第一步\n\n$$\na < b\n$$ (eq-a-one)\n\n由式 {eq}`eq-a-one` 与 {eq}`eq-a-two` 得：\n\n"
       "$$\nc \\\\ d\n$$ (eq-a-two)\n\n$$\ne\n$$"),
    md("```{prf:theorem} 大定理\n:label: thm-a\n\n内容 $z$。\n```\n\n```{prf:proof}\n证明内容。\n```\n\n"
       "```{note}\n一条注意。\n```"),
    md("### 第二步\n\n跳过的幻灯片", slideshow={"slide_type": "skip"}),
    md("讲者备注 NOTES_TEXT", slideshow={"slide_type": "notes"}),
    code("print('hi')", [new_output("stream", name="stdout", text="".join(f"line {i}\n" for i in range(30)))]),
    code("plot()", [new_output("display_data", data={"image/png": base64.b64encode(png_bytes()).decode(),
                                                     "text/plain": "<Figure>"})]),
    md("新的一张 FORCED_SLIDE", slideshow={"slide_type": "slide"}),
    code("HIDDEN_INPUT = 2", tags=["remove-input"]),
    md("## 练习\n\n```{exercise} 理解\n:label: ex-a-1\n\n练习题目 EXERCISE_TEXT。\n```\n\n"
       "```{solution} ex-a-1\n:class: dropdown\n\nSOLUTION_BLOCK_TEXT\n```\n\n"
       "```{exercise} 编程\n:label: ex-a-2\n\n编程题目。\n```"),
    md("```{solution-start} ex-a-2\n:class: dropdown\n```\nGATED_SOLUTION_TEXT"),
    code("SOLUTION_CODE = 3", [new_output("stream", name="stdout", text="SOLUTION_OUTPUT\n")]),
    md("GATED_SOLUTION_END\n\n```{solution-end}\n```\n\n后记 AFTER_SOLUTION。"),
]
BETA = [
    md("# Beta\n\n见 {doc}`a`、{prf:ref}`thm-a`、{ref}`ex-a-1`、{numref}`ex-a-2`、式 {eq}`eq-a-two`，"
       "{cite:t}`jones2021` 与 {cite:p}`many2022,smith2020`。"),
    md("## 图\n\n![小图](pic.png) ![没有的图](nowhere.png)\n\n```{figure} pic.png\n:alt: 同一张图\n\n图注 FIGURE_CAPTION\n```"),
    code("x = 1 < 2", [new_output("execute_result", data={
        "text/html": "<table><tr><th>h</th></tr><tr><td>1</td></tr></table>", "text/plain": "T"})]),
]
BIB = r"""@article{smith2020,
  author = {Smith, John},
  title = {One},
  year = {2020}
}
@inproceedings{jones2021,
  author = {Jones, Ann and M{\"u}ller, J{\"o}rg},
  title = {Two},
  year = 2021,
}
@misc{many2022,
  author = "{OpenAI} and Doe, Jane and Roe, Rick",
  title = {Three},
  year = {2022}
}
"""
TOC = """format: jb-book
root: intro
parts:
  - caption: 第1章 测试
    numbered: true
    chapters:
      - file: chapters/01_x/index
        sections:
          - file: chapters/01_x/a
          - file: chapters/01_x/b
  - caption: 附录
    chapters:
      - file: appendix/notes
"""


@pytest.fixture
def book(tmp_path):
    """A one-chapter book with every construct the decks handle, and a stub of its build."""
    (tmp_path / "_toc.yml").write_text(TOC, encoding="utf-8")
    (tmp_path / "_config.yml").write_text("title: 测试之书\n", encoding="utf-8")
    (tmp_path / "references.bib").write_text(BIB, encoding="utf-8")
    (tmp_path / "intro.md").write_text("# 前言\n", encoding="utf-8")
    (tmp_path / "appendix").mkdir()
    (tmp_path / "appendix" / "notes.md").write_text("# 附注\n", encoding="utf-8")
    chapter = tmp_path / "chapters" / "01_x"
    chapter.mkdir(parents=True)
    (chapter / "index.md").write_text("# 测试章\n\n本章有 {doc}`a` 和 {doc}`b`。\n", encoding="utf-8")
    nbformat.write(new_notebook(cells=ALPHA), chapter / "a.ipynb")
    nbformat.write(new_notebook(cells=BETA), chapter / "b.ipynb")
    (chapter / "pic.png").write_bytes(png_bytes(20, 10))
    (tmp_path / "_mathjax" / "mathjax").mkdir(parents=True)
    (tmp_path / "_mathjax" / "mathjax" / "tex-chtml-full.js").write_text("// stub\n")
    (tmp_path / "_build" / "html").mkdir(parents=True)
    (tmp_path / "_build" / "html" / "index.html").write_text("<html></html>")
    return tmp_path


def build(root: Path) -> tuple[list[Path], str]:
    written = bs.build_slides(root)
    return written, written[0].read_text(encoding="utf-8")


def slides_of(deck: str) -> list[str]:
    return re.findall(r'<section class="slide.*?</section>', deck, re.S)


def text_of(fragment: str) -> str:
    return re.sub(r"<[^>]+>", "", re.sub(r'src="data:[^"]*"', "", fragment))


# ----------------------------------------------------------------------------- parsing
def test_toc_gives_numbered_chapters_and_all_pages(book):
    chapters, pages = bs.read_toc(book)
    assert [(c.number, c.index.docname, [s.number for s in c.sections]) for c in chapters] == \
        [(1, "chapters/01_x/index", ["1.1", "1.2"])]
    assert [p.docname for p in pages] == ["intro", "chapters/01_x/index", "chapters/01_x/a", "chapters/01_x/b",
                                          "appendix/notes"]


def test_missing_page_is_a_clear_error_unless_allowed(book, capsys):
    (book / "chapters" / "01_x" / "b.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match=r"chapters/01_x/b is listed in _toc.yml but neither"):
        bs.read_toc(book)
    chapters, _ = bs.read_toc(book, allow_missing=True)
    assert [s.docname for s in chapters[0].sections] == ["chapters/01_x/a"]
    assert "left out" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="pass --root"):
        bs.read_toc(book / "nowhere")


def test_bib_reader_gives_short_author_names(book):
    entries = bib.read_bib(book / "references.bib")
    assert entries == {"smith2020": ("Smith", "2020"), "jones2021": ("Jones and Müller", "2021"),
                   "many2022": ("OpenAI et al.", "2022")}
    assert bib.latex_text(r"Tom{\'a}{\v{s}} {\L}ukasz 1--2") == "Tomáš Łukasz 1–2"


def test_directive_fences_are_recognised():
    tok = myst.MD.parse("```{prf:theorem} Title $x$\n:label: thm-x\n:class: c\n\nBody\n```\n")[0]
    assert myst.directive(tok) == ("prf:theorem", "Title $x$", {"label": "thm-x", "class": "c"}, "\nBody\n")
    assert myst.directive(myst.MD.parse("```python\nx = 1\n```\n")[0]) is None


def test_numbers_follow_the_book(book):
    _, pages = bs.read_toc(book)
    index = myst.Book(book, pages)
    assert index.eq == {"eq-a-one": "1.1.1", "eq-a-two": "1.1.2"}
    assert index.labels["thm-a"] == ("定理 1.1.1", "定理 1.1.1")
    assert index.labels["ex-a-1"] == ("练习 1.1.1", "练习 1.1.1 (理解)")
    assert index.labels["ex-a-2"][0] == "练习 1.1.2"
    assert index.titles["chapters/01_x/a"] == "1.1 Alpha 标题"
    assert index.titles["appendix/notes"] == "附注"


# ----------------------------------------------------------------------------- rendering
def test_display_math_wraps_like_sphinx_and_escapes():
    assert blocks.display_math("a < b", "2.1.3") == '<div class="math display">\\[a &lt; b\\tag{2.1.3}\\]</div>'
    assert "\\begin{split}a \\\\ b\\end{split}" in blocks.display_math("a \\\\ b")
    assert "\\tag" not in blocks.display_math("x")


def test_code_is_highlighted_escaped_and_cut_into_pieces():
    src = "\n".join(f"x{i} = {i} < 2  # c" for i in range(40))
    pieces = blocks.code_blocks(src)
    assert len(pieces) == 3 and all(p.html.count("\n") < blocks.CODE_LINES for p in pieces)
    assert "&lt;" in pieces[0].html and '<span class="c1"># c</span>' in pieces[0].html
    joined = "\n".join(text_of(p.html) for p in pieces)
    assert joined.replace("&lt;", "<") == src
    # a blank line near the cut is preferred, and pieces never start or end blank
    src = "\n".join(["a = 1"] * 15 + [""] + ["b = 2"] * 10)
    first, second = blocks.code_blocks(src)
    assert text_of(first.html).splitlines() == ["a = 1"] * 15 and text_of(second.html).startswith("b = 2")


def test_outputs_streams_merged_long_text_truncated_tables_and_pngs():
    outs = [{"output_type": "stream", "name": "stdout", "text": "a\n"},
            {"output_type": "stream", "name": "stdout", "text": ["b\n", "c\n"]},
            {"output_type": "execute_result", "data": {"text/plain": "\n".join(map(str, range(40)))}},
            {"output_type": "display_data", "data": {"text/html": "<table><tr><td>1</td></tr></table>"}},
            {"output_type": "display_data", "data": {"image/png": base64.b64encode(png_bytes(50, 20)).decode()}},
            {"output_type": "display_data", "data": {"text/html": '<div class="highlight">..</div>',
                                                     "text/plain": "def f():\n    return 1"}}]
    out = blocks.output_blocks(outs)
    assert text_of(out[0].html) == "a\nb\nc"
    assert "输出共 40 行" in out[1].html and "\n13</pre>" in out[1].html and ">14<" not in out[1].html
    assert out[2].html.startswith('<div class="table"><table>')
    assert isinstance(out[3], blocks.Figure) and (out[3].width, out[3].height_px) == (50, 20)
    assert 'class="code"' in out[4].html and '<span class="k">def</span>' in out[4].html
    with pytest.raises(ValueError, match="not a PNG"):
        blocks.png_block(base64.b64encode(b"GIF89a....").decode())


def test_paginate_continues_full_slides_and_splits_boxes():
    para = lambda h, **kw: blocks.Block(f"<p>{h}</p>", h, **kw)  # noqa: E731
    slide = blocks.Slide("T", "K", [para(9), para(9), para(9)])
    pages = blocks.paginate(slide, budget=20)
    assert [p.title for p in pages] == ["T", "T（续）"] and [len(p.blocks) for p in pages] == [2, 1]
    # a short tail stays on the slide
    assert len(blocks.paginate(blocks.Slide("T", "", [para(10), para(10), para(3)]), budget=20)) == 1
    # a lead-in ending with a colon moves on with what it introduces
    pages = blocks.paginate(blocks.Slide("T", "", [para(12), para(4, keep_with_next=True), para(10)]), budget=20)
    assert [[b.height for b in p.blocks] for p in pages] == [[12], [4, 10]]
    # a box continues with its title marked
    box = blocks.Box("box-proof", "证明", [para(6), para(6), para(6)])
    pages = blocks.paginate(blocks.Slide("T", "", [para(6), box]), budget=20)
    assert len(pages) == 2 and "证明（续）" in pages[1].blocks[0].html
    assert sum(len(b.children) for p in pages for b in p.blocks if isinstance(b, blocks.Box)) == 3
    box = blocks.Box("box-proof", "证明", [para(6), para(2, keep_with_next=True), para(9)])
    pages = blocks.paginate(blocks.Slide("T", "", [para(8), box]), budget=20)
    assert [[b.height for b in p.blocks[-1].children] for p in pages] == [[6], [2, 9]]
    # a plot shrinks to share a slide when enough room is left
    fig = blocks.Figure("data:,", 600, 500)
    pages = blocks.paginate(blocks.Slide("T", "", [para(5), fig]), budget=20)
    assert len(pages) == 1 and pages[0].blocks[1].max_em == pytest.approx(14.4)


# ----------------------------------------------------------------------------- the fake book's deck
def test_fake_deck_splits_filters_and_resolves(book):
    written, deck = build(book)
    out = book / "_build" / "html" / "slides"
    assert [p.name for p in written] == ["01_x.html", "index.html"]
    assert (out / "mathjax" / "tex-chtml-full.js").exists() and 'src="mathjax/tex-chtml-full.js"' in deck
    slides = slides_of(deck)
    titles = [re.search(r"<h[12]>(.*?)</h[12]>", s).group(1) for s in slides]
    assert titles[:3] == ["测试章", "本章导读", "Alpha 标题"]  # chapter, its index page, the section title slide
    assert "第一步" in titles and "练习" in titles and "第二步" not in titles
    text = text_of(deck)
    # hidden cells, skipped/notes cells and every kind of solution are left out; exercises stay
    for gone in ("SECRET_SETUP", "HIDDEN_INPUT", "NOTES_TEXT", "跳过的幻灯片", "SOLUTION_BLOCK_TEXT",
                 "GATED_SOLUTION_TEXT", "SOLUTION_CODE", "SOLUTION_OUTPUT", "GATED_SOLUTION_END"):
        assert gone not in text, gone
    for kept in ("EXERCISE_TEXT", "AFTER_SOLUTION", "练习 1.1.1（理解）", "练习 1.1.2（编程）", "定理 1.1.1（大定理）",
                 "证明", "注意", "在 JupyterLab 中运行：chapters/01_x/a.ipynb", "输出共 30 行"):
        assert kept in text, kept
    # the slideshow "slide" type starts a slide, with the current title
    forced = next(s for s in slides if "FORCED_SLIDE" in s)
    assert "第一步" in forced and "<pre" not in forced
    # math, roles and citations
    assert "\\(x&lt;y\\)" in deck and "\\tag{1.1.1}" in deck and "\\tag{1.1.2}" in deck
    assert "由式 (1.1.1) 与 式 (1.1.2) 得" in text
    assert "(Smith, 2020)" in text
    beta = text_of(next(s for s in slides if "见 1.1 Alpha" in s))
    assert "见 1.1 Alpha 标题、定理 1.1.1、练习 1.1.1 (理解)、练习 1.1.2、式 (1.1.2)" in beta
    assert "Jones and Müller (2021) 与 (OpenAI et al., 2022; Smith, 2020)" in beta
    assert "本章有 1.1 Alpha 标题 和 1.2 Beta" in text
    for raw in ("```{", "{eq}`", "{cite", "{doc}`", "{ref}`", "$$"):
        assert raw not in text, raw
    # images of the markdown embedded from their files; a missing one leaves its alt text
    figures = next(s for s in slides if "FIGURE_CAPTION" in s)
    pic = "data:image/png;base64," + base64.b64encode(png_bytes(20, 10)).decode()
    assert figures.count(pic) == 2 and "[没有的图]" in figures and 'alt="同一张图"' in figures
    # the index lists the deck; every slide is numbered for print
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="01_x.html"' in index and "测试章" in index and "测试之书" in index
    start = next(k for k, s in enumerate(slides, 1) if "title-slide section" in s and "Beta" in s)
    assert f'href="01_x.html#{start}"' in index
    assert f'<span class="pnum">{len(slides)} / {len(slides)}</span>' in slides[-1]


def test_unknown_references_warn_but_build(book, capsys):
    nb = nbformat.read(book / "chapters" / "01_x" / "b.ipynb", 4)
    nb.cells.append(md("{eq}`eq-nope` {cite:p}`nope2000` {prf:ref}`thm-nope`"))
    nbformat.write(nb, book / "chapters" / "01_x" / "b.ipynb")
    _, deck = build(book)
    err = capsys.readouterr().err
    for what in ("unknown equation label 'eq-nope'", "unknown citation key 'nope2000'", "unknown prf:ref target"):
        assert what in err
    assert "式 (eq-nope)" in text_of(deck)


def test_output_is_deterministic(book):
    first = [p.read_bytes() for p in build(book)[0]]
    second = [p.read_bytes() for p in build(book)[0]]
    assert first == second


def test_missing_build_and_mathjax_are_clear_errors(book, capsys):
    with pytest.raises(FileNotFoundError, match="build it first"):
        bs.build_slides(book, html_dir=book / "nowhere")
    assert bs.main(["--root", str(book), "--html", str(book / "nowhere")]) == 1
    assert "jupyter-book build" in capsys.readouterr().err
    shutil.rmtree(book / "_mathjax")
    with pytest.raises(FileNotFoundError, match="local MathJax is missing"):
        bs.build_slides(book)


def test_broken_notebooks_are_clear_errors(book, capsys):
    nb = nbformat.read(book / "chapters" / "01_x" / "b.ipynb", 4)
    nb.cells.append(code("x", [new_output("display_data", data={"image/png": base64.b64encode(b"GIF89a").decode()})]))
    nbformat.write(nb, book / "chapters" / "01_x" / "b.ipynb")
    with pytest.raises(ValueError, match=r"b.ipynb, cell 3: an image/png output is not a PNG file; re-execute"):
        bs.build_slides(book)
    (book / "chapters" / "01_x" / "b.ipynb").write_text("{not json", encoding="utf-8")
    assert bs.main(["--root", str(book)]) == 1
    assert "b.ipynb is not a readable notebook" in capsys.readouterr().err


def test_command_line(book, capsys):
    out = book / "decks"
    assert bs.main(["--root", str(book), "--out", str(out)]) == 0
    assert "1 decks and index.html written" in capsys.readouterr().out
    assert (out / "01_x.html").exists() and (out / "index.html").exists()


# ----------------------------------------------------------------------------- the real chapters
@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Decks of the real book (pages the table of contents lists but that do not exist yet are left out)."""
    html = tmp_path_factory.mktemp("html")
    (html / "index.html").write_text("<html></html>")
    out = html / "slides"
    written = bs.build_slides(ROOT, html, out, allow_missing=True)
    chapters, _ = bs.read_toc(ROOT, allow_missing=True)
    return chapters, {p.name: p.read_text(encoding="utf-8") for p in written}, out


def solution_phrases() -> list[str]:
    """Runs of 12+ Chinese characters that occur only inside solutions of the real notebooks."""
    inside, outside = [], []
    for path in sorted((ROOT / "chapters").glob("*/*.ipynb")):
        gated = False
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] != "markdown":
                continue
            for part in re.split(r"(```\{solution\}.*?\n```|```\{solution-start\}.*?\n```|```\{solution-end\}\n```)",
                                 src, flags=re.S):
                if part.startswith("```{solution}"):
                    inside.append(part)
                elif part.startswith("```{solution-start}"):
                    gated = True
                elif part.startswith("```{solution-end}"):
                    gated = False
                else:
                    (inside if gated else outside).append(part)
    rest = "\n".join(outside)
    runs = [m for text in inside for m in re.findall(r"[\u4e00-\u9fff，、]{12,}", text)]
    return sorted({r for r in runs if r not in rest})


def test_real_book_has_a_deck_for_every_chapter(real):
    chapters, decks, out = real
    assert chapters and all(f"{Path(c.index.docname).parent.name}.html" in decks for c in chapters)
    n_notebooks = sum(1 for c in chapters for s in c.sections if s.path.suffix == ".ipynb")
    n_slides = sum(len(slides_of(d)) for d in decks.values())
    assert n_slides > n_notebooks
    for c in chapters:
        deck = decks[f"{Path(c.index.docname).parent.name}.html"]
        for s in c.sections:  # every section has its title slide with the notebook to open
            assert f"在 JupyterLab 中运行：<code>{s.path.relative_to(ROOT).as_posix()}</code>" in deck
    assert (out / "mathjax" / "tex-chtml-full.js").exists()
    assert (out / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_real_decks_have_no_raw_myst(real):
    _, decks, _ = real
    for name, deck in decks.items():
        text = text_of(deck)
        for raw in ("```{", "{eq}`", "{cite", "{doc}`", "{ref}`", "{prf:ref}`", "$$", "{solution"):
            assert raw not in text, f"{name}: raw {raw!r} left in the deck"


def test_real_decks_leave_solutions_out(real):
    _, decks, _ = real
    everything = "\n".join(text_of(d) for d in decks.values())
    known = "朴素贝叶斯的概率只是联合模型的副产品"  # the gated solution of exercise ex-gd-3
    source = (ROOT / "chapters" / "02_concepts" / "04_generative_discriminative.ipynb").read_text(encoding="utf-8")
    assert known in source, "the test's premise is wrong: pick another solution sentence"
    assert known not in everything
    phrases = solution_phrases()
    assert len(phrases) > 20, "the test found too few solution sentences to check"
    leaked = [p for p in phrases if p in everything]
    assert not leaked, f"solution text in the decks: {leaked[:3]}"


def test_real_decks_images_are_pngs(real):
    from PIL import Image
    _, decks, _ = real
    uris = [u for d in decks.values() for u in re.findall(r'src="data:([^"]*)"', d)]
    assert uris, "no embedded images found"
    for uri in uris:
        mime, b64 = uri.split(";base64,")
        assert mime == "image/png"
        Image.open(io.BytesIO(base64.b64decode(b64))).verify()


def check_numbers(html: Path) -> int:
    """Compare equation, theorem and exercise numbers with a build of the book; pages checked."""
    _, pages = bs.read_toc(ROOT, allow_missing=True)
    index = myst.Book(ROOT, pages)
    checked = 0
    for page in pages:
        built = html / f"{page.docname}.html"
        if page.path.suffix != ".ipynb" or not built.exists() or built.stat().st_mtime < max(
                page.path.stat().st_mtime, (ROOT / "_toc.yml").stat().st_mtime):
            continue
        text = built.read_text(encoding="utf-8")
        for number, label in re.findall(r'class="eqno">\(([\d.]+)\)<a class="headerlink" href="#equation-([^"]+)"', text):
            assert index.eq.get(label) == number, f"{page.docname}: {label} is ({number}) in the book"
        for label, number in re.findall(r'id="([\w-]+)">\s*<p class="admonition-title"><span class="caption-number">'
                                        r"([^<]*?) </span>", text):
            assert index.labels[label][0] == number, f"{page.docname}: {label} is {number} in the book"
        checked += 1
    return checked


def test_numbers_match_the_built_book():
    """Where the built book is current, the decks number equations, theorems, exercises as it does."""
    if not check_numbers(ROOT / "_build" / "html"):
        pytest.skip("no current build of the book in _build/html to compare with (jupyter-book build .)")


# ----------------------------------------------------------------------------- in a browser
def test_deck_navigates_and_typesets_offline(real):
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install -r requirements.txt")
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(NO_CHROMIUM)
    _, decks, out = real
    name = next(n for n, d in sorted(decks.items()) if n != "index.html" and "\\tag{" in d)
    errors, network = [], []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 720}, locale="zh-CN")

        def offline(route):
            if route.request.url.startswith(("file:", "data:", "blob:", "about:")):
                route.continue_()
            else:
                network.append(route.request.url)
                route.abort()

        context.route("**/*", offline)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto((out / name).as_uri(), wait_until="load")
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        total = len(slides_of(decks[name]))
        assert page.inner_text("#slide-number") == f"1 / {total}"
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        assert page.inner_text("#slide-number") == f"3 / {total}"
        assert page.evaluate("location.hash") == "#3"
        assert page.locator(".slide.current").count() == 1
        page.keyboard.press("PageUp")
        assert page.inner_text("#slide-number") == f"2 / {total}"
        assert page.locator("mjx-container").count() > 0, "MathJax typeset no formula"
        assert page.locator("mjx-merror").count() == 0, "MathJax reported errors"
        page.goto((out / name).as_uri() + "#5", wait_until="load")  # the hash selects the slide
        assert page.inner_text("#slide-number") == f"5 / {total}"
        browser.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not network, f"the deck tried to reach the network: {network[:5]}"
