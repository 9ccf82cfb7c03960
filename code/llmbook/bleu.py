"""BLEU (Papineni et al., 2002) from its definition, chapter 6.1.

corpus BLEU = BP * exp( (1/N) sum_n log p_n ), Eq. (eq-mt-bleu), with the modified (clipped)
n-gram precisions p_n of Eq. (eq-mt-pn), pooled over the whole corpus, and the brevity
penalty BP of Eq. (eq-mt-bp). Scores are reported on sacreBLEU's 0..100 scale.

Tokenisation: ``"zh"`` reproduces sacreBLEU's Chinese tokenizer (every CJK character is a
token; the rest is split by the mteval-v13a punctuation rules), ``"char"`` makes every
non-space character a token, ``"none"`` splits on whitespace only.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["TOKENIZERS", "BLEUResult", "tokenize", "ngram_counts", "clipped_matches",
           "brevity_penalty", "corpus_bleu", "sentence_bleu"]

TOKENIZERS = ("zh", "char", "none")
# CJK ideographs, CJK punctuation and full-width forms: one token each (as sacreBLEU's "zh")
_CJK = re.compile("([\u2e80-\u2eff\u2f00-\u2fdf\u2ff0-\u2fff\u3000-\u303f\u3100-\u312f\u31a0-\u31ef"
                  "\u3200-\u33ff\u3400-\u4db5\u4e00-\u9fbb\uf900-\ufa2d\ufa30-\ufa6a\ufa70-\ufad9"
                  "\ufe10-\ufe1f\ufe30-\ufe4f\uff00-\uffef\u2600-\u27bf])")
# mteval-v13a: split off punctuation and symbols; "." and "," only when not inside a number
_V13A = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


class BLEUResult(NamedTuple):
    """Corpus BLEU (0..100) and its parts: precisions p_n, BP, and the counts behind them."""

    score: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    hyp_len: int
    ref_len: int
    matches: tuple[int, ...]
    totals: tuple[int, ...]


def tokenize(text: str, method: str = "zh") -> list[str]:
    """Split a sentence into BLEU tokens: "zh", "char" or "none" (whitespace)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if method == "char":
        return [ch for ch in text if not ch.isspace()]
    if method == "none":
        return text.split()
    if method == "zh":
        line = _CJK.sub(r" \1 ", text.strip())
        for pattern, repl in _V13A:
            line = pattern.sub(repl, line)
        return line.split()
    raise ValueError(f"method must be one of {TOKENIZERS}, got {method!r}")


def ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    """How often each n-gram (a tuple of n tokens) occurs in tokens."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def clipped_matches(hyp: Sequence[str], ref: Sequence[str], n: int) -> tuple[int, int]:
    """(sum of min(count in hyp, count in ref), number of hyp n-grams): Eq. (eq-mt-pn) for one sentence."""
    h, r = ngram_counts(hyp, n), ngram_counts(ref, n)
    return sum(min(c, r[g]) for g, c in h.items()), sum(h.values())


def brevity_penalty(hyp_len: int, ref_len: int) -> float:
    """BP = 1 if c > r else exp(1 - r / c), and 0 for an empty output, Eq. (eq-mt-bp)."""
    if hyp_len < 0 or ref_len < 0:
        raise ValueError(f"lengths must be >= 0, got hyp_len={hyp_len}, ref_len={ref_len}")
    if hyp_len >= ref_len:
        return 1.0
    return math.exp(1 - ref_len / hyp_len) if hyp_len > 0 else 0.0


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], max_n: int = 4,
                tokenize_method: str = "zh") -> BLEUResult:
    """Corpus BLEU with one reference per sentence, no smoothing, Eq. (eq-mt-bleu)."""
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError("pass lists of sentences, not one str; wrap a single sentence: [s]")
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} references; "
                         "pass one reference per hypothesis")
    if len(hypotheses) == 0:
        raise ValueError("BLEU of an empty corpus is undefined; pass at least one sentence")
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a positive int, got {max_n!r}")
    matches, totals, c, r = [0] * max_n, [0] * max_n, 0, 0
    for hyp, ref in zip(hypotheses, references):
        h, g = tokenize(hyp, tokenize_method), tokenize(ref, tokenize_method)
        c, r = c + len(h), r + len(g)
        for n in range(1, max_n + 1):
            m, t = clipped_matches(h, g, n)
            matches[n - 1] += m
            totals[n - 1] += t
    precisions = tuple(m / t if t else 0.0 for m, t in zip(matches, totals))
    bp = brevity_penalty(c, r)
    if min(precisions) == 0.0:  # log 0: without smoothing BLEU is 0
        score = 0.0
    else:
        score = 100 * bp * math.exp(sum(math.log(p) for p in precisions) / max_n)
    return BLEUResult(score, precisions, bp, c, r, tuple(matches), tuple(totals))


def sentence_bleu(hypothesis: str, reference: str, max_n: int = 4,
                  tokenize_method: str = "zh") -> BLEUResult:
    """BLEU of one sentence (the corpus of one pair); often 0 for short sentences, no smoothing."""
    return corpus_bleu([hypothesis], [reference], max_n, tokenize_method)
