"""Tokenizers that map characters (``CharTokenizer``) or words (``WordTokenizer``) to ids.

Both share ``Vocabulary``: the special tokens come first, in the order given, then the
ordinary tokens, most frequent first (ties broken by code point, so the ids do not depend
on the order of the corpus). Tokens outside the vocabulary map to ``<unk>``.
"""
from __future__ import annotations

import json
import operator
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

__all__ = ["DEFAULT_SPECIALS", "Vocabulary", "CharTokenizer", "WordTokenizer"]

DEFAULT_SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
_FORMAT = "llmbook-tokenizer"
V = TypeVar("V", bound="Vocabulary")


class Vocabulary:
    """Token <-> id maps with special tokens; subclasses say what a text's units are."""

    unit = "token"  # what one token is, for messages

    def __init__(self, tokens: Sequence[str], specials: Sequence[str] = DEFAULT_SPECIALS) -> None:
        self._specials = _as_str_tuple(specials, "specials")
        if not all(self._specials):
            raise ValueError(f"special tokens must be non-empty strings, got {self._specials!r}")
        tokens = _as_str_tuple(tokens, "tokens")
        for token in tokens:
            self._check_token(token)
        self._itos = self._specials + tokens
        self._stoi = {token: i for i, token in enumerate(self._itos)}
        if len(self._stoi) != len(self._itos):
            dups = sorted(t for t, c in Counter(self._itos).items() if c > 1)
            raise ValueError(f"tokens must be distinct and not specials; repeated: {dups[:10]}")

    # ------------------------------------------------------------------ building
    @classmethod
    def from_texts(cls: type[V], texts: Iterable, max_size: int | None = None, min_freq: int = 1,
                   specials: Sequence[str] = DEFAULT_SPECIALS) -> V:
        """Build the vocabulary of ``texts``: specials, then tokens by descending frequency.

        ``max_size`` counts all tokens, specials included; rarer tokens are left out
        (they encode as ``<unk>``). Tokens seen fewer than ``min_freq`` times are left out.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of texts, not one str; wrap it: [text]")
        specials = _as_str_tuple(specials, "specials")
        if max_size is not None and (not _is_int(max_size) or max_size < len(specials) + 1):
            raise ValueError(
                f"max_size must be an int of at least len(specials) + 1 = {len(specials) + 1} "
                f"(it counts the specials too), got {max_size!r}"
            )
        if not _is_int(min_freq) or min_freq < 1:
            raise ValueError(f"min_freq must be a positive int, got {min_freq!r}")
        counts: Counter = Counter()
        for text in texts:
            counts.update(cls._units(text))
        if not counts:
            raise ValueError(f"cannot build a vocabulary from an empty corpus (no {cls.unit}s)")
        for special in specials:  # a special written in the text encodes as that special
            counts.pop(special, None)
        kept = (t for t, c in counts.items() if c >= min_freq)
        tokens = sorted(kept, key=lambda t: (-counts[t], t))  # ties: by code point
        if not tokens:
            raise ValueError(f"no {cls.unit} occurs min_freq={min_freq} times or more; lower it")
        if max_size is not None:
            tokens = tokens[: max_size - len(specials)]
        return cls(tokens, specials)

    # ------------------------------------------------------------ what subclasses define
    @staticmethod
    def _units(text) -> Sequence[str]:
        """The tokens of one text."""
        raise NotImplementedError("use CharTokenizer or WordTokenizer")

    @staticmethod
    def _join(tokens: list[str]):
        """The text made of ``tokens`` (the inverse of ``_units``)."""
        raise NotImplementedError("use CharTokenizer or WordTokenizer")

    def _check_token(self, token: str) -> None:
        if not token:
            raise ValueError("tokens must be non-empty strings, got ''")

    # ------------------------------------------------------------------ encoding
    def encode(self, text, add_bos_eos: bool = False) -> list[int]:
        """Token ids of ``text`` (unknown tokens give ``<unk>``), optionally in <bos> ... <eos>."""
        units, unk = self._units(text), self.unk_id
        if unk is not None:
            ids = [self._stoi.get(u, unk) for u in units]
        else:
            try:
                ids = [self._stoi[u] for u in units]
            except KeyError as err:
                raise ValueError(
                    f"{self.unit} {err.args[0]!r} is not in the vocabulary and there is no "
                    "'<unk>' special; add '<unk>' to the specials or rebuild the vocabulary"
                ) from None
        if add_bos_eos:
            if self.bos_id is None or self.eos_id is None:
                raise ValueError("add_bos_eos=True needs '<bos>' and '<eos>' among the specials, "
                                 f"which are {self._specials!r}")
            ids = [self.bos_id, *ids, self.eos_id]
        return ids

    def decode(self, ids: Iterable[int], skip_specials: bool = True):
        """The text of ``ids`` (str for characters, list for words), by default without specials."""
        ids = list(ids.tolist() if hasattr(ids, "tolist") else ids)  # tensors and arrays too
        try:
            if ids and (min(ids) < 0 or max(ids) >= len(self._itos)):
                raise IndexError
            tokens = [self._itos[i] for i in ids]
        except (IndexError, TypeError):
            for i in ids:
                self._check_id(i)  # raises a message that names the bad id
            raise
        if skip_specials:
            n = len(self._specials)
            tokens = [t for i, t in zip(ids, tokens) if i >= n]
        return self._join(tokens)

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __eq__(self, other: object) -> bool:
        same = type(self) is type(other)
        return same and (self._specials, self._itos) == (other._specials, other._itos)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={len(self)}, specials={self._specials!r})"

    def token_to_id(self, token: str) -> int:
        """The id of ``token``."""
        try:
            return self._stoi[token]
        except KeyError:
            raise KeyError(f"{self.unit} {token!r} is not in this vocabulary") from None

    def id_to_token(self, i: int) -> str:
        """The token with id ``i``."""
        return self._itos[self._check_id(i)]

    def _check_id(self, i) -> int:
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError(f"token ids must be ints, got {i!r} ({type(i).__name__})") from None
        if not 0 <= i < len(self._itos):
            raise IndexError(f"token id {i} is out of range: valid ids are 0..{len(self) - 1}")
        return i

    @property
    def specials(self) -> tuple[str, ...]:
        """The special tokens, in id order (ids 0 .. len(specials) - 1)."""
        return self._specials

    @property
    def vocab(self) -> tuple[str, ...]:
        """All tokens in id order, specials first."""
        return self._itos

    def _special_id(self, name: str) -> int | None:
        return self._stoi[name] if name in self._specials else None

    @property
    def pad_id(self) -> int | None:
        """Id of ``<pad>``, None if it is not a special."""
        return self._special_id("<pad>")

    @property
    def unk_id(self) -> int | None:
        """Id of ``<unk>``, None if it is not a special."""
        return self._special_id("<unk>")

    @property
    def bos_id(self) -> int | None:
        """Id of ``<bos>``, None if it is not a special."""
        return self._special_id("<bos>")

    @property
    def eos_id(self) -> int | None:
        """Id of ``<eos>``, None if it is not a special."""
        return self._special_id("<eos>")

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary to a UTF-8 JSON file (Chinese stays readable)."""
        data = {
            "format": _FORMAT,
            "class": type(self).__name__,
            "specials": list(self._specials),
            "tokens": list(self._itos[len(self._specials):]),
        }
        text = json.dumps(data, ensure_ascii=False, indent=1)
        Path(path).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls: type[V], path: str | os.PathLike) -> V:
        """Read a vocabulary written by ``save``."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not a tokenizer file (invalid JSON: {err})") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a tokenizer file written by {cls.__name__}.save")
        if data["class"] != cls.__name__:
            raise ValueError(f"{path} holds a {data['class']}, not a {cls.__name__}; "
                             f"load it with {data['class']}.load")
        return cls(data["tokens"], data["specials"])


class CharTokenizer(Vocabulary):
    """One token per character: ``encode("你好")`` gives two ids, ``decode`` gives a str back."""

    unit = "character"

    @staticmethod
    def _units(text: str) -> str:
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer encodes str, got {type(text).__name__}")
        return text

    @staticmethod
    def _join(tokens: list[str]) -> str:
        return "".join(tokens)

    def _check_token(self, token: str) -> None:
        if len(token) != 1:
            raise ValueError(f"CharTokenizer tokens are single characters, got {token!r}; "
                             "use WordTokenizer for longer tokens")


class WordTokenizer(Vocabulary):
    """One token per word of a segmented text: ``encode(("我们", "爱"))``; decode gives a list."""

    unit = "word"

    @staticmethod
    def _units(words: Sequence[str]) -> Sequence[str]:
        if isinstance(words, str):
            raise TypeError(
                "WordTokenizer encodes a sequence of words such as ('我们', '爱'), got a str; "
                "segment it first (e.g. load_peoples_daily(segmented=True)) or use CharTokenizer"
            )
        return words

    @staticmethod
    def _join(tokens: list[str]) -> list[str]:
        return tokens


def _as_str_tuple(items: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(items, str):
        raise TypeError(f"{what} must be a sequence of str such as ['a', 'b'], not the str {items!r}")
    items = tuple(items)
    bad = [x for x in items if not isinstance(x, str)]
    if bad:
        raise TypeError(f"{what} must all be str, got {bad[0]!r} ({type(bad[0]).__name__})")
    return items


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
