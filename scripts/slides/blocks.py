"""Slide building blocks: pieces of HTML with estimated heights, code and outputs, pagination.

Heights are in em of the slide's body font on the 1280x720 design (see deck.css); the estimates
decide where a slide continues on the next one, and the browser shrinks what still overflows.
"""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field

from pygments.lexers import PythonLexer
from pygments.token import STANDARD_TYPES

BUDGET = 19.5  # usable body height of a slide, in em of the body font (1280x720 design)
LINE_CHARS = 44  # CJK characters per line of body text
CODE_LINES = 18  # longest code piece on one slide
OUTPUT_LINES = 14  # longer text outputs are truncated
FIGURE_EM, MIN_FIGURE = 18.0, 13.0  # plot height (em): normal, and the least it may shrink to
TOLERANCE = 1.2  # a slide may be this much fuller than BUDGET to avoid a near-empty continuation


@dataclass
class Block:
    """A piece of a slide that is never split: its HTML and its estimated height (em)."""
    html: str
    height: float
    keep_with_next: bool = False


@dataclass
class Box:
    """A titled box (theorem, proof, exercise, note) whose children may continue on the next slide."""
    cls: str
    title: str
    children: list
    cont: bool = False
    keep_with_next = False

    @property
    def height(self) -> float:
        return 2.7 + sum(c.height for c in self.children)

    @property
    def html(self) -> str:
        title = self.title + ("（续）" if self.cont else "")
        head = f'<div class="box-title">{title}</div>' if title else ""
        return f'<div class="box {self.cls}">{head}{"".join(c.html for c in self.children)}</div>'


@dataclass
class Figure:
    """A plot from a stored output; it may be drawn smaller (down to MIN_FIGURE em) to share a slide."""
    uri: str
    width: int
    height_px: int
    max_em: float = FIGURE_EM
    keep_with_next = False

    @property
    def height(self) -> float:
        return min(self.height_px * min(1.0, 1150 / self.width) / 25.6, self.max_em) + 0.6

    @property
    def html(self) -> str:
        return (f'<div class="figure"><img src="{self.uri}" alt="图" width="{self.width}" '
                f'height="{self.height_px}" style="max-height: {self.max_em:.1f}em"></div>')


@dataclass
class Heading:
    """A markdown heading; levels 1-3 start a slide."""
    level: int
    html: str


@dataclass
class Slide:
    """One slide: title, the line above it (kicker), its blocks; or a chapter/section title slide."""
    title: str
    kicker: str = ""
    blocks: list = field(default_factory=list)
    kind: str = "content"  # content | section | chapter
    extra: str = ""


def esc(s: str) -> str:
    """Text escaped for HTML (content and attribute values)."""
    return html.escape(s)


def display_math(tex: str, number: str = "") -> str:
    """MathJax display math as Sphinx writes it: a part with \\\\ in split, several parts aligned."""
    parts = [p.strip() for p in tex.split("\n\n") if p.strip()]
    parts = [f"\\begin{{split}}{p}\\end{{split}}" if "\\\\" in p else p for p in parts]
    body = parts[0] if len(parts) == 1 else "\\begin{aligned}" + " \\\\ ".join(parts) + "\\end{aligned}"
    tag = f"\\tag{{{number}}}" if number else ""
    return f'<div class="math display">\\[{esc(body)}{tag}\\]</div>'


def text_units(s: str) -> float:
    """Width of text in CJK characters (Latin letters count about half)."""
    s = re.sub(r"\{[\w:]+\}`[^`]*`", "xxxxxxxxx", s)
    s = re.sub(r"\$([^$]+)\$", lambda m: "x" * int(len(m.group(1)) * 0.6), s)
    return sum(1.0 if ord(ch) >= 0x2E80 else 0.55 for ch in s)


def n_lines(s: str, width: float) -> int:
    """Lines that text takes at ``width`` CJK characters a line."""
    return sum(max(1, -(-int(text_units(line)) // int(width))) for line in s.split("\n"))


def math_height(tex: str) -> float:
    """Rough height (em) of a display formula: rows, taller when they hold fractions or sums."""
    tall = any(t in tex for t in ("\\frac", "\\sum", "\\prod", "\\int", "\\binom", "matrix", "brace", "\\lim"))
    return (1 + tex.count("\\\\")) * (2.1 if tall else 1.5) + 1.0


# ---------------------------------------------------------------- code cells
def highlight(src: str) -> list[str]:
    """Python source as HTML lines with Pygments token classes (one string per line)."""
    lines, cur = [], []
    for ttype, value in PythonLexer(stripnl=False, ensurenl=False).get_tokens(src):
        while ttype not in STANDARD_TYPES:
            ttype = ttype.parent
        cls = STANDARD_TYPES[ttype]
        for k, piece in enumerate(value.split("\n")):
            if k:
                lines.append("".join(cur))
                cur = []
            if piece:
                cur.append(f'<span class="{cls}">{esc(piece)}</span>' if cls else esc(piece))
    lines.append("".join(cur))
    return lines


def code_blocks(src: str) -> list[Block]:
    """A code cell's source, cut into pieces of at most CODE_LINES lines, preferably at blank lines."""
    lines = highlight(src.strip("\n"))
    blank = [not re.sub("<[^>]+>", "", line).strip() for line in lines]
    size = -(-len(lines) // -(-len(lines) // CODE_LINES))  # even pieces
    out, start = [], 0
    while start < len(lines):
        end = min(start + size, len(lines))
        if end < len(lines):  # cut at the blank line nearest to the even cut, if there is one
            near = [k for k in range(start + size // 2, min(start + CODE_LINES, len(lines))) if blank[k]]
            end = min(near, key=lambda k: (abs(k - end), k), default=end)
        part = lines[start:end]
        while part and blank[start]:
            part, start = part[1:], start + 1
        while part and blank[start + len(part) - 1]:
            part = part[:-1]
        start = end
        if part:
            height = sum(max(1, -(-len(re.sub("<[^>]+>", "", p)) // 110)) for p in part) * 0.84 + 1.1
            out.append(Block('<pre class="code">' + "\n".join(part) + "</pre>", height))
    return out


def text_output(text: str) -> Block:
    """Printed text of a cell (colour codes removed), truncated after OUTPUT_LINES lines with a note."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).rstrip("\n")
    lines = text.split("\n")
    note = ""
    if len(lines) > OUTPUT_LINES:
        note = f'<div class="trunc">…… 输出共 {len(lines)} 行，这里只显示前 {OUTPUT_LINES} 行</div>'
        lines = lines[:OUTPUT_LINES]
    height = sum(max(1, -(-len(line) // 110)) for line in lines) * 0.84 + 1.0 + (1.2 if note else 0)
    return Block(f'<pre class="output">{esc(chr(10).join(lines))}</pre>{note}', height)


def png_block(b64: str) -> Figure:
    """A stored image/png output as a Figure (its size read from the PNG header)."""
    data = base64.b64decode(b64)
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("an image/png output is not a PNG file; re-execute the notebook")
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return Figure("data:image/png;base64," + base64.b64encode(data).decode("ascii"), w, h)


def output_blocks(outputs: list) -> list[Block]:
    """Text, table and image outputs of a code cell (streams merged, as in the book)."""
    out, stream = [], []
    for o in outputs + [{"output_type": "end"}]:
        if o["output_type"] == "stream":
            stream.append(o["text"] if isinstance(o["text"], str) else "".join(o["text"]))
            continue
        if stream:
            out.append(text_output("".join(stream)))
            stream = []
        data = {k: v if isinstance(v, str) else "".join(v) for k, v in o.get("data", {}).items()}
        page_html = data.get("text/html", "").strip()
        if "image/png" in data:
            out.append(png_block(data["image/png"]))
        elif re.fullmatch(r"<table>.*</table>", page_html, re.S) and "<script" not in page_html:
            rows = page_html.count("<tr")
            out.append(Block(f'<div class="table">{page_html}</div>', rows * 1.35 + 1.0))
        elif 'class="highlight"' in page_html and "text/plain" in data:  # IPython Code (show_source)
            out.extend(code_blocks(data["text/plain"]))
        elif "text/plain" in data:
            out.append(text_output(data["text/plain"]))
        elif o["output_type"] == "error":
            out.append(text_output("\n".join(o.get("traceback", [])) or f"{o['ename']}: {o['evalue']}"))
    return out


def paginate(slide: Slide, budget: float = BUDGET) -> list[Slide]:
    """Continue a too-full slide on new slides ("（续）"), splitting boxes between their children."""
    pages, used, queue = [Slide(slide.title, slide.kicker)], 0.0, list(slide.blocks)
    while queue:
        b, page = queue.pop(0), pages[-1]
        if isinstance(b, Figure) and page.blocks and used + b.height > budget and budget - used - 0.6 >= MIN_FIGURE:
            b = Figure(b.uri, b.width, b.height_px, budget - used - 0.6)  # a smaller plot shares the slide
        need = b.height + (queue[0].height if b.keep_with_next and queue else 0)
        rest = b.height + sum(q.height for q in queue)
        # a short tail stays (the browser shrinks the slide a little), so do a lead-in and what it introduces
        if used + need <= budget or not page.blocks or used + rest <= budget * TOLERANCE \
                or (b.keep_with_next and used + need <= budget * TOLERANCE):
            page.blocks.append(b)
            used += b.height
            continue
        if isinstance(b, Box) and len(b.children) > 1:
            room, k = budget - used - 2.7, 0
            while k < len(b.children) - 1 and room >= b.children[k].height:
                room -= b.children[k].height
                k += 1
            while k and b.children[k - 1].keep_with_next:  # a lead-in stays with what it introduces
                k -= 1
            if k:
                page.blocks.append(Box(b.cls, b.title, b.children[:k], b.cont))
                queue.insert(0, Box(b.cls, b.title, b.children[k:], True))
                pages.append(Slide(f"{slide.title}（续）", slide.kicker))
                used = 0.0
                continue
        queue.insert(0, b)
        pages.append(Slide(f"{slide.title}（续）", slide.kicker))
        used = 0.0
    return pages
