"""Byte-level byte-pair encoding (BPE), written from scratch (section 7.2).

The base alphabet is the 256 byte values of UTF-8, so every string can be encoded and
decoded exactly. Training counts the pre-tokens (words) of a corpus, then repeatedly merges
the most frequent adjacent pair of symbols (Eq. eq-hf-merge). The rules are chosen to
reproduce the ``tokenizers`` library's BPE trainer with a ByteLevel pre-tokenizer:

* pre-tokenization: GPT-2's regular expression (``GPT2_PATTERN``), no prefix space;
* a pair's count is the number of adjacent positions where it occurs, times the word count;
* ids: the 256 bytes first, ordered by their printable stand-in character of GPT-2's byte
  map (``bytes_to_unicode``), then each new token in the order it was created;
* ties between pairs of equal count go to the smallest pair of ids (left id, then right id)
  (Eq. eq-hf-tie);
* training stops after ``n_merges`` merges or when the best count falls below
  ``min_frequency`` (and below 1).
"""
from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence

import regex

__all__ = ["GPT2_PATTERN", "bytes_to_unicode", "pretokenize", "word_counts", "BPETokenizer"]

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_PATTERN = regex.compile(GPT2_PATTERN)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from each byte value to a printable character."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:  # control characters, space, etc.: shifted past 255, in byte order
            table[b] = chr(256 + extra)
            extra += 1
    return table


def pretokenize(text: str) -> list[str]:
    """Split text into pre-tokens with GPT-2's pattern (letters, digits, other, spaces)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _PATTERN.findall(text)


def word_counts(texts: Iterable[str]) -> Counter:
    """How often each pre-token occurs in texts, as UTF-8 bytes."""
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of texts, not one str; wrap it: [text]")
    counts: Counter = Counter()
    for text in texts:
        counts.update(w.encode("utf-8") for w in pretokenize(text))
    return counts


def _pairs(symbols: Sequence[int]) -> Counter:
    """Adjacent pairs of a symbol sequence with their number of positions."""
    return Counter(zip(symbols, symbols[1:]))


def _merge_word(symbols: list[int], pair: tuple[int, int], new_id: int,
                changes: Counter | None = None, weight: int = 1) -> list[int]:
    """Replace the non-overlapping occurrences of pair, scanning left to right.

    If changes is given, add to it how the adjacent-pair counts change (times weight),
    for every pair except the merged one itself.
    """
    a, b = pair
    out: list[int] = []
    start, n = 0, len(symbols)
    i = start
    while True:
        try:
            i = symbols.index(a, i)
        except ValueError:
            break
        if i + 1 >= n:
            break
        if symbols[i + 1] != b:
            i += 1
            continue
        out.extend(symbols[start:i])
        if changes is not None:
            if out:  # the pair to the left now ends in the new token
                changes[(out[-1], a)] -= weight
                changes[(out[-1], new_id)] += weight
            if i + 2 < n:  # the pair to the right now starts with it
                changes[(b, symbols[i + 2])] -= weight
                changes[(new_id, symbols[i + 2])] += weight
        out.append(new_id)
        start = i = i + 2
    out.extend(symbols[start:])
    return out


def _find(items: list[int], x: int, start: int) -> int:
    """Index of x in items from start on, or -1."""
    try:
        return items.index(x, start)
    except ValueError:
        return -1


class BPETokenizer:
    """A byte-level BPE tokenizer: a list of merges over the 256 byte tokens."""

    def __init__(self, merges: Sequence[tuple[bytes, bytes]] = ()) -> None:
        byte_map = bytes_to_unicode()
        order = sorted(range(256), key=lambda b: byte_map[b])  # as the tokenizers library
        self.vocab: list[bytes] = [bytes([b]) for b in order]  # id -> token bytes
        self._id = {tok: i for i, tok in enumerate(self.vocab)}
        self.merges: list[tuple[bytes, bytes]] = []
        self._rank: dict[tuple[int, int], tuple[int, int]] = {}  # pair -> (rank, new id)
        self._cache: dict[bytes, tuple[int, ...]] = {}  # deliberate cache: word -> ids
        for left, right in merges:
            self._add_merge(left, right)

    def _add_merge(self, left: bytes, right: bytes) -> int:
        """Append the merge left + right; return the id of the merged token."""
        for part in (left, right):
            if part not in self._id:
                raise ValueError(f"merge part {part!r} is not a token yet; merges must be "
                                 "listed in the order they were learned")
        merged = left + right
        if merged not in self._id:  # a token reachable by two merges keeps one id
            self._id[merged] = len(self.vocab)
            self.vocab.append(merged)
        self._rank[(self._id[left], self._id[right])] = (len(self.merges), self._id[merged])
        self.merges.append((left, right))
        self._cache.clear()
        return self._id[merged]

    @classmethod
    def train(cls, texts: Iterable[str], n_merges: int, min_frequency: int = 0) -> "BPETokenizer":
        """Learn up to n_merges merges, each the most frequent adjacent pair (Eq. eq-hf-merge)."""
        if isinstance(n_merges, bool) or not isinstance(n_merges, int) or n_merges < 0:
            raise ValueError(f"n_merges must be a non-negative int, got {n_merges!r}")
        if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 0:
            raise ValueError(f"min_frequency must be a non-negative int, got {min_frequency!r}")
        tok = cls()
        counts = word_counts(texts)
        if not counts:
            raise ValueError("cannot train BPE on an empty corpus: texts has no characters")
        keys = sorted(counts)  # a fixed order, independent of the corpus order
        words = [[tok._id[bytes([b])] for b in w] for w in keys]
        freq = [counts[w] for w in keys]
        pair_count: Counter = Counter()
        where: dict[tuple[int, int], set[int]] = {}
        for i, w in enumerate(words):
            for pair, k in _pairs(w).items():
                pair_count[pair] += k * freq[i]
                where.setdefault(pair, set()).add(i)
        heap = [(-c, pair) for pair, c in pair_count.items()]  # max count, then smallest pair
        heapq.heapify(heap)
        while len(tok.merges) < n_merges and heap:
            neg, pair = heapq.heappop(heap)
            if -neg != pair_count[pair]:  # stale entry: counts only fall, so re-queue and retry
                if pair_count[pair] > 0:
                    heapq.heappush(heap, (-pair_count[pair], pair))
                continue
            if -neg < max(1, min_frequency):
                break
            new_id = tok._add_merge(tok.vocab[pair[0]], tok.vocab[pair[1]])
            changes: Counter = Counter()
            for i in sorted(where.pop(pair)):
                new = _merge_word(words[i], pair, new_id, changes, freq[i])
                if len(new) == len(words[i]):
                    continue
                words[i] = new
                j = -1
                while (j := _find(new, new_id, j + 1)) >= 0:  # index the pairs with new_id
                    if j > 0:
                        where.setdefault((new[j - 1], new_id), set()).add(i)
                    if j + 1 < len(new):
                        where.setdefault((new_id, new[j + 1]), set()).add(i)
            touched = []
            for p, delta in changes.items():
                if p == pair:
                    continue
                pair_count[p] += delta
                if new_id in p:
                    touched.append(p)
            del pair_count[pair]
            for p in sorted(touched):  # pairs with the new token are new: queue them once
                if pair_count[p] > 0:
                    heapq.heappush(heap, (-pair_count[p], p))
        return tok

    def _encode_word(self, word: bytes) -> tuple[int, ...]:
        """Ids of one pre-token: apply the learned merges, lowest rank first."""
        if word in self._cache:
            return self._cache[word]
        symbols = [self._id[bytes([b])] for b in word]
        while len(symbols) > 1:
            ranked = [self._rank[p] for p in zip(symbols, symbols[1:]) if p in self._rank]
            if not ranked:
                break
            rank, new_id = min(ranked)
            left, right = self._pair_of_rank(rank)
            symbols = _merge_word(symbols, (left, right), new_id)
        self._cache[word] = tuple(symbols)
        return self._cache[word]

    def _pair_of_rank(self, rank: int) -> tuple[int, int]:
        """The pair of ids merged by the merge of the given rank."""
        left, right = self.merges[rank]
        return self._id[left], self._id[right]

    def encode(self, text: str) -> list[int]:
        """Token ids of text: pre-tokenize, then BPE each pre-token."""
        return [i for w in pretokenize(text) for i in self._encode_word(w.encode("utf-8"))]

    def tokens(self, text: str) -> list[bytes]:
        """The tokens of text as byte strings (a token may hold part of a character)."""
        return [self.vocab[i] for i in self.encode(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of token ids; exact for any ids from encode."""
        parts = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self.vocab):
                raise ValueError(f"token id must be an int in [0, {len(self.vocab)}), got {i!r}")
            parts.append(self.vocab[i])
        return b"".join(parts).decode("utf-8", errors="replace")

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab={len(self.vocab)}, merges={len(self.merges)})"
