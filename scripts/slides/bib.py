"""A tiny BibTeX reader: short author names and year of each entry, for "(Author, year)" citations."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path


def read_bib(path: Path) -> dict[str, tuple[str, str]]:
    """Citation key -> (short author names, year) from a BibTeX file."""
    text, out = path.read_text(encoding="utf-8"), {}
    for m in re.finditer(r"@\w+\s*\{\s*([^,\s]+)\s*,", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        fields = dict((k.lower(), v) for k, v in bib_fields(text[m.end():i - 1]))
        out[m.group(1)] = (short_authors(fields.get("author", "")), latex_text(fields.get("year", "n.d.")))
    return out


def bib_fields(body: str):
    """Yield (name, raw value) pairs of one BibTeX entry body, read left to right."""
    pos = 0
    while m := re.compile(r"[\s,]*(\w+)\s*=\s*").match(body, pos):
        start = m.end()
        if body[start:start + 1] in ("{", '"'):
            close, depth, j = "}" if body[start] == "{" else '"', 0, start
            while j < len(body):
                depth += {"{": 1, "}": -1}.get(body[j], 0)
                if j > start and depth == 0 and (body[j] == close or close == "}"):
                    break
                j += 1
            yield m.group(1), body[start + 1:j]
            pos = j + 1
        else:  # a bare number or macro
            value = re.match(r"[^,}\s]*", body[start:]).group(0)
            yield m.group(1), value
            pos = start + len(value)


def latex_text(s: str) -> str:
    """Plain Unicode text of a BibTeX value: accents, a few symbols, no braces."""
    accents = {"'": "\u0301", '"': "\u0308", "`": "\u0300", "^": "\u0302", "~": "\u0303", "v": "\u030c",
               "c": "\u0327", "u": "\u0306", "=": "\u0304", ".": "\u0307"}
    s = re.sub(r"\\([\'\"`^~vcu=.])\s*\{?\\?(\w)\}?", lambda m: m.group(2) + accents[m.group(1)], s)
    for tex, char in (("\\L", "Ł"), ("\\l", "ł"), ("\\o", "ø"), ("\\ss", "ß"), ("\\&", "&"), ("--", "–")):
        s = s.replace(tex + "{}", char).replace(tex, char)
    return unicodedata.normalize("NFC", s.replace("{", "").replace("}", "")).strip()


def short_authors(field_text: str) -> str:
    """'A', 'A and B' or 'A et al.' from a BibTeX author list (surnames only)."""
    names = [n.strip() for n in re.split(r"\s+and\s+(?![^{]*\})", field_text) if n.strip()]
    last = [latex_text(n.split(",")[0] if "," in n else (n if n.startswith("{") else n.split()[-1])) for n in names]
    if not last:
        return "?"
    return last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2 else f"{last[0]} et al."
