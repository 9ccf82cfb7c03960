"""BM25 retrieval from its formula (section 6.3), with character-bigram tokenisation.

``BM25(k1, b).fit(documents)`` builds an inverted index; ``scores(query)`` returns the BM25
score of every document, Eq. (eq-qa-bm25); ``top_k(query, k)`` the best documents.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Sequence

import torch

__all__ = ["PUNCTUATION", "char_bigrams", "BM25", "recall_at_k"]

PUNCTUATION = frozenset("，。？！、；：“”‘’（）《》…—· \t\n,.?!;:()\"'")


def char_bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of each punctuation-free run ("王伟生于" -> 王伟 伟生 生于)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    out, run = [], ""
    for ch in text + "。":  # a final separator flushes the last run
        if ch in PUNCTUATION:
            out.extend(run[i: i + 2] for i in range(len(run) - 1))
            if len(run) == 1:  # a lone character between separators is its own token
                out.append(run)
            run = ""
        else:
            run += ch
    return out


class BM25:
    """Okapi BM25 with parameters k1 (term-frequency saturation) and b (length normalisation)."""

    def __init__(self, k1: float = 1.5, b: float = 0.75,
                 tokenize: Callable[[str], list[str]] = char_bigrams) -> None:
        if isinstance(k1, bool) or not isinstance(k1, (int, float)) or k1 < 0:
            raise ValueError(f"k1 must be a number >= 0, got {k1!r}")
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b <= 1:
            raise ValueError(f"b must be a number in [0, 1], got {b!r}")
        self.k1, self.b, self.tokenize = float(k1), float(b), tokenize
        self.postings: dict[str, list[tuple[int, int]]] = {}
        self.doc_len: list[int] = []

    def fit(self, documents: Sequence[str]) -> "BM25":
        """Index ``documents``: term frequencies, document lengths (in tokens), postings."""
        if isinstance(documents, str) or not len(documents):
            raise ValueError("documents must be a non-empty sequence of strings")
        self.postings, self.doc_len = {}, []
        for i, doc in enumerate(documents):
            counts = Counter(self.tokenize(doc))
            self.doc_len.append(sum(counts.values()))
            for term in sorted(counts):
                self.postings.setdefault(term, []).append((i, counts[term]))
        self.avgdl = sum(self.doc_len) / len(self.doc_len)
        if self.avgdl == 0:
            raise ValueError("every document is empty after tokenisation; nothing to index")
        return self

    @property
    def num_docs(self) -> int:
        """Number of indexed documents N."""
        return len(self.doc_len)

    def _check_fitted(self) -> None:
        if not self.doc_len:
            raise RuntimeError("BM25 is not fitted; call fit(documents) first")

    def idf(self, term: str) -> float:
        """ln(1 + (N - n + 0.5) / (n + 0.5)), n = number of documents containing term, Eq. (eq-qa-idf)."""
        self._check_fitted()
        n = len(self.postings.get(term, ()))
        return math.log(1 + (self.num_docs - n + 0.5) / (n + 0.5))

    def scores(self, query: str) -> torch.Tensor:
        """BM25 score of every document for ``query`` (each distinct query term once), Eq. (eq-qa-bm25)."""
        self._check_fitted()
        out = torch.zeros(self.num_docs, dtype=torch.float64)
        for term in sorted(set(self.tokenize(query))):
            if term not in self.postings:
                continue
            w = self.idf(term)
            for i, tf in self.postings[term]:
                norm = self.k1 * (1 - self.b + self.b * self.doc_len[i] / self.avgdl)
                out[i] += w * tf * (self.k1 + 1) / (tf + norm)
        return out

    def top_k(self, query: str, k: int) -> list[int]:
        """Indices of the k best documents, best first (ties: lower index first)."""
        self._check_fitted()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        s = self.scores(query).tolist()
        return sorted(range(len(s)), key=lambda i: (-s[i], i))[:k]


def recall_at_k(rankings: Sequence[Sequence[int]], gold: Sequence[int], k: int) -> float:
    """Share of queries whose gold document is among the first k of its ranking, Eq. (eq-qa-recall)."""
    if len(rankings) != len(gold) or not len(gold):
        raise ValueError(f"need one ranking per gold document (and at least one), got "
                         f"{len(rankings)} rankings and {len(gold)} gold ids")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    return sum(g in list(r)[:k] for r, g in zip(rankings, gold)) / len(gold)
