"""Build the glossary appendix from the chapters: ``python scripts/glossary.py``.

The chapters introduce a technical term by following it with its English in full-width
parentheses: ``注意力机制（attention）``, ``**因果掩码**（causal mask）``, or with the Chinese term
inside the parentheses: ``（预训练，pretraining）``. This script finds every such gloss in the
markdown of the chapter pages (``_toc.yml`` order; code, math and inline code are skipped),
decides which Chinese term it glosses, and writes ``appendix/glossary.md``: one table row per
term with its English, the one-line definition from ``appendix/glossary.yml`` and a link to
the first page where the chapters gloss it, sorted by pinyin and grouped by initial letter.

Which words are "the term" (Chinese has no spaces): a **bold** or “quoted” run right before
the parenthesis is the term; otherwise the longest known term (a key or alias of glossary.yml) that ends the
text before the parenthesis, provided the English agrees with that entry; otherwise a
suggestion cut by jieba after the last function word, which is reported as missing. Hard
cases go into the ``overrides`` of glossary.yml, and wrong pinyin of polyphonic characters
into its ``readings``. ``--check`` writes nothing and lists what
needs attention (missing definitions, unused entries, a stale glossary.md); the test suite
runs the same check (tests/test_appendix.py).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("appendix") / "glossary.yml"
OUTPUT = Path("appendix") / "glossary.md"

CJK = "\u3400-\u4dbf\u4e00-\u9fff"
HOLE = "\ue000"  # stands for removed code, math and roles: never part of a term or a gloss
_DIRECTIVES_WITHOUT_PROSE = {"math", "code", "code-block", "code-cell", "bibliography", "toctree",
                             "raw", "literalinclude", "glue", "image"}
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(\{([^}]*)\})?\s*(.*)$")
_ROLE_OR_CODE = re.compile(r"(\{[^{}\s]+\})?(`+)(.+?)\2", re.S)
_DISPLAY_MATH = re.compile(r"\$\$.+?\$\$", re.S)
_INLINE_MATH = re.compile(r"(?<!\\)\$.+?(?<!\\)\$", re.S)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_PAREN = re.compile(r"（([^（）]*)）")  # innermost full-width parentheses
_ENGLISH = re.compile(r"[A-Za-z][A-Za-z0-9 .'’\-–/&+]*")
_SEGMENT_SPLIT = re.compile(r"[，；]")
# the run of term characters (CJK, Latin words, digits, single spaces, bold marks) ending the text
_TAIL = re.compile(rf"[{CJK}A-Za-z0-9\-–'’* ]+$")
_BOLD_END = re.compile(rf"\*\*([^*{HOLE}]+)\*\*$")
_QUOTED_END = re.compile(rf"“([^“”{HOLE}]+)”$")
# words after which a term starts, for suggestions about unknown terms
_FUNCTION_WORDS = {
    "的", "地", "得", "是", "叫", "叫作", "叫做", "称", "称为", "称作", "即", "用", "把", "将", "和", "与",
    "或", "及", "以及", "在", "了", "就", "这", "那", "这个", "那个", "这种", "一个", "一种", "个", "种",
    "为", "作为", "得到", "做", "对", "从", "由", "被", "给", "让", "使", "以", "所以", "因此", "而",
    "也", "都", "还", "再", "又", "所谓", "通过", "经过", "之", "其", "它", "它们", "我们", "最后",
    "就是", "也叫", "这叫", "称之为", "即为", "成为", "变成", "采用", "使用", "利用", "得出",
    "成", "一条", "一段", "来自", "所说", "所说的", "记录", "于是", "只", "每",
}
_MAX_SUGGESTED_WORDS = 4  # a suggested term is at most this many jieba words


@dataclass(frozen=True)
class Page:
    """A chapter page: its document name (for {doc}), section number, title and source file."""

    doc: str
    number: str
    title: str
    path: Path

    def link(self) -> str:
        """A MyST {doc} link to the page, shown as its number and title."""
        return f"{{doc}}`{self.number} {self.title} </{self.doc}>`"


@dataclass(frozen=True)
class Gloss:
    """One English gloss in the text: the term candidate before it and how it was found."""

    candidate: str  # the Chinese words as found (bold run, or the whole tail before the parenthesis)
    english: str
    bold: bool  # the candidate was marked up (**bold** or “quoted”): it is exactly the term
    context: str  # a little text around it, for messages


@dataclass(frozen=True)
class Occurrence:
    """A gloss on a page, resolved to a glossary term (``term`` is None when unresolved)."""

    gloss: Gloss
    page: Page
    term: str | None
    problem: str = ""


# ----------------------------------------------------------------------------- pages
def chapter_pages(root: Path = ROOT) -> list[Page]:
    """The chapter pages of ``_toc.yml`` in reading order (front matter and appendix excluded)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    pages: list[Page] = []
    chapter = 0
    for part in toc.get("parts") or []:
        for entry in part.get("chapters") or []:
            if not str(entry.get("file", "")).startswith("chapters/"):
                continue
            chapter += 1
            files = [(entry["file"], f"第 {chapter} 章")]
            files += [(s["file"], f"{chapter}.{j}") for j, s in enumerate(entry.get("sections") or [], 1)]
            for doc, number in files:
                path = _source(root, doc)
                if path is not None:  # pages still being written are skipped until they exist
                    pages.append(Page(doc, number, page_title(path), path))
    return pages


def _source(root: Path, doc: str) -> Path | None:
    for ext in (".ipynb", ".md"):
        if (root / f"{doc}{ext}").is_file():
            return root / f"{doc}{ext}"
    return None


def markdown_of(path: Path) -> str:
    """The markdown of a page: a .md file as is, a notebook's markdown cells joined."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    cells = json.loads(text)["cells"]
    return "\n\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                       for c in cells if c["cell_type"] == "markdown")


def page_title(path: Path) -> str:
    """The text of the page's first level-1 heading (roles and math kept as plain text)."""
    for line in markdown_of(path).splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    raise ValueError(f"{path} has no level-1 heading ('# Title'); every page needs one")


# ----------------------------------------------------------------------------- text
def prose(markdown: str) -> str:
    """The prose of MyST markdown: code blocks dropped; math, inline code and roles -> HOLE.

    Directive fences (```{prf:theorem} title) keep their title and body but lose their
    option lines (:label: ...); directives without prose (math, code, ...) are dropped.
    """
    out: list[str] = []
    stack: list[tuple[str, bool]] = []  # open fences: (marker, keep the body)
    options = False
    for line in markdown.splitlines():
        match = _FENCE.match(line)
        if match and stack and match.group(2) == stack[-1][0] and not match.group(3) and not match.group(5):
            stack.pop()
            out.append(HOLE)
            continue
        if match and (not stack or stack[-1][1]):
            name = match.group(4)
            keep = name is not None and name.strip() not in _DIRECTIVES_WITHOUT_PROSE
            stack.append((match.group(2), keep))
            out.append(HOLE + (match.group(5) if keep else "") + HOLE)
            options = keep
            continue
        if stack and not stack[-1][1]:
            continue
        if options and re.match(r"^\s*:[\w-]+:", line):
            continue
        options = False
        out.append(line)
    text = "\n".join(out)
    text = _COMMENT.sub(HOLE, text)
    text = _ROLE_OR_CODE.sub(HOLE, text)
    text = _DISPLAY_MATH.sub(HOLE, text)
    # a one-letter formula is read as that letter: "$n$ 元语法" glosses the term "n 元语法"
    text = _INLINE_MATH.sub(lambda m: m.group(0)[1] if re.fullmatch(r"\$[A-Za-z]\$", m.group(0)) else HOLE, text)
    return _LINK.sub(r"\1", text)


def _is_english(segment: str) -> bool:
    return _ENGLISH.fullmatch(segment.strip()) is not None


def _english_run(segments: list[str]) -> str:
    """The leading segments that are English, joined with '，' (e.g. 'negative log-likelihood，NLL')."""
    run = []
    for seg in segments:
        if not _is_english(seg):
            break
        run.append(seg.strip())
    return "，".join(run)


def _tail(text: str) -> tuple[str, bool]:
    """The term-like run that ends ``text``, and whether it is a **bold** run."""
    text = text.rstrip()
    bold = _BOLD_END.search(text)
    if bold and re.search(f"[{CJK}]", bold.group(1)):
        return bold.group(1).strip(), True
    quoted = _QUOTED_END.search(text)  # “涌现能力”（emergent abilities）: the quoted words
    if quoted and re.search(f"[{CJK}]", quoted.group(1)):
        return quoted.group(1).replace("**", "").strip(), True
    match = _TAIL.search(text)
    run = match.group(0) if match else ""
    run = run.split("**")[-1]  # a bold run that ended earlier is not part of the term
    run = re.sub(rf"^[^{CJK}]*?(?=[A-Za-z0-9]+ ?[{CJK}]|[{CJK}])", "", run, count=1)  # start at a word
    return run.strip(), False


def find_glosses(markdown: str) -> list[Gloss]:
    """Every English gloss in the prose of ``markdown``, in order."""
    text = prose(markdown)
    found = []
    for match in _PAREN.finditer(text):
        segments = _SEGMENT_SPLIT.split(match.group(1))
        context = (text[max(0, match.start() - 12):match.end()]).replace(HOLE, "…").replace("\n", " ")
        english = _english_run(segments)
        if english:  # 术语（english） : the term ends the text before the parenthesis
            candidate, bold = _tail(text[:match.start()])
        else:  # （…，术语，english…） : the term is the segment before the first English one
            k = next((i for i, s in enumerate(segments) if i > 0 and _is_english(s)), None)
            if k is None:
                continue
            english = _english_run(segments[k:])
            candidate, bold = _tail(segments[k - 1])
        if re.search(f"[{CJK}]", candidate) and re.search("[A-Za-z]{2}", english):
            found.append(Gloss(candidate, english, bold, context.strip()))
    return found


# ----------------------------------------------------------------------------- glossary data
@dataclass
class Glossary:
    """The contents of glossary.yml: term entries and overrides."""

    terms: dict[str, dict]
    overrides: dict[str, str | None]
    readings: dict[str, str] = field(default_factory=dict)  # phrase -> pinyin, where pypinyin errs

    def sort_key(self, term: str) -> tuple[tuple[str, ...], str]:
        """The term's sort key, with this glossary's readings."""
        return sort_key(term, self.readings)

    def lookup(self) -> dict[str, str]:
        """Every spelling (key or alias) -> its key."""
        table = {}
        for key, entry in self.terms.items():
            for spelling in [key, *entry.get("aliases", [])]:
                if spelling in table and table[spelling] != key:
                    raise ValueError(f"glossary.yml: {spelling!r} is claimed by {table[spelling]!r} and {key!r}")
                table[spelling] = key
        return table


def load_glossary(path: Path) -> Glossary:
    """Read and validate glossary.yml (ValueError naming the entry and what is wrong)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    terms, overrides, readings = raw.get("terms") or {}, raw.get("overrides") or {}, raw.get("readings") or {}
    allowed = {"en", "def", "aliases", "en_variants", "keep"}
    for key, entry in terms.items():
        if not isinstance(entry, dict):
            raise ValueError(f"glossary.yml: term {key!r} must be a mapping with en and def")
        unknown = set(entry) - allowed
        if unknown:
            raise ValueError(f"glossary.yml: term {key!r} has unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        for name in ("en", "def"):
            value = entry.get(name)
            if not isinstance(value, str) or not value.strip() or "\n" in value.strip() or "|" in value:
                raise ValueError(f"glossary.yml: term {key!r} needs a one-line {name} without '|', got {value!r}")
    for key, target in overrides.items():
        if target is not None and target not in terms:
            raise ValueError(f"glossary.yml: override {key!r} points to {target!r}, which is not a term; "
                             "add the term or use null (not a term)")
    for phrase, reading in readings.items():
        ok = (isinstance(phrase, str) and re.fullmatch(f"[{CJK}]+", phrase) and isinstance(reading, str)
              and re.fullmatch(r"[a-z]+( [a-z]+)*", reading) and len(reading.split()) == len(phrase))
        if not ok:
            raise ValueError(f"glossary.yml: reading {phrase!r}: {reading!r} must give one lower-case syllable "
                             "without tone per character, separated by spaces, e.g. '重置: chong zhi'")
    glossary = Glossary(terms, overrides, readings)
    glossary.lookup()
    return glossary


def _english_parts(text: str) -> set[str]:
    """Normalised pieces of an English term: 'maximum likelihood estimation (MLE)' -> 2 pieces."""
    pieces = re.split(r"[，,;；()]", text)
    return {re.sub(r"[^a-z0-9]", "", p.lower()) for p in pieces} - {""}


def english_agrees(gloss: str, entry: dict) -> bool:
    """Whether an English gloss names the entry: a piece of it equals a piece of the entry's en or
    en_variants, or one starts with the other ('scaling law' agrees with 'scaling laws', 'one-hot'
    with 'one-hot vector'; 'multinomial naive Bayes' does not agree with 'naive Bayes')."""
    known = set()
    for text in [entry["en"], *entry.get("en_variants", [])]:
        known |= _english_parts(text)
    return any(p == q or (min(len(p), len(q)) >= 4 and (p.startswith(q) or q.startswith(p)))
               for p in _english_parts(gloss) for q in known)


def suggest(candidate: str) -> str:
    """A guess at the term in a run of text: the words after the last function word (jieba)."""
    import jieba

    jieba.setLogLevel(60)  # no "Building prefix dict" messages
    words = [w for w in jieba.lcut(candidate.replace("**", "")) if w.strip()]
    last = max((i for i, w in enumerate(words) if w in _FUNCTION_WORDS), default=-1)
    rest = (words[last + 1:] or words[-1:])[-_MAX_SUGGESTED_WORDS:]
    return re.sub(rf"(?<=[{CJK}])(?=[A-Za-z0-9])|(?<=[A-Za-z0-9])(?=[{CJK}])", " ", "".join(rest))


def resolve(gloss: Gloss, glossary: Glossary, lookup: dict[str, str]) -> tuple[str | None, str]:
    """The glossary term a gloss belongs to, or (None, what to do about it)."""
    override_key = f"{gloss.candidate}（{gloss.english}）"
    if override_key in glossary.overrides:
        return glossary.overrides[override_key], ""
    if gloss.bold:
        matches = [gloss.candidate] if gloss.candidate in lookup else []
    else:
        matches = [s for s in lookup if gloss.candidate.endswith(s)]
    if matches:
        key = lookup[max(matches, key=len)]
        if english_agrees(gloss.english, glossary.terms[key]):
            return key, ""
        return None, (f"the text before it ends with the term {key!r} (en: {glossary.terms[key]['en']!r}) but the "
                      f"English differs: if it is the same concept add {gloss.english!r} to that entry's "
                      f"en_variants; if it is another term, add an entry for it, or the override "
                      f"'\"{override_key}\": <the term>' (null if it is not a term's gloss)")
    guess = gloss.candidate if gloss.bold else suggest(gloss.candidate)
    return None, (f"no definition: add an entry '{guess}: {{en: {gloss.english}, def: ...}}' under terms in "
                  f"{DATA.as_posix()}; if the term is not {guess!r}, add the override "
                  f"'\"{override_key}\": <the term>' instead (null if it is not a term's gloss)")


def extract(root: Path = ROOT, glossary: Glossary | None = None) -> list[Occurrence]:
    """Every gloss on the chapter pages, in reading order, resolved against the glossary."""
    glossary = glossary or load_glossary(root / DATA)
    lookup = glossary.lookup()
    occurrences = []
    for page in chapter_pages(root):
        for gloss in find_glosses(markdown_of(page.path)):
            term, problem = resolve(gloss, glossary, lookup)
            if term is not None or problem:
                occurrences.append(Occurrence(gloss, page, term, problem))
    return occurrences


def first_pages(occurrences: list[Occurrence]) -> dict[str, Page]:
    """Each resolved term -> the first page (reading order) that glosses it."""
    first: dict[str, Page] = {}
    for occ in occurrences:
        if occ.term is not None and occ.term not in first:
            first[occ.term] = occ.page
    return first


# ----------------------------------------------------------------------------- output
def sort_key(term: str, readings: dict[str, str] | None = None) -> tuple[tuple[str, ...], str]:
    """Pinyin (without tones, lower case; Latin words as they are) then the term itself.

    ``readings`` (phrase -> syllables) corrects pypinyin where it reads a polyphonic character
    wrongly in a phrase: 似然 is si ran, 微调 wei tiao, 重置 chong zhi.
    """
    from pypinyin import lazy_pinyin

    syllables = lazy_pinyin(term)  # one per CJK character, one per run of other characters
    tokens = re.findall(f"[{CJK}]|[^{CJK}]+", term)
    if len(tokens) != len(syllables):
        raise ValueError(f"cannot align the pinyin {syllables} with the term {term!r}")
    starts = {}  # character offset of each CJK token -> its index
    offset = 0
    for i, token in enumerate(tokens):
        starts[offset] = i
        offset += len(token)
    for phrase, reading in sorted((readings or {}).items(), key=lambda kv: -len(kv[0])):
        for match in re.finditer(re.escape(phrase), term):
            first = starts[match.start()]
            syllables[first:first + len(phrase)] = reading.split()
    return tuple(p.strip().lower() for p in syllables if p.strip()), term


def initial(term: str, readings: dict[str, str] | None = None) -> str:
    """The group heading of a term: the first letter of its pinyin, or '#' for a digit."""
    first = sort_key(term, readings)[0][0][0].upper()
    return first if "A" <= first <= "Z" else "#"


def render(glossary: Glossary, first: dict[str, Page]) -> str:
    """The text of glossary.md."""
    shown = sorted((t for t in glossary.terms if t in first), key=glossary.sort_key)
    lines = [
        "# 术语表",
        "",
        f"<!-- Generated by scripts/glossary.py from {DATA.as_posix()} and the chapters: do not edit by hand. -->",
        "",
        "正文第一次使用一个术语时，会在全角括号里注明它的英文，例如“注意力机制（attention）”。"
        f"本表收录各章这样注明过的全部 {len(shown)} 个术语，按汉语拼音排序；"
        "“首次出现”一栏链接到第一次注明它的那一节（按阅读顺序）。"
        "公式里的符号见{doc}`notation`。",
    ]
    group = None
    for term in shown:
        letter = initial(term, glossary.readings)
        if letter != group:
            group = letter
            lines += ["", f"## {group}", "", "| 中文 | English | 定义 | 首次出现 |", "| --- | --- | --- | --- |"]
        entry = glossary.terms[term]
        aliases = entry.get("aliases", [])
        name = f"{term}（又作：{'、'.join(aliases)}）" if aliases else term
        lines.append(f"| {name} | {entry['en'].strip()} | {entry['def'].strip()} | {first[term].link()} |")
    return "\n".join(lines) + "\n"


def check(root: Path = ROOT) -> list[str]:
    """Everything that needs attention, as messages (empty when the glossary is complete and current)."""
    glossary = load_glossary(root / DATA)
    occurrences = extract(root, glossary)
    problems = []
    seen = set()
    for occ in occurrences:
        if occ.problem and (occ.gloss.candidate, occ.gloss.english) not in seen:
            seen.add((occ.gloss.candidate, occ.gloss.english))
            problems.append(f"{occ.page.doc}: “{occ.gloss.context}”: {occ.problem}")
    first = first_pages(occurrences)
    for term, entry in glossary.terms.items():
        if term not in first and not entry.get("keep"):
            problems.append(f"{DATA}: the entry {term!r} is glossed on no chapter page: delete it, or give it "
                            "keep: <reason> if it stays on purpose (it is then not shown)")
    if not problems:
        current = (root / OUTPUT).read_text(encoding="utf-8") if (root / OUTPUT).is_file() else ""
        if current != render(glossary, first):
            problems.append(f"{OUTPUT} is out of date: run python scripts/glossary.py")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; list what needs attention")
    parser.add_argument("--list", action="store_true",
                        help="print every gloss, the term it resolved to and the term's sorting reading")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.list:  # the last column is the reading the table is sorted by: check polyphonic characters
        glossary = load_glossary(args.root / DATA)
        for occ in extract(args.root, glossary):
            reading = ""
            if occ.term is not None:
                reading = " ".join(glossary.sort_key(occ.term)[0])
            print(f"{occ.page.number}\t{occ.gloss.candidate}\t{occ.gloss.english}\t{occ.term or '?'}\t{reading}")
        return 0
    if args.check:
        problems = check(args.root)
        for p in problems:
            print(p)
        print("glossary OK" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    glossary = load_glossary(args.root / DATA)
    occurrences = extract(args.root, glossary)
    unresolved = [o for o in occurrences if o.problem]
    first = first_pages(occurrences)
    (args.root / OUTPUT).write_text(render(glossary, first), encoding="utf-8")
    print(f"wrote {OUTPUT}: {len(first)} terms from {len(chapter_pages(args.root))} pages")
    if unresolved:
        print(f"{len(unresolved)} gloss(es) unresolved (not in the table): run python scripts/glossary.py --check",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
