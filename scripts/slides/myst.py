"""MyST markdown of the book's pages as slide blocks: math, roles, directives, references.

A page is parsed once with markdown-it-py and the MyST plugins of mdit_py_plugins; ``Book``
indexes every page (equation, theorem and exercise numbers as the book numbers them, page titles,
BibTeX entries) and ``Renderer`` turns a page's markdown into headings, blocks and boxes.
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.myst_blocks import myst_block_plugin
from mdit_py_plugins.myst_role import myst_role_plugin

from .bib import read_bib
from .blocks import LINE_CHARS, Block, Box, Heading, code_blocks, display_math, esc, math_height, n_lines

PRF = {"theorem": "定理", "definition": "定义", "proposition": "命题", "lemma": "引理", "corollary": "推论",
       "proof": "证明", "example": "例", "remark": "注", "conjecture": "猜想", "axiom": "公理",
       "algorithm": "算法", "property": "性质", "assumption": "假设", "observation": "观察"}
ADMONITIONS = {"note": "注意", "tip": "提示", "hint": "提示", "important": "重要", "warning": "警告",
               "caution": "小心", "attention": "注意", "danger": "危险", "error": "错误", "seealso": "另见",
               "admonition": "", "dropdown": "", "margin": "", "sidebar": "", "topic": ""}


@dataclass
class Page:
    """One page of the book: where it is, its number and title, and its cells once read."""
    docname: str
    path: Path
    number: str  # "2.4", "2" for a chapter index, "" when unnumbered
    title: str = ""
    cells: list = field(default_factory=list)  # dicts: type, tokens | source, outputs, metadata


def make_parser() -> MarkdownIt:
    """The MyST-flavoured markdown parser: dollar math with labels, roles, directives as fences."""
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.use(front_matter_plugin).use(myst_block_plugin).use(myst_role_plugin).use(colon_fence_plugin)
    md.use(dollarmath_plugin, allow_labels=True, allow_space=True, allow_digits=True)
    md.use(amsmath_plugin).use(deflist_plugin)
    return md


MD = make_parser()


def directive(token) -> tuple[str, str, dict, str] | None:
    """(name, argument, options, body) of a ```{name} fence, or None for a plain code fence."""
    m = re.match(r"\{([\w:.-]+)\}\s*(.*)", token.info.strip())
    if token.type not in ("fence", "colon_fence") or not m:
        return None
    lines, options = token.content.split("\n"), {}
    while lines and (opt := re.match(r":([\w-]+):\s*(.*)", lines[0])):
        options[opt.group(1)] = opt.group(2).strip()
        lines.pop(0)
    return m.group(1), m.group(2).strip(), options, "\n".join(lines)


def top_level(tokens: list) -> list[list]:
    """Split a token stream into its top-level blocks (an opening token up to its closing one)."""
    groups, i = [], 0
    while i < len(tokens):
        j, depth = i + 1, tokens[i].nesting
        while depth > 0:
            depth += tokens[j].nesting
            j += 1
        groups.append(tokens[i:j])
        i = j
    return groups


def load_cells(page: Page) -> None:
    """Read the page's cells, parsing markdown once; a .md page is one markdown cell."""
    if page.path.suffix == ".md":
        raw = [{"cell_type": "markdown", "source": page.path.read_text(encoding="utf-8"), "metadata": {}}]
    else:
        try:
            raw = json.loads(page.path.read_text(encoding="utf-8"))["cells"]
        except (ValueError, KeyError) as err:
            raise ValueError(f"{page.path} is not a readable notebook ({err}); open it in JupyterLab to repair it "
                             "or restore it from git") from None
    for cell in raw:
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        item = {"type": cell["cell_type"], "source": src, "metadata": cell.get("metadata", {}),
                "outputs": cell.get("outputs", [])}
        if cell["cell_type"] == "markdown":
            item["tokens"] = MD.parse(src)
        page.cells.append(item)


class Book:
    """Everything a reference can point to: equation numbers, numbered blocks, page titles, citations."""

    def __init__(self, root: Path, pages: list[Page]):
        self.root = root
        bib = root / "references.bib"
        self.bib = read_bib(bib) if bib.exists() else {}
        self.eq: dict[str, str] = {}
        self.labels: dict[str, tuple[str, str]] = {}  # label -> (numref text, ref text)
        self.titles: dict[str, str] = {}
        self.warnings: list[str] = []
        for page in pages:
            self.index_page(page)

    def index_page(self, page: Page) -> None:
        """Read a page and record its title and the numbers of its equations, theorems and exercises."""
        load_cells(page)
        counts: dict[str, int] = {}
        prefix = f"{page.number}." if page.number else ""

        def walk(tokens: list, target: str | None = None) -> None:
            for i, tok in enumerate(tokens):
                d = directive(tok)
                if tok.type == "myst_target":
                    target = tok.content
                elif tok.type == "heading_open":
                    text = tokens[i + 1].content
                    if tok.tag == "h1" and not page.title:
                        page.title = text
                    if target:
                        self.labels[target] = (text, text)
                    target = None
                elif tok.type == "math_block_label" or (d and d[0] == "math" and "label" in d[2]):
                    label = d[2]["label"] if d else tok.info
                    counts["eq"] = counts.get("eq", 0) + 1
                    self.eq[label] = f"{prefix}{counts['eq']}"
                elif d is not None:
                    name, arg, opts, body = d
                    kind = name.removeprefix("prf:")
                    word = "练习" if name == "exercise" else PRF.get(kind) if name.startswith("prf:") else None
                    if word and kind != "proof" and "nonumber" not in opts:
                        counts[word] = counts.get(word, 0) + 1
                        num = f"{word} {prefix}{counts[word]}"
                        if opts.get("label"):
                            self.labels[opts["label"]] = (num, f"{num} ({arg})" if arg and name == "exercise" else num)
                    walk(MD.parse(body))

        for cell in page.cells:
            if cell["type"] == "markdown":
                walk(cell["tokens"])
        page.title = page.title or page.docname.rsplit("/", 1)[-1]
        self.titles[page.docname] = f"{page.number} {page.title}".strip()


# ---------------------------------------------------------------- markdown -> blocks
def estimate(group: list, width: float) -> float:
    """Rough height (em of the body font) of a rendered group of block tokens."""
    if group[0].type == "table_open":  # rows of 0.72em text whose cells wrap
        rows, cells = [], []
        for t in group:
            if t.type == "tr_close":
                rows.append(cells)
                cells = []
            elif t.type == "inline":
                cells.append(t.content)
        cols = max((len(r) for r in rows), default=1)
        per_cell = width / 0.72 / cols
        return 1.0 + sum(0.72 * (1.5 * max(n_lines(c, per_cell) for c in r) + 0.5) for r in rows if r)
    h = 0.5
    for t in group:
        if t.type == "inline":
            h += n_lines(t.content, width) * 1.55 + 0.2
        elif t.type.startswith("math_block") or t.type == "amsmath":
            h += math_height(t.content)
        elif t.type in ("fence", "code_block"):
            h += t.content.count("\n") * 0.84 + 1.2
    return h


def data_uri(path: Path) -> str | None:
    """An image file as a data: URI, or None when it is missing or not an image."""
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml",
            ".gif": "image/gif"}.get(path.suffix.lower())
    if mime is None or not path.is_file():
        return None
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


class Renderer:
    """Turns one page's cells into headings and blocks, resolving MyST roles and directives."""

    def __init__(self, book: Book, page: Page):
        self.book, self.page, self.env = book, page, {"r": self}

    def warn(self, msg: str) -> None:
        """Record a problem of the page (printed once at the end of the build)."""
        self.book.warnings.append(f"{self.page.docname}: {msg}")

    def inline(self, src: str) -> str:
        """HTML of one line of markdown (a title, a directive argument)."""
        return MD.renderInline(src, self.env).strip()

    def ref(self, content: str, kind: str) -> str:
        """Text of a {doc}, {ref}, {numref} or {prf:ref} target: its title or number, as the book shows it."""
        m = re.fullmatch(r"(.*?)\s*<([^<>]+)>", content, re.S)
        text, target = (m.group(1), m.group(2)) if m else ("", content.strip())
        if kind == "doc":
            base = Path(self.page.docname).parent
            doc = target.lstrip("/") if target.startswith("/") else (base / target).as_posix()
            doc = re.sub(r"[^/]+/\.\./", "", doc).removesuffix(".ipynb").removesuffix(".md")
            found = self.book.titles.get(doc)
        else:
            entry = self.book.labels.get(target)
            found = entry and (entry[0] if kind == "numref" else entry[1])
        if found is None and not text:
            self.warn(f"unknown {kind} target {target!r}")
        return esc(text or found or target)

    def cite(self, keys: str, textual: bool) -> str:
        """'(Author, year; ...)' for {cite:p}, 'Author (year)' for {cite:t}."""
        found = []
        for key in [k.strip() for k in keys.split(",") if k.strip()]:
            if key not in self.book.bib:
                self.warn(f"unknown citation key {key!r}")
            found.append(self.book.bib.get(key, (key, "?")))
        if textual:
            return "、".join(esc(f"{a} ({y})") for a, y in found)
        return esc("(" + "; ".join(f"{a}, {y}" for a, y in found) + ")")

    def role(self, tokens: list, idx: int) -> str:
        """HTML of the MyST role tokens[idx]; {eq} gives '(2.4.1)' after 式, else '式 (2.4.1)'."""
        tok = tokens[idx]
        name, content = tok.meta["name"], tok.content
        if name == "eq":
            number = self.book.eq.get(content.strip())
            if number is None:
                self.warn(f"unknown equation label {content!r}")
            before = tokens[idx - 1].content if idx and tokens[idx - 1].type == "text" else ""
            return ("" if before.rstrip().endswith("式") else "式 ") + f"({esc(number or content)})"
        if name in ("cite", "cite:p", "cite:ps", "cite:t", "cite:ts"):
            return self.cite(content, name.startswith("cite:t"))
        if name in ("doc", "ref", "numref", "prf:ref"):
            return self.ref(content, name)
        if name == "math":
            return f'<span class="math">\\({esc(content)}\\)</span>'
        if name in ("code", "kbd", "samp"):
            return f"<code>{esc(content)}</code>"
        return esc(re.sub(r"\s*<[^<>]+>$", "", content))  # term, abbr, ...: the text itself

    # ---- block level
    def blocks(self, tokens: list, width: float = LINE_CHARS) -> list:
        """Headings, Blocks and Boxes of a token stream (solutions already removed)."""
        out = []
        for group in top_level(tokens):
            tok, d = group[0], directive(group[0])
            if tok.type == "heading_open":
                out.append(Heading(int(tok.tag[1]), self.inline(group[1].content)))
            elif d is not None:
                out.extend(self.directive(d, width))
            elif tok.type not in ("myst_target", "myst_line_comment", "myst_block_break", "front_matter"):
                text = MD.renderer.render(group, MD.options, self.env)
                tail = group[-2].content.rstrip() if len(group) > 2 and group[-2].type == "inline" else ""
                out.append(Block(text, estimate(group, width), keep_with_next=tail.endswith(("：", ":"))))
        return out

    def directive(self, d: tuple, width: float) -> list:
        """Blocks of one directive: a titled box for theorems, proofs, exercises and admonitions."""
        name, arg, opts, body = d
        kind = name.removeprefix("prf:")
        if name in ("solution", "solution-start", "solution-end"):
            return []
        if name == "math":
            return [Block(display_math(body, self.book.eq.get(opts.get("label", ""), "")), math_height(body))]
        if name in ("code", "code-block", "sourcecode", "code-cell"):
            return code_blocks(body)
        if name in ("figure", "image"):
            uri = data_uri(self.page.path.parent / arg)
            if uri is None:
                self.warn(f"image {arg!r} not found or not an image")
                return []
            cap = f"<figcaption>{self.inline(body.strip())}</figcaption>" if body.strip() else ""
            return [Block(f'<figure><img src="{uri}" alt="{esc(opts.get("alt", ""))}">{cap}</figure>', 16.0)]
        if name == "exercise" or name.startswith("prf:"):
            word = "练习" if name == "exercise" else PRF.get(kind, kind)
            entry = self.book.labels.get(opts.get("label", ""))
            title = word if kind == "proof" else entry[0] if entry else word
            if arg:
                title += f"（{self.inline(arg)}）"
            cls = "box-exercise" if name == "exercise" else f"box-{kind}"
        elif name in ADMONITIONS:
            title = self.inline(arg) if name in ("admonition", "dropdown", "topic") or not ADMONITIONS[name] \
                else ADMONITIONS[name] + (f"：{self.inline(arg)}" if arg else "")
            cls = "box-warning" if name in ("warning", "caution", "danger", "error") else "box-note"
        else:
            self.warn(f"directive {{{name}}} is shown as a plain box")
            title, cls = esc(name), "box-note"
        children = [Block(f"<h4>{c.html}</h4>", 1.9) if isinstance(c, Heading) else c
                    for c in self.blocks(MD.parse(body), width - 3)]
        if kind == "proof":
            children.append(Block('<div class="qed">∎</div>', 0.0))
        return [Box(cls, title, children)]


def _render_rules() -> None:
    """Teach the parser's HTML renderer MyST: math for MathJax, roles, directives, links, images."""
    r = lambda tokens, idx, env: env["r"]  # noqa: E731
    rules = {
        "math_inline": lambda s, t, i, o, env: f'<span class="math">\\({esc(t[i].content)}\\)</span>',
        "math_inline_double": lambda s, t, i, o, env: display_math(t[i].content),
        "math_block": lambda s, t, i, o, env: display_math(t[i].content),
        "math_block_label": lambda s, t, i, o, env: display_math(t[i].content, r(t, i, env).book.eq.get(t[i].info, "")),
        # a top-level amsmath environment is display math by itself (MathJax finds \begin{...})
        "amsmath": lambda s, t, i, o, env: f'<div class="math display">{esc(t[i].content)}</div>',
        "myst_role": lambda s, t, i, o, env: r(t, i, env).role(t, i),
        "myst_target": lambda *a: "", "myst_line_comment": lambda *a: "", "myst_block_break": lambda *a: "",
        "front_matter": lambda *a: "",
        "fence": lambda s, t, i, o, env: "".join(b.html for b in (
            r(t, i, env).directive(directive(t[i]), LINE_CHARS) if directive(t[i]) else code_blocks(t[i].content))),
    }
    rules["colon_fence"] = rules["fence"]
    for name, fn in rules.items():
        MD.add_render_rule(name, fn)
    def link_open(self, tokens, idx, options, env):
        href = tokens[idx].attrGet("href") or ""
        if not re.match(r"(https?:|mailto:)", href):  # a link into the book: keep the text only
            tokens[idx].attrs = {"class": "internal"}
            tokens[idx].tag = "span"
            closing = next(t for t in tokens[idx:] if t.type == "link_close")
            closing.tag = "span"
        return self.renderToken(tokens, idx, options, env)

    MD.add_render_rule("link_open", link_open)

    def image(self, tokens, idx, options, env):
        uri = data_uri(env["r"].page.path.parent / (tokens[idx].attrGet("src") or ""))
        alt = esc(tokens[idx].content)
        return f'<img src="{uri}" alt="{alt}">' if uri else f"<em>[{alt}]</em>"

    MD.add_render_rule("image", image)


_render_rules()
