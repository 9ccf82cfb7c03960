"""A synthetic English -> Chinese parallel corpus for machine translation (chapter 6.1).

Four kinds of expressions, each rendered in English and in Chinese by fixed rules:

* ``number``: English number words up to 9999 -> Chinese numerals with the 零 rules,
  "three thousand and five" -> "三千零五", "fifteen" -> "十五", "one hundred and ten" -> "一百一十";
* ``date``: "March 5, 2024" -> "2024年3月5日" (the order is reversed);
* ``time``: "7:45 pm" -> "下午7点45分", "7:00 am" -> "上午7点整";
* ``amount``: "$1,205.50" -> "1205.50美元", "€30" -> "30欧元", "£7.25" -> "7.25英镑".

Every source has exactly one correct translation, so outputs can be checked exactly.
``make_corpus`` draws distinct sources with a seeded ``random.Random``; ``split_corpus`` cuts
them into train/valid/test, so no test source ever occurs in training.
"""
from __future__ import annotations

import calendar
import random
from collections.abc import Sequence
from typing import NamedTuple

import torch

from llmbook.data import Split
from llmbook.tokenizers import CharTokenizer

__all__ = ["KINDS", "Pair", "english_number", "chinese_number", "number_pair", "date_pair",
           "time_pair", "amount_pair", "make_corpus", "split_corpus", "build_tokenizers",
           "encode_sources", "encode_pairs", "length_groups"]

KINDS = ("number", "date", "time", "amount")
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ZH_DIGITS = "零一二三四五六七八九"
_ZH_UNITS = ("", "十", "百", "千")  # 10^0 .. 10^3
_MONTHS = ("January February March April May June July August September October November "
           "December").split()
_CURRENCIES = {"$": "美元", "€": "欧元", "£": "英镑"}


class Pair(NamedTuple):
    """One parallel example: English source, Chinese target, and which kind of expression."""

    source: str
    target: str
    kind: str


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return value


def english_number(n: int) -> str:
    """British English words for 0 <= n <= 9999: 321 -> "three hundred and twenty-one"."""
    _check_int("n", n, 0, 9999)
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    parts = []
    if n >= 1000:
        parts.append(f"{_ONES[n // 1000]} thousand")
    if n % 1000 >= 100:
        parts.append(f"{_ONES[n % 1000 // 100]} hundred")
    rest = n % 100
    if rest:  # British usage: "and" before the last two digits when something precedes them
        parts.append("and " + english_number(rest))
    return " ".join(parts)


def chinese_number(n: int) -> str:
    """Chinese numerals for 0 <= n <= 9999 with the 零 rules: 1005 -> 一千零五, 15 -> 十五, 110 -> 一百一十."""
    _check_int("n", n, 0, 9999)
    if n == 0:
        return "零"
    digits = [n // 10**k % 10 for k in range(3, -1, -1)]  # thousands, hundreds, tens, units
    out, pending_zero = [], False
    for k, d in zip(range(3, -1, -1), digits):
        if d == 0:
            pending_zero = bool(out)  # a zero after a non-zero digit: one 零, if more follows
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(_ZH_DIGITS[d] + _ZH_UNITS[k])
    text = "".join(out)
    return text[1:] if text.startswith("一十") else text  # 10..19 start with 十, not 一十


def number_pair(n: int) -> Pair:
    """"three thousand and five" -> "三千零五"."""
    return Pair(english_number(n), chinese_number(n), "number")


def date_pair(year: int, month: int, day: int) -> Pair:
    """"March 5, 2024" -> "2024年3月5日" (a real calendar date, years 1000..2999)."""
    _check_int("year", year, 1000, 2999)
    _check_int("month", month, 1, 12)
    _check_int("day", day, 1, calendar.monthrange(year, month)[1])
    return Pair(f"{_MONTHS[month - 1]} {day}, {year}", f"{year}年{month}月{day}日", "date")


def time_pair(hour: int, minute: int, pm: bool) -> Pair:
    """"7:45 pm" -> "下午7点45分", "7:05 am" -> "上午7点05分", "7:00 pm" -> "下午7点整"; hours 1..11."""
    _check_int("hour", hour, 1, 11)
    _check_int("minute", minute, 0, 59)
    if not isinstance(pm, bool):
        raise ValueError(f"pm must be a bool, got {pm!r}")
    zh = ("下午" if pm else "上午") + f"{hour}点" + ("整" if minute == 0 else f"{minute:02d}分")
    return Pair(f"{hour}:{minute:02d} {'pm' if pm else 'am'}", zh, "time")


def amount_pair(cents: int, currency: str) -> Pair:
    """"$1,205.50" -> "1205.50美元": thousands separators go, the currency moves to the end."""
    _check_int("cents", cents, 1, 9_999_999)
    if currency not in _CURRENCIES:
        raise ValueError(f"currency must be one of {sorted(_CURRENCIES)}, got {currency!r}")
    units, rest = divmod(cents, 100)
    frac = f".{rest:02d}" if rest else ""  # whole amounts are written without ".00"
    return Pair(f"{currency}{units:,}{frac}", f"{units}{frac}{_CURRENCIES[currency]}", "amount")


def _random_pair(kind: str, rng: random.Random) -> Pair:
    if kind == "number":
        return number_pair(rng.randrange(10_000))
    if kind == "date":
        year, month = rng.randint(1900, 2099), rng.randint(1, 12)
        return date_pair(year, month, rng.randint(1, calendar.monthrange(year, month)[1]))
    if kind == "time":
        return time_pair(rng.randint(1, 11), rng.randrange(60), rng.random() < 0.5)
    units = rng.randrange(1, 10 ** rng.randint(1, 5))  # 1 to 5 digits, roughly log-uniform
    cents = 100 * units + (rng.randrange(1, 100) if rng.random() < 0.5 else 0)
    return amount_pair(cents, rng.choice(sorted(_CURRENCIES)))


def make_corpus(n_per_kind: dict[str, int], seed: int = 0) -> list[Pair]:
    """Distinct random pairs, ``n_per_kind[kind]`` of each kind, in a seeded random order."""
    if not isinstance(n_per_kind, dict) or not n_per_kind:
        raise ValueError(f"n_per_kind must be a non-empty dict like {{'date': 100}}, got {n_per_kind!r}")
    rng = random.Random(seed)
    pairs: dict[str, Pair] = {}
    for kind in sorted(n_per_kind):  # sorted: the result does not depend on the dict's order
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; use some of {KINDS}")
        n = _check_int(f"n_per_kind[{kind!r}]", n_per_kind[kind], 0, 10**6)
        got, tries = 0, 0
        while got < n:
            tries += 1
            if tries > 50 * n + 1000:
                raise ValueError(f"cannot draw {n} distinct {kind!r} pairs (only {got} exist "
                                 f"or were found); ask for fewer")
            pair = _random_pair(kind, rng)
            if pair.source not in pairs:
                pairs[pair.source] = pair
                got += 1
    out = list(pairs.values())
    rng.shuffle(out)
    return out


def split_corpus(pairs: Sequence[Pair], n_valid: int, n_test: int) -> Split:
    """Cut pairs (already shuffled) into train / valid / test; every source must be distinct."""
    sources = [p.source for p in pairs]
    if len(set(sources)) != len(sources):
        raise ValueError("sources must be distinct, or a test source could occur in training; "
                         "build the corpus with make_corpus")
    _check_int("n_valid", n_valid, 0, len(pairs))
    _check_int("n_test", n_test, 0, len(pairs) - n_valid)
    if n_valid + n_test >= len(pairs):
        raise ValueError(f"n_valid + n_test = {n_valid + n_test} leaves no training pairs "
                         f"out of {len(pairs)}")
    n_train = len(pairs) - n_valid - n_test
    return Split(tuple(pairs[:n_train]), tuple(pairs[n_train:n_train + n_valid]),
                 tuple(pairs[n_train + n_valid:]))


def build_tokenizers(pairs: Sequence[Pair]) -> tuple[CharTokenizer, CharTokenizer]:
    """Character vocabularies of the sources and of the targets (specials <pad>=0 <unk> <bos> <eos>)."""
    if not pairs:
        raise ValueError("need at least one pair to build the vocabularies")
    return (CharTokenizer.from_texts([p.source for p in pairs]),
            CharTokenizer.from_texts([p.target for p in pairs]))


def _pad(rows: list[list[int]], pad_id: int) -> torch.Tensor:
    out = torch.full((len(rows), max(map(len, rows))), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def encode_sources(sources: Sequence[str], src_tok: CharTokenizer) -> torch.Tensor:
    """Right-padded source ids (B, S), each sentence followed by <eos>."""
    if isinstance(sources, str) or len(sources) == 0:
        raise ValueError("sources must be a non-empty list of sentences (wrap one sentence: [s])")
    for i, s in enumerate(sources):
        if not isinstance(s, str) or not s.strip():
            raise ValueError(f"source sentence {i} is empty ({s!r}); there is nothing to translate")
    return _pad([src_tok.encode(s) + [src_tok.eos_id] for s in sources], src_tok.pad_id)


def encode_pairs(pairs: Sequence[Pair], src_tok: CharTokenizer, tgt_tok: CharTokenizer
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Teacher-forcing batch: src (B, S), tgt_in = <bos> y (B, T), tgt_out = y <eos> (B, T)."""
    src = encode_sources([p.source for p in pairs], src_tok)
    if src_tok.pad_id != tgt_tok.pad_id:
        raise ValueError(f"source and target pad ids differ ({src_tok.pad_id} vs {tgt_tok.pad_id}); "
                         "the Transformer masks one pad id")
    ys = [tgt_tok.encode(p.target) for p in pairs]
    tgt_in = _pad([[tgt_tok.bos_id] + y for y in ys], tgt_tok.pad_id)
    tgt_out = _pad([y + [tgt_tok.eos_id] for y in ys], tgt_tok.pad_id)
    return src, tgt_in, tgt_out


def length_groups(pairs: Sequence[Pair], n_groups: int) -> list[list[Pair]]:
    """Sort pairs by source length and cut them into n_groups consecutive groups of near-equal size.

    Each group padded on its own (``encode_pairs``) needs less padding than the whole batch; the
    summed token losses, and so the mean of Eq. (eq-mt-tf), do not depend on the grouping.
    """
    if isinstance(n_groups, bool) or not isinstance(n_groups, int) or not 1 <= n_groups <= len(pairs):
        raise ValueError(f"n_groups must be an int in [1, {len(pairs)}] (the number of pairs), "
                         f"got {n_groups!r}")
    ordered = sorted(pairs, key=lambda p: len(p.source))  # stable: ties keep their order
    return [list(ordered[g * len(ordered) // n_groups:(g + 1) * len(ordered) // n_groups])
            for g in range(n_groups)]
