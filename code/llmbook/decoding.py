"""Decoding for conditional language models p(y | x): greedy and beam search (chapter 6.1).

A decoder is driven through a *step function* ``step(prefix, rows) -> log_probs``: ``prefix``
(N, t) holds token ids that start with <bos>, ``rows`` (N,) says which source sentence each
prefix belongs to, and the result (N, V) is log p(y_{t} | y_{<t}, x) for every next token.
``transformer_step`` makes one from an encoder-decoder ``llmbook.transformer.Transformer``
(the source is encoded once); a hand-written table works too, which the tests and the book
use for small counterexamples.

Scores: the log-probability of a hypothesis is the sum over its tokens, <eos> included,
Eq. (eq-mt-chain); the length-normalised score divides it by length ** alpha, Eq. (eq-mt-lp).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = ["StepFn", "Hypotheses", "length_penalty", "transformer_step", "greedy_search",
           "beam_search_nbest", "select_best", "beam_search", "sequence_logprob"]

StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Hypotheses(NamedTuple):
    """One output per source sentence: ids without <bos>/<eos>, and their scores (B,)."""

    tokens: list[list[int]]
    logprob: torch.Tensor  # (B,) sum of log-probabilities, <eos> included when finished
    length: torch.Tensor  # (B,) number of scored tokens: len(tokens) + 1 when finished
    score: torch.Tensor  # (B,) logprob / length ** alpha, Eq. (eq-mt-lp)
    finished: torch.Tensor  # (B,) bool: ended with <eos> (False: cut at max_len)


def _check_int(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 10:
        raise ValueError(f"alpha must be a number in [0, 10] (0: no length normalisation), got {alpha!r}")
    return float(alpha)


def length_penalty(length: torch.Tensor, alpha: float) -> torch.Tensor:
    """The divisor length ** alpha of Eq. (eq-mt-lp); lengths below 1 count as 1."""
    alpha = _check_alpha(alpha)
    return length.to(torch.float64).clamp(min=1.0) ** alpha


def transformer_step(model: torch.nn.Module, src: torch.Tensor) -> StepFn:
    """A step function for an encoder-decoder Transformer (eval mode) and source ids (B, S)."""
    if model.training:
        raise ValueError("call model.eval() before decoding (dropout would make outputs random)")
    if not isinstance(src, torch.Tensor) or src.dim() != 2 or src.shape[1] == 0:
        raise ValueError(f"src must be token ids of shape (B, S) with S >= 1 (an empty source "
                         f"sentence has nothing to translate), got {getattr(src, 'shape', src)!r}")
    with torch.no_grad():
        memory, mask = model.encode(src), model.src_mask(src)  # (B, S, d), (B, 1, S)

    cache: dict[str, torch.Tensor] = {}  # the memory of the last rows: beam search repeats them

    @torch.no_grad()
    def step(prefix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        if "rows" not in cache or not torch.equal(cache["rows"], rows):
            cache.update(rows=rows.clone(), memory=memory[rows],
                         mask=None if mask is None else mask[rows])
        logits = model.decode(prefix, cache["memory"], cache["mask"])  # (N, t, V)
        return F.log_softmax(logits[:, -1].double(), dim=-1)  # (N, V), float64 sums

    return step


def _check_common(batch_size: int, bos_id: int, eos_id: int, max_len: int, alpha: float) -> None:
    _check_int("batch_size", batch_size)
    _check_int("bos_id", bos_id, 0)
    _check_int("eos_id", eos_id, 0)
    _check_int("max_len", max_len)
    _check_alpha(alpha)


def _finish(prefix: torch.Tensor, logprob: torch.Tensor, length: torch.Tensor, eos_id: int,
            alpha: float) -> Hypotheses:
    """Cut each row of prefix (N, 1 + t) after its first <eos>."""
    tokens, finished = [], []
    for row in prefix[:, 1:].tolist():
        end = row.index(eos_id) if eos_id in row else len(row)
        tokens.append(row[:end])
        finished.append(end < len(row))
    return Hypotheses(tokens, logprob, length, logprob / length_penalty(length, alpha),
                      torch.tensor(finished))


def greedy_search(step: StepFn, batch_size: int, bos_id: int, eos_id: int, max_len: int,
                  alpha: float = 0.0) -> Hypotheses:
    """Pick the most probable next token until <eos> or max_len tokens, Eq. (eq-mt-greedy)."""
    _check_common(batch_size, bos_id, eos_id, max_len, alpha)
    prefix = torch.full((batch_size, 1), bos_id, dtype=torch.long)
    rows = torch.arange(batch_size)
    logprob = torch.zeros(batch_size, dtype=torch.float64)
    length = torch.zeros(batch_size, dtype=torch.long)
    done = torch.zeros(batch_size, dtype=torch.bool)
    for _ in range(max_len):
        best, nxt = step(prefix, rows).max(dim=-1)  # (B,), (B,)
        nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)  # finished rows: filler
        logprob += torch.where(done, torch.zeros_like(best), best)
        length += (~done).long()
        prefix = torch.cat([prefix, nxt[:, None]], dim=1)
        done |= nxt == eos_id
        if bool(done.all()):
            break
    return _finish(prefix, logprob, length, eos_id, alpha)


def beam_search_nbest(step: StepFn, batch_size: int, bos_id: int, eos_id: int, max_len: int,
                      beam_size: int) -> list[Hypotheses]:
    """All beam_size final hypotheses of each sentence (Definition def-mt-beam), scored with alpha = 0.

    The beam keeps the beam_size best prefixes by log-probability. A finished hypothesis stays
    in the beam with its score frozen (its only extension is <eos> at log-probability 0). The
    search stops when every beam has finished or after max_len tokens. Pruning does not depend
    on alpha: ``select_best`` applies Eq. (eq-mt-lp) afterwards.
    """
    _check_common(batch_size, bos_id, eos_id, max_len, 0.0)
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive int (1 is greedy search), got {beam_size!r}")
    B, k = batch_size, beam_size
    prefix = torch.full((B * k, 1), bos_id, dtype=torch.long)
    rows = torch.arange(B).repeat_interleave(k)  # (B k,) source sentence of every beam
    scores = torch.full((B, k), float("-inf"), dtype=torch.float64)
    scores[:, 0] = 0.0  # one live hypothesis, <bos>, at the start
    length = torch.zeros(B, k, dtype=torch.long)
    done = torch.zeros(B, k, dtype=torch.bool)
    for _ in range(max_len):
        logp = step(prefix, rows)  # (B k, V)
        V = logp.shape[-1]
        logp = logp.view(B, k, V)
        frozen = torch.full((V,), float("-inf"), dtype=logp.dtype)
        frozen[eos_id] = 0.0  # a finished hypothesis can only repeat <eos>, at no cost
        logp = torch.where(done[..., None], frozen, logp)
        cand = scores[..., None] + logp  # (B, k, V)
        scores, idx = cand.view(B, k * V).topk(k, dim=-1)  # (B, k)
        beam, tok = idx // V, idx % V
        prefix = torch.cat([prefix[(torch.arange(B)[:, None] * k + beam).view(-1)],
                            tok.view(-1, 1)], dim=1)
        was_done = done.gather(1, beam)
        length = length.gather(1, beam) + (~was_done).long()
        done = was_done | (tok == eos_id)
        if bool(done.all()):
            break
    prefix = prefix.view(B, k, -1)
    return [_finish(prefix[b], scores[b], length[b], eos_id, 0.0) for b in range(B)]


def select_best(nbest: Sequence[Hypotheses], alpha: float = 0.0) -> Hypotheses:
    """From each sentence's hypotheses keep the one with the highest Eq. (eq-mt-lp) score."""
    _check_alpha(alpha)
    if len(nbest) == 0:
        raise ValueError("nbest is empty; pass the output of beam_search_nbest")
    picks = [int((h.logprob / length_penalty(h.length, alpha)).argmax()) for h in nbest]
    logprob = torch.stack([h.logprob[i] for h, i in zip(nbest, picks)])
    length = torch.stack([h.length[i] for h, i in zip(nbest, picks)])
    return Hypotheses([h.tokens[i] for h, i in zip(nbest, picks)], logprob, length,
                      logprob / length_penalty(length, alpha),
                      torch.stack([h.finished[i] for h, i in zip(nbest, picks)]))


def beam_search(step: StepFn, batch_size: int, bos_id: int, eos_id: int, max_len: int,
                beam_size: int, alpha: float = 0.0) -> Hypotheses:
    """Beam search (Definition def-mt-beam); the final choice uses Eq. (eq-mt-lp) with alpha."""
    _check_alpha(alpha)
    return select_best(beam_search_nbest(step, batch_size, bos_id, eos_id, max_len, beam_size), alpha)


@torch.no_grad()
def sequence_logprob(model: torch.nn.Module, src: torch.Tensor, targets: Sequence[Sequence[int]],
                     bos_id: int, eos_id: int, pad_id: int) -> torch.Tensor:
    """log p(y | x) = sum_t log p(y_t | y_<t, x) with <eos> at the end, by teacher forcing, Eq. (eq-mt-chain)."""
    if len(targets) != src.shape[0]:
        raise ValueError(f"got {len(targets)} targets for {src.shape[0]} source sentences")
    T = max(len(t) for t in targets) + 1
    tgt_in = torch.full((len(targets), T), pad_id, dtype=torch.long)
    tgt_out = torch.full((len(targets), T), pad_id, dtype=torch.long)
    for i, y in enumerate(targets):
        tgt_in[i, : len(y) + 1] = torch.tensor([bos_id, *y], dtype=torch.long)
        tgt_out[i, : len(y) + 1] = torch.tensor([*y, eos_id], dtype=torch.long)
    logp = F.log_softmax(model(src, tgt_in).double(), dim=-1)  # (B, T, V)
    picked = logp.gather(2, tgt_out[..., None]).squeeze(2)  # (B, T)
    return (picked * (tgt_out != pad_id)).sum(dim=1)
