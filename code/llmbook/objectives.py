"""Pretraining objectives: what a model is asked to predict, and which positions count.

* Causal language modelling (GPT): predict every next token (``causal_lm_targets``).
* Masked language modelling (BERT): choose about 15% of the tokens, corrupt them by the
  80/10/10 rule and predict the originals (``mask_tokens``).
* Span corruption (T5): replace random spans by sentinel tokens and predict the spans
  (``span_corruption``); ``reconstruct_spans`` is its inverse.

All three end in the same loss, ``lm_loss``: the cross-entropy averaged over the positions
whose label is not ``IGNORE_INDEX``; padding and unchosen positions get that label.
Randomness always comes from the caller's ``torch.Generator``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "IGNORE_INDEX", "causal_lm_targets", "mask_tokens", "lm_loss",
    "span_counts", "random_spans_mask", "corrupt_spans", "span_corruption",
    "reconstruct_spans", "pad_sequences", "span_corruption_batch",
]

IGNORE_INDEX = -100  # label of a position that does not count (torch's cross_entropy default)


# ------------------------------------------------------------------------------ checks
def _check_ids(ids: object, name: str = "ids", min_len: int = 1) -> torch.Tensor:
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(ids).__name__}; "
                        "build one with torch.tensor(ids)")
    if ids.dtype != torch.long:
        raise TypeError(f"{name} must have dtype torch.long (int64), got {ids.dtype}; "
                        "convert with .long()")
    if ids.dim() == 0:
        raise ValueError(f"{name} must have at least one dimension (a sequence), got a scalar")
    if ids.shape[-1] < min_len:
        what = "is empty" if ids.shape[-1] == 0 else f"has length {ids.shape[-1]}"
        raise ValueError(f"{name} {what}; need sequences of at least {min_len} token(s)")
    return ids


def _check_1d(ids: object, name: str = "ids", min_len: int = 1) -> torch.Tensor:
    ids = _check_ids(ids, name, min_len)
    if ids.dim() != 1:
        raise ValueError(f"{name} must be one sequence of shape (T,), got shape {tuple(ids.shape)}; "
                         "use span_corruption_batch for a batch")
    return ids


def _check_generator(generator: object) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}; "
                        "pass e.g. torch.Generator().manual_seed(0)")


def _check_prob(p: object, name: str, low_open: bool = True) -> float:
    ok = isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p)
    if not ok or not (0.0 < p < 1.0 if low_open else 0.0 <= p <= 1.0):
        interval = "(0, 1)" if low_open else "[0, 1]"
        raise ValueError(f"{name} must be a probability in {interval}, got {p!r}")
    return float(p)


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_token_id(i: object, name: str, vocab_size: int) -> int:
    if not _is_int(i) or not 0 <= i < vocab_size:
        raise ValueError(f"{name} must be an int in [0, vocab_size={vocab_size}), got {i!r}")
    return i


# ------------------------------------------------------------------------------ causal LM
def causal_lm_targets(ids: torch.Tensor, pad_id: int | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs x_1..x_{T-1} and next-token targets x_2..x_T of ids (..., T), Eq. (eq-obj-clm).

    Every position counts, except that targets equal to ``pad_id`` become ``IGNORE_INDEX``.
    """
    ids = _check_ids(ids, min_len=2)
    inputs, targets = ids[..., :-1], ids[..., 1:].clone()  # (..., T-1) each
    if pad_id is not None:
        targets[targets == pad_id] = IGNORE_INDEX
    return inputs, targets


# ------------------------------------------------------------------------------ masked LM
def mask_tokens(ids: torch.Tensor, *, vocab_size: int, mask_id: int, generator: torch.Generator,
                special_ids: Sequence[int] = (), mask_prob: float = 0.15,
                split: Sequence[float] = (0.8, 0.1, 0.1)) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's corruption of ids (any shape), Eq. (eq-obj-8010): returns (inputs, labels).

    Each position whose id is not special (``special_ids`` and ``mask_id``) is chosen
    independently with probability ``mask_prob``. A chosen position becomes ``mask_id``,
    a uniformly drawn ordinary (non-special) token, or stays unchanged, with the
    probabilities ``split`` = (mask, random, keep). Labels hold the original id at chosen
    positions and ``IGNORE_INDEX`` elsewhere, so padding (a special) never counts.
    """
    ids = _check_ids(ids)
    _check_generator(generator)
    if not _is_int(vocab_size) or vocab_size < 2:
        raise ValueError(f"vocab_size must be an int >= 2, got {vocab_size!r}")
    _check_token_id(mask_id, "mask_id", vocab_size)
    if isinstance(special_ids, (int, torch.Tensor)):
        raise TypeError("special_ids must be a sequence of ints such as (0, 1, 2)")
    specials = sorted({_check_token_id(i, "every special id", vocab_size) for i in special_ids}
                      | {mask_id})
    mask_prob = _check_prob(mask_prob, "mask_prob", low_open=False)
    if mask_prob == 0.0:
        raise ValueError("mask_prob must be > 0: with 0 no position would ever be predicted")
    split = tuple(split)
    if len(split) != 3:
        raise ValueError(f"split must be 3 probabilities (mask, random, keep), got {split!r}")
    for name, p in zip(("mask", "random", "keep"), split):
        _check_prob(p, f"split[{name}]", low_open=False)
    if not math.isclose(sum(split), 1.0, abs_tol=1e-9):
        raise ValueError(f"split (mask, random, keep) must sum to 1, got {split!r} "
                         f"(sum {sum(split):g})")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"token ids must lie in [0, vocab_size={vocab_size}), "
                         f"got min {int(ids.min())} and max {int(ids.max())}")
    is_special = torch.zeros(vocab_size, dtype=torch.bool)
    is_special[specials] = True
    ordinary = torch.nonzero(~is_special).flatten()  # ids a random replacement may take
    if len(ordinary) == 0:
        raise ValueError("every id is special: there is no ordinary token to predict or to draw")

    # the same random draws whatever the ids, so a fixed generator gives a fixed stream
    u_choose = torch.rand(ids.shape, generator=generator)
    u_case = torch.rand(ids.shape, generator=generator)
    random_ids = ordinary[torch.randint(len(ordinary), ids.shape, generator=generator)]

    chosen = ~is_special[ids] & (u_choose < mask_prob)
    to_mask = chosen & (u_case < split[0])
    to_random = chosen & (u_case >= split[0]) & (u_case < split[0] + split[1])
    inputs = ids.clone()
    inputs[to_mask] = mask_id
    inputs[to_random] = random_ids[to_random]
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    return inputs, labels


# ------------------------------------------------------------------------------ the loss
def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions whose label is not IGNORE_INDEX, Eq. (eq-obj-loss).

    ``logits`` (..., V) and ``labels`` (...): the mean is over all counted positions of the
    batch, so a long sequence with many labels weighs more than a short one.
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError("logits must be a floating-point tensor of shape (..., V)")
    labels = _check_ids(labels, "labels")
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits have shape {tuple(logits.shape)} but labels have shape "
                         f"{tuple(labels.shape)}; need logits (..., V) for labels (...)")
    counted = labels != IGNORE_INDEX
    if not counted.any():
        raise ValueError(f"no position counts: every label is IGNORE_INDEX ({IGNORE_INDEX}); "
                         "the loss would be 0/0 (a batch without chosen positions?)")
    V = logits.shape[-1]
    bad = counted & ((labels < 0) | (labels >= V))
    if bad.any():
        raise ValueError(f"labels must be IGNORE_INDEX ({IGNORE_INDEX}) or in [0, V={V}), "
                         f"got {int(labels[bad][0])}")
    return F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=IGNORE_INDEX)


# ------------------------------------------------------------------------------ spans (T5)
def span_counts(length: int, noise_density: float = 0.15, mean_span_length: float = 3.0
                ) -> tuple[int, int]:
    """Noise tokens n and spans k for a sequence of ``length`` tokens, Eq. (eq-obj-span-counts)."""
    if not _is_int(length) or length < 2:
        raise ValueError(f"length must be an int >= 2 (one corrupted and one kept token), "
                         f"got {length!r}")
    _check_prob(noise_density, "noise_density")
    if not isinstance(mean_span_length, (int, float)) or not 1.0 <= mean_span_length < math.inf:
        raise ValueError(f"mean_span_length must be a number >= 1, got {mean_span_length!r}")
    n = min(max(round(length * noise_density), 1), length - 1)
    # k spans need k - 1 kept tokens between them
    k = min(max(round(n / mean_span_length), 1), n, length - n + 1)
    return n, k


def _random_composition(total: int, parts: int, generator: torch.Generator) -> list[int]:
    """Uniform random way to write total as an ordered sum of ``parts`` positive ints."""
    cuts = sorted((torch.randperm(total - 1, generator=generator)[: parts - 1] + 1).tolist())
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:])]


def random_spans_mask(length: int, *, generator: torch.Generator, noise_density: float = 0.15,
                      mean_span_length: float = 3.0) -> torch.Tensor:
    """Bool mask (length,) with n noise tokens in exactly k spans, uniform over all such masks.

    n and k come from ``span_counts``. The noise spans split the kept tokens into k + 1
    stretches, of which the first and the last may be empty.
    """
    _check_generator(generator)
    n, k = span_counts(length, noise_density, mean_span_length)
    noise = _random_composition(n, k, generator)
    kept = _random_composition(length - n + 2, k + 1, generator)  # outer stretches: +1 each
    kept[0] -= 1
    kept[-1] -= 1
    mask = torch.zeros(length, dtype=torch.bool)
    pos = kept[0]
    for span, gap in zip(noise, kept[1:]):
        mask[pos: pos + span] = True
        pos += span + gap
    return mask


def _check_sentinels(sentinel_ids: Sequence[int]) -> list[int]:
    if isinstance(sentinel_ids, (int, torch.Tensor)):
        raise TypeError("sentinel_ids must be a sequence of ints, e.g. the ids of "
                        "<extra_id_0>, <extra_id_1>, ...")
    sentinels = list(sentinel_ids)
    if not all(_is_int(s) and s >= 0 for s in sentinels) or len(set(sentinels)) != len(sentinels):
        raise ValueError(f"sentinel_ids must be distinct non-negative ints, got {sentinels!r}")
    return sentinels


def corrupt_spans(ids: torch.Tensor, noise_mask: torch.Tensor, *, sentinel_ids: Sequence[int]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the i-th run of noise_mask by sentinel i; targets list each sentinel and its span.

    For k runs: inputs = kept tokens with sentinel_ids[i] in place of run i; targets =
    sentinel_ids[0] run_0 ... sentinel_ids[k-1] run_{k-1} sentinel_ids[k] (a final sentinel
    ends the targets, as in the T5 paper), so k + 1 sentinels are needed.
    """
    ids = _check_1d(ids)
    sentinels = _check_sentinels(sentinel_ids)
    if not isinstance(noise_mask, torch.Tensor) or noise_mask.dtype != torch.bool \
            or noise_mask.shape != ids.shape:
        raise ValueError(f"noise_mask must be a bool tensor of the same shape as ids "
                         f"{tuple(ids.shape)}")
    if torch.isin(ids, torch.tensor(sentinels, dtype=torch.long)).any():
        raise ValueError("ids already contain a sentinel id; the corruption could not be "
                         "undone. Use sentinel ids that do not occur in the text")
    tokens, noise = ids.tolist(), noise_mask.tolist()
    starts = [t for t in range(len(tokens)) if noise[t] and (t == 0 or not noise[t - 1])]
    if len(starts) + 1 > len(sentinels):
        raise ValueError(f"{len(starts)} spans need {len(starts) + 1} sentinels (one a span plus "
                         f"a final one) but {len(sentinels)} were given; add more "
                         "<extra_id_i> specials or lower noise_density")
    inputs, targets, span = [], [], -1
    for t, (token, is_noise) in enumerate(zip(tokens, noise)):
        if is_noise:
            if t == 0 or not noise[t - 1]:  # a new span starts
                span += 1
                inputs.append(sentinels[span])
                targets.append(sentinels[span])
            targets.append(token)
        else:
            inputs.append(token)
    targets.append(sentinels[span + 1])
    return torch.tensor(inputs, dtype=torch.long), torch.tensor(targets, dtype=torch.long)


def span_corruption(ids: torch.Tensor, *, sentinel_ids: Sequence[int],
                    generator: torch.Generator, noise_density: float = 0.15,
                    mean_span_length: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """T5's span corruption of one sequence (T,), Eq. (eq-obj-span): (inputs, targets)."""
    ids = _check_1d(ids, min_len=2)
    mask = random_spans_mask(len(ids), generator=generator, noise_density=noise_density,
                             mean_span_length=mean_span_length)
    return corrupt_spans(ids, mask, sentinel_ids=sentinel_ids)


def reconstruct_spans(inputs: torch.Tensor, targets: torch.Tensor, *,
                      sentinel_ids: Sequence[int]) -> torch.Tensor:
    """The original sequence from span-corrupted (inputs, targets): the inverse of corrupt_spans."""
    inputs, targets = _check_1d(inputs, "inputs"), _check_1d(targets, "targets")
    sentinels = _check_sentinels(sentinel_ids)
    index = {s: i for i, s in enumerate(sentinels)}
    spans: list[list[int]] = []
    for token in targets.tolist():
        if token in index:
            if index[token] != len(spans):
                raise ValueError(f"targets must list sentinels in order; found sentinel "
                                 f"{index[token]} where sentinel {len(spans)} was expected")
            spans.append([])
        elif not spans:
            raise ValueError("targets must start with the first sentinel id")
        else:
            spans[-1].append(token)
    if not spans or spans[-1]:
        raise ValueError("targets must end with a final sentinel that has no span after it")
    out, used = [], 0
    for token in inputs.tolist():
        if token in index:
            if index[token] != used or used >= len(spans) - 1:
                raise ValueError(f"inputs hold sentinel {index[token]} but the next span in the "
                                 f"targets is {used}; inputs and targets do not match")
            out.extend(spans[used])
            used += 1
        else:
            out.append(token)
    if used != len(spans) - 1:
        raise ValueError(f"targets hold {len(spans) - 1} spans but inputs use {used}; "
                         "inputs and targets do not match")
    return torch.tensor(out, dtype=torch.long)


# ------------------------------------------------------------------------------ batches
def pad_sequences(seqs: Sequence[torch.Tensor], value: int) -> torch.Tensor:
    """Right-pad 1-D LongTensors to one (B, T_max) tensor filled with ``value``."""
    if isinstance(seqs, torch.Tensor) or len(seqs) == 0:
        raise ValueError("seqs must be a non-empty list of 1-D tensors")
    seqs = [_check_1d(s, f"seqs[{i}]") for i, s in enumerate(seqs)]
    out = torch.full((len(seqs), max(len(s) for s in seqs)), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


def span_corruption_batch(seqs: Sequence[torch.Tensor], *, sentinel_ids: Sequence[int],
                          pad_id: int, generator: torch.Generator, noise_density: float = 0.15,
                          mean_span_length: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Span-corrupt each sequence: inputs (B, T_in) padded with pad_id, labels (B, T_out)
    padded with IGNORE_INDEX, so that padding never counts in ``lm_loss``."""
    if not _is_int(pad_id) or pad_id < 0:
        raise ValueError(f"pad_id must be a non-negative int, got {pad_id!r}")
    if isinstance(seqs, torch.Tensor) or len(seqs) == 0:
        raise ValueError("seqs must be a non-empty list of 1-D tensors (unpadded sequences)")
    pairs = [span_corruption(_check_1d(s, f"seqs[{i}]", min_len=2), sentinel_ids=sentinel_ids,
                             generator=generator, noise_density=noise_density,
                             mean_span_length=mean_span_length) for i, s in enumerate(seqs)]
    return (pad_sequences([x for x, _ in pairs], pad_id),
            pad_sequences([y for _, y in pairs], IGNORE_INDEX))
