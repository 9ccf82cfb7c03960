"""N-gram language models: counts, MLE, add-k and interpolated Kneser-Ney, perplexity.

Chapter 1 derives every formula implemented here; each carries its equation label, e.g.
(eq-kn), so the notebooks can check the formulas against this code.

Conventions
* A sentence is a sequence of tokens (a ``str`` is a sequence of characters). An n-gram model
  pads it with n-1 ``<s>`` on the left and one ``</s>`` on the right. Every token and the final
  ``</s>`` are predicted; ``<s>`` never is, so it is not in the vocabulary.
* Counts c(g) of every order 1..n count the occurrences of g that end at the last ``<s>`` or
  later. So each predicted token ends exactly one m-gram of each order, the padding ``<s>``^j
  counts once per sentence, and c(h) = sum_w c(h w) for every context h: the denominator of
  (eq-mle) is an ordinary count.
"""
from __future__ import annotations

import gc
import math
import random
from collections import Counter
from itertools import chain
from operator import itemgetter
from typing import Iterable, Sequence

import numpy as np

__all__ = ["BOS", "EOS", "UNK", "SMOOTHINGS", "NGramLM", "unseen_ngram_rate"]

BOS = "<s>"
EOS = "</s>"
UNK = "<unk>"
SMOOTHINGS = ("mle", "add-k", "kn")
_HEAD, _TAIL = itemgetter(slice(None, -1)), itemgetter(slice(1, None))  # g[:-1], g[1:]


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (1 = unigram, 2 = bigram, ...), got {n!r}")
    return n


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _as_sentences(sentences: Iterable[Sequence[str]], what: str) -> list[Sequence[str]]:
    """Materialise a corpus; reject a bare string and sentences that contain <s> or </s>."""
    if isinstance(sentences, str):
        raise ValueError(f"{what} must be an iterable of sentences, got a single str; "
                         "wrap it: [text]")
    out = []
    for i, s in enumerate(sentences):
        if not isinstance(s, (str, list, tuple)):
            s = tuple(s)
        if not isinstance(s, str) and (BOS in s or EOS in s):
            raise ValueError(f"sentence {i} of {what} contains {BOS!r} or {EOS!r}; "
                             "pass raw tokens, the model adds the padding itself")
        out.append(s)
    return out


def _pad(sentence: Sequence[str], n: int) -> tuple:
    """(n-1) x <s>, the tokens, </s>: the padded sentence behind (eq-chain) and (eq-markov)."""
    return (BOS,) * (n - 1) + tuple(sentence) + (EOS,)


def _grams(padded: tuple, n: int, m: int) -> Iterable[tuple]:
    """The m-grams of a padded sentence that end at a predicted token (position n-1 or later)."""
    return zip(*(padded[n - m + j:] for j in range(m)))


def _count_ngrams(pads: list[tuple], n: int) -> list[Counter]:
    """[c_1, ..., c_n]: c_m counts the m-grams of the padded sentences that end at a predicted token.

    The same as ``Counter(chain.from_iterable(_grams(p, n, m) for p in pads))`` for each m,
    but the counting runs in NumPy on integer codes of the m-grams, several times faster
    on the book's corpora; orders whose codes would overflow int64 are counted in Python.
    """
    symbols = sorted({t for p in pads for t in p})
    code_of = {t: i for i, t in enumerate(symbols)}
    base = len(symbols)
    flat = np.fromiter((code_of[t] for p in pads for t in p), dtype=np.int64)
    lengths = np.fromiter(map(len, pads), dtype=np.int64, count=len(pads))
    offset = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    ends = np.flatnonzero(offset >= n - 1)  # positions of the predicted tokens
    as_object = np.array(symbols, dtype=object)
    counts = []
    for m in range(1, n + 1):
        if base ** m >= 2**63:
            counts.append(Counter(chain.from_iterable(_grams(p, n, m) for p in pads)))
            continue
        code = np.zeros(len(ends), dtype=np.int64)
        for j in range(m):  # code = sum_j token_j * base^(m-1-j)
            code = code * base + flat[ends - (m - 1) + j]
        unique, freq = np.unique(code, return_counts=True)
        digits = [(unique // base ** (m - 1 - j)) % base for j in range(m)]
        grams = zip(*(as_object[d] for d in digits))
        counts.append(Counter(dict(zip(grams, freq.tolist()))))
    return counts


class _Tables:
    """Everything ``fit`` counts; read-only afterwards, so models may share it."""

    def __init__(self, n: int, sentences: list[Sequence[str]], min_count: int):
        freq: Counter = Counter()
        for s in sentences:
            freq.update(s)
        if not freq:
            raise ValueError(f"all {len(sentences)} sentences are empty; "
                             "pass sentences with tokens")
        keep = {t for t, c in freq.items() if c >= min_count}
        self.vocab: tuple[str, ...] = tuple(sorted(keep | {EOS, UNK}))
        self.known = frozenset(self.vocab)
        if len(keep) < len(freq):  # rare tokens become <unk>
            sentences = [[t if t in keep else UNK for t in s] for s in sentences]
        pads = [_pad(s, n) for s in sentences]
        self.num_sentences = len(pads)
        # counts[m][g] = c(g) for m-grams g, m = 1..n (index 0 unused)
        self.counts: list[Counter] = [Counter()] + _count_ngrams(pads, n)
        self.num_tokens = sum(self.counts[1].values())
        # level[m]: the counts that Kneser-Ney (eq-kn) uses at order m: ordinary counts at the
        # highest order, continuation counts below it.
        self.level: list[Counter] = [Counter()] * (n + 1)
        self.level[n] = self.counts[n]
        for m in range(n - 1, 0, -1):
            self.level[m] = self._continuation(m)
        # For each order m and context h (m-1 tokens): total[m][h] = sum_w level[m](h w) and
        # followers[m][h] = N1+(h .) = |{w : c(h w) > 0}| (a continuation count is > 0 exactly
        # when the ordinary count is, so N1+(h .) is the same for both kinds of count).
        self.total: list[dict] = [{}] * (n + 1)
        self.followers: list[Counter] = [Counter()] * (n + 1)
        for m in range(1, n + 1):
            self.followers[m] = Counter(map(_HEAD, self.level[m]))
            tot = dict.fromkeys(self.followers[m], 0)
            for g, c in self.level[m].items():
                tot[g[:-1]] += c
            self.total[m] = tot
        self.discounts = tuple(self._estimate_discount(self.level[m]) for m in range(1, n + 1))
        self._index: dict[int, dict] = {}  # a cache for sampling, see ``index``

    def _continuation(self, m: int) -> Counter:
        """c_kn(g) = N1+(. g), the number of distinct tokens seen right before the m-gram g.

        An m-gram that starts with <s> has only <s> before it: it cannot be continued to the
        left by a real token. As is standard, such m-grams keep their ordinary count c(g).
        Every distribution still sums to 1: all m-grams of one context h (m >= 2) start with the
        same token h[0], so a context uses one kind of count throughout, and its interpolation
        weight in (eq-kn) is computed from exactly those counts. (Unigrams never start with <s>.)
        """
        kn = Counter(map(_TAIL, self.counts[m + 1]))
        for g, c in self.counts[m].items():
            if g[0] == BOS:
                kn[g] = c
        return kn

    @staticmethod
    def _estimate_discount(level: Counter) -> float:
        """D = n1 / (n1 + 2 n2) from the counts of counts of one order; in (0, 1) if n1, n2 > 0.

        Tiny corpora can have n1 = 0 or n2 = 0 (D would be 0 or 1): then we fall back to 0.5.
        """
        of = Counter(level.values())
        n1, n2 = of[1], of[2]
        return n1 / (n1 + 2 * n2) if n1 and n2 else 0.5

    def index(self, m: int) -> dict[tuple, tuple[list, list]]:
        """Context h -> (tokens seen after h, their level-m counts); built on first use, cached."""
        if m not in self._index:
            by_h: dict[tuple, tuple[list, list]] = {}
            gc_on = gc.isenabled()
            gc.disable()  # millions of new small lists (no cycles) would trigger full GC scans
            try:
                for g, c in self.level[m].items():
                    entry = by_h.get(g[:-1])
                    if entry is None:
                        by_h[g[:-1]] = ([g[-1]], [c])
                    else:
                        entry[0].append(g[-1])
                        entry[1].append(c)
            finally:
                if gc_on:
                    gc.enable()
            self._index[m] = by_h
        return self._index[m]


class NGramLM:
    """An n-gram language model estimated by MLE, add-k or interpolated Kneser-Ney."""

    def __init__(self, n: int, smoothing: str = "kn", k: float = 1.0,
                 discount: float | None = None):
        self.n = _check_n(n)
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"unknown smoothing {smoothing!r}; use one of {', '.join(SMOOTHINGS)}")
        if smoothing == "add-k" and not (_is_number(k) and k > 0):
            raise ValueError(f"add-k smoothing needs k > 0, got k={k!r}; "
                             "for k = 0 (no smoothing) use smoothing='mle'")
        if discount is not None:
            if smoothing != "kn":
                raise ValueError(f"discount only applies to smoothing='kn', not {smoothing!r}")
            if not (_is_number(discount) and 0 < discount < 1):
                raise ValueError("discount must be in (0, 1), or None to estimate it, "
                                 f"got {discount!r}")
        self.smoothing, self.k, self.discount = smoothing, float(k), discount
        self._t: _Tables | None = None

    def __repr__(self) -> str:
        extra = {"add-k": f", k={self.k:g}", "kn": f", discount={self.discount}"}
        fitted = f", V={len(self.vocab)}" if self._t else ", not fitted"
        return (f"NGramLM(n={self.n}, smoothing={self.smoothing!r}"
                f"{extra.get(self.smoothing, '')}{fitted})")

    def fit(self, sentences: Iterable[Sequence[str]], min_count: int = 1) -> "NGramLM":
        """Count the m-grams (m = 1..n) of the padded sentences; rarer tokens -> <unk>."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a positive int, got {min_count!r}")
        sents = _as_sentences(sentences, "the training corpus")
        if not sents:
            raise ValueError("cannot fit on an empty corpus; pass a list of sentences")
        self._t = _Tables(self.n, sents, min_count)
        return self

    def with_smoothing(self, smoothing: str, k: float = 1.0,
                       discount: float | None = None) -> "NGramLM":
        """A model with the same counts (shared, not copied) and another smoothing."""
        other = NGramLM(self.n, smoothing, k, discount)
        other._t = self._tables()
        return other

    def _tables(self) -> _Tables:
        if self._t is None:
            raise RuntimeError("this NGramLM is not fitted yet; call .fit(sentences) first")
        return self._t

    @property
    def vocab(self) -> tuple[str, ...]:
        """The predicted tokens, sorted: kept tokens plus </s> and <unk> (never <s>)."""
        return self._tables().vocab

    @property
    def discounts(self) -> tuple[float, ...]:
        """Kneser-Ney discount D_m of each order m = 1..n (given, or estimated by ``fit``)."""
        t = self._tables()
        return (self.discount,) * self.n if self.discount is not None else t.discounts

    def count(self, ngram: Sequence[str]) -> int:
        """c(g) of an m-gram g, 0 <= m <= n, after rare tokens became <unk> (see module doc)."""
        t, g = self._tables(), tuple(ngram)
        if len(g) > self.n:
            raise ValueError(f"a {self.n}-gram model counts up to {self.n} tokens, "
                             f"got {len(g)}: {g!r}")
        if not g:
            return t.num_tokens
        if len(g) < self.n and all(x == BOS for x in g):
            return t.num_sentences  # the padding precedes each sentence's first token once
        return t.counts[len(g)].get(g, 0)

    def num_followers(self, context: Sequence[str]) -> int:
        """N1+(h .): how many distinct tokens follow the context h (<= n-1 tokens) in training."""
        t, h = self._tables(), tuple(context)
        if len(h) >= self.n:
            raise ValueError(f"a {self.n}-gram model has contexts of at most {self.n - 1} "
                             f"tokens, got {len(h)}")
        return t.followers[len(h) + 1].get(h, 0)

    def _context(self, context: Sequence[str]) -> tuple:
        """The last n-1 tokens (eq-markov), unknown ones -> <unk>, left-padded with <s>."""
        known = self._tables().known
        if self.n == 1:
            return ()
        h = tuple(t if t in known or t == BOS else UNK for t in tuple(context)[1 - self.n:])
        return (BOS,) * (self.n - 1 - len(h)) + h

    def _probs(self, words: Sequence[str], h: tuple) -> list[float]:
        """P(w | h) for each vocabulary token w; h holds exactly n-1 mapped tokens."""
        t, n, V = self._t, self.n, len(self._t.vocab)
        if self.smoothing == "kn":
            return self._probs_kn(words, h)
        c_h, counts = t.total[n].get(h, 0), t.counts[n]
        if self.smoothing == "add-k":  # (eq-addk)
            return [(counts.get(h + (w,), 0) + self.k) / (c_h + self.k * V) for w in words]
        # (eq-mle). For an unseen context (c(h) = 0) it is 0/0, undefined: we return 1/V, the
        # k -> 0 limit of add-k, so that every distribution sums to 1.
        return [counts.get(h + (w,), 0) / c_h if c_h else 1.0 / V for w in words]

    def _probs_kn(self, words: Sequence[str], h: tuple) -> list[float]:
        """Interpolated Kneser-Ney, built up from the uniform distribution, order by order."""
        t, n, ds = self._t, self.n, self.discounts
        ps = [1.0 / len(t.vocab)] * len(words)  # below the unigram level: uniform
        for m in range(1, n + 1):
            h_m = h[n - m:]  # the last m-1 tokens of the context
            c_h = t.total[m].get(h_m, 0)
            if not c_h:
                continue  # unseen context: all the mass goes to the lower order
            d, level, n1 = ds[m - 1], t.level[m], t.followers[m][h_m]
            # (eq-kn) for m >= 2, (eq-kn-unigram) for m = 1 (where c(h) = N1+(. .)):
            # P_m(w | h) = max(c(h w) - D, 0) / c(h) + D N1+(h .) / c(h) * P_{m-1}(w | h')
            ps = [(max(level.get(h_m + (w,), 0) - d, 0.0) + d * n1 * p) / c_h
                  for w, p in zip(words, ps)]
        return ps

    def prob(self, token: str, context: Sequence[str] = ()) -> float:
        """P(token | context); only the last n-1 context tokens matter (eq-markov)."""
        h = self._context(context)
        if token == BOS:
            raise ValueError(f"{BOS!r} is never predicted; ask for a token of .vocab")
        return self._probs([token if token in self._t.known else UNK], h)[0]

    def logprob(self, token: str, context: Sequence[str] = ()) -> float:
        """Natural log of ``prob``; -inf where the probability is 0 (MLE on unseen events)."""
        p = self.prob(token, context)
        return math.log(p) if p > 0 else -math.inf

    def distribution(self, context: Sequence[str] = ()) -> dict[str, float]:
        """P(. | context) over the vocabulary, in vocabulary order; sums to 1."""
        h = self._context(context)
        return dict(zip(self._t.vocab, self._probs(self._t.vocab, h)))

    def _score(self, sentences: Iterable[Sequence[str]], what: str) -> tuple[float, int]:
        """Total log-probability of the sentences (eq-chain) and the number of predictions."""
        t, n = self._tables(), self.n
        total, count = 0.0, 0
        for s in _as_sentences(sentences, what):
            p = _pad([x if x in t.known else UNK for x in s], n)
            for i in range(n - 1, len(p)):
                q = self._probs((p[i],), p[i - n + 1:i])[0]
                total += math.log(q) if q > 0 else -math.inf
            count += len(p) - n + 1
        return total, count

    def sentence_logprob(self, sentence: Sequence[str]) -> float:
        """log P(sentence) = sum_i log P(w_i | h_i), including </s> (eq-chain, eq-markov)."""
        return self._score([sentence], "the sentence")[0]

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """PPL = exp(-(1/N) sum_i log P(w_i | h_i)), N counting every </s> too (eq-ppl)."""
        total, count = self._score(sentences, "the evaluation corpus")
        if count == 0:
            raise ValueError("cannot compute the perplexity of an empty corpus; "
                             "pass a list of sentences")
        return math.exp(-total / count) if total > -math.inf else math.inf

    def sample(self, seed: int = 0, max_len: int = 50) -> list[str]:
        """Draw tokens until </s> or max_len of them; the same seed gives the same sentence."""
        self._tables()
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 0:
            raise ValueError(f"max_len must be a non-negative int, got {max_len!r}")
        rng = random.Random(seed)
        h, out = (BOS,) * (self.n - 1), []
        while len(out) < max_len:
            w = self._draw(h, rng)
            if w == EOS:
                break
            out.append(w)
            h = (h + (w,))[1:]
        return out

    def _draw(self, h: tuple, rng: random.Random) -> str:
        """One token from P(. | h) in O(n + followers), not O(V).

        Every estimate here is a mixture: with weight 1 - lambda a token among those seen after
        h (weights c(h w), or c(h w) - D for Kneser-Ney), with weight lambda the lower order
        (uniform below the unigram level). lambda = 0 (MLE), kV / (c(h) + kV) (add-k) or
        D N1+(h .) / c(h) (Kneser-Ney). So we first pick the mixture component, then the token.
        """
        t, n, kV = self._t, self.n, self.k * len(self._t.vocab)
        for m in range(n, 0 if self.smoothing == "kn" else n - 1, -1):
            h_m = h[n - m:]
            c_h = t.total[m].get(h_m, 0)
            if not c_h:
                continue
            words, counts = t.index(m)[h_m]
            if self.smoothing == "kn":
                d = self.discounts[m - 1]
                lam, weights = d * len(words) / c_h, [c - d for c in counts]
            else:
                lam = 0.0 if self.smoothing == "mle" else kV / (c_h + kV)
                weights = counts
            if rng.random() >= lam:
                return rng.choices(words, weights=weights)[0]
        return rng.choice(t.vocab)


def unseen_ngram_rate(train: Iterable[Sequence[str]], test: Iterable[Sequence[str]],
                      n: int) -> float:
    """Share of the n-gram tokens of ``test`` (padded as by NGramLM) never seen in ``train``."""
    _check_n(n)
    train_s = _as_sentences(train, "train")
    if not train_s:
        raise ValueError("train is empty; pass a list of sentences")
    seen = set(chain.from_iterable(_grams(_pad(s, n), n, n) for s in train_s))
    total = unseen = 0
    for s in _as_sentences(test, "test"):
        for g in _grams(_pad(s, n), n, n):
            total += 1
            unseen += g not in seen
    if total == 0:
        raise ValueError("test is empty; pass a list of sentences")
    return unseen / total
