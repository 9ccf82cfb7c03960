"""Speculative decoding: a cheap draft model proposes, the target model verifies (section 8.2).

Each round the draft samples gamma tokens from q; one call of the target gives p at all
gamma + 1 positions; draft token x is kept with probability min(1, p(x) / q(x)), and the
first rejected one is replaced by a sample of the residual max(0, p - q) / Z
(Eq. eq-inf-residual). The output then has exactly the target's distribution
(Theorem thm-inf-spec), whatever the draft.

Models are called as ``model(idx)`` and must return ``(logits, ...)`` with logits
(B, T, V) over the same vocabulary, as ``llmbook.gpt.GPT`` does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["residual_distribution", "acceptance_rate", "output_distribution",
           "expected_tokens_per_call", "verify", "BigramLM", "SpecStats",
           "speculative_generate"]


def _check_pair(p: torch.Tensor, q: torch.Tensor) -> None:
    for name, d in (("p", p), ("q", q)):
        if not isinstance(d, torch.Tensor) or d.dim() != 1 or not d.is_floating_point():
            raise ValueError(f"{name} must be a 1-D float tensor (a distribution over the "
                             f"vocabulary), got {type(d).__name__} "
                             f"{tuple(getattr(d, 'shape', ()))}")
        if (d < 0).any() or abs(float(d.sum()) - 1.0) > 1e-6:
            raise ValueError(f"{name} must be non-negative and sum to 1, got sum "
                             f"{float(d.sum()):.6f}; apply softmax to logits first")
    if p.shape != q.shape:
        raise ValueError(f"p and q must cover the same vocabulary, got sizes {p.numel()} "
                         f"and {q.numel()}")


def _residual(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    r = (p - q).clamp(min=0)
    z = r.sum()
    return r / z if z > 0 else p  # z = 0 only if p = q, and then nothing is ever rejected


def residual_distribution(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """max(0, p - q) normalised: where a rejected draft token is resampled (Eq. eq-inf-residual)."""
    _check_pair(p, q)
    return _residual(p, q)


def acceptance_rate(p: torch.Tensor, q: torch.Tensor) -> float:
    """P(a draft token x ~ q is accepted) = sum_x min(p(x), q(x)) (Eq. eq-inf-accept)."""
    _check_pair(p, q)
    return float(torch.minimum(p, q).sum())


def output_distribution(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Exact distribution of one verified token, step by step (Theorem thm-inf-spec)."""
    _check_pair(p, q)
    accept = torch.where(q > 0, q * torch.clamp(p / q, max=1.0), torch.zeros_like(q))
    return accept + (1.0 - accept.sum()) * _residual(p, q)  # accepted, or rejected and resampled


def expected_tokens_per_call(alpha: float, gamma: int) -> float:
    """Tokens per target call with i.i.d. acceptance alpha: (1 - alpha^(gamma+1)) / (1 - alpha)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha is a probability, must be in [0, 1], got {alpha!r}")
    if isinstance(gamma, bool) or not isinstance(gamma, int) or gamma < 0:
        raise ValueError(f"gamma must be a non-negative int, got {gamma!r}")
    if alpha == 1.0:
        return float(gamma + 1)
    return (1.0 - alpha ** (gamma + 1)) / (1.0 - alpha)


def verify(p_rows: torch.Tensor, q_rows: torch.Tensor, draft: torch.Tensor,
           generator: torch.Generator | None = None) -> tuple[list[int], int]:
    """Accept/reject gamma draft tokens: the new tokens (1 .. gamma+1) and the number accepted.

    p_rows (gamma+1, V): target distributions at each draft position and one after;
    q_rows (gamma, V): the draft's distributions the tokens draft (gamma,) were sampled from.
    """
    gamma = draft.numel()
    if p_rows.dim() != 2 or q_rows.dim() != 2 or p_rows.shape[0] != gamma + 1 \
            or q_rows.shape[0] != gamma or p_rows.shape[1] != q_rows.shape[1]:
        raise ValueError(f"need p_rows (gamma+1, V), q_rows (gamma, V) and gamma draft tokens; "
                         f"got {tuple(p_rows.shape)}, {tuple(q_rows.shape)} and {gamma} tokens")
    out: list[int] = []
    for i, x in enumerate(draft.tolist()):
        p, q = p_rows[i], q_rows[i]
        if q[x] <= 0:
            raise ValueError(f"draft token {x} has probability 0 under q_rows[{i}]; "
                             "the draft tokens must be sampled from q_rows")
        r = torch.rand((), generator=generator, dtype=p.dtype)
        if r * q[x] < p[x]:  # accept with probability min(1, p(x) / q(x))
            out.append(x)
            continue
        out.append(int(torch.multinomial(_residual(p, q), 1, generator=generator)))
        return out, i
    out.append(int(torch.multinomial(p_rows[gamma], 1, generator=generator)))  # bonus token
    return out, gamma


class BigramLM(nn.Module):
    """A draft model: next-token logits that depend on the last token only (a table V x V)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        if logits.dim() != 2 or logits.shape[0] != logits.shape[1]:
            raise ValueError(f"logits must be a square (V, V) table, got {tuple(logits.shape)}")
        self.register_buffer("table", logits.detach().clone())

    @classmethod
    def from_stream(cls, stream: torch.Tensor, vocab_size: int, alpha: float = 0.1,
                    unigram: bool = False) -> "BigramLM":
        """Add-alpha bigram (or unigram: one row for all contexts) counts of a token stream."""
        if not isinstance(stream, torch.Tensor) or stream.dim() != 1 or len(stream) < 2:
            raise ValueError("stream must be a 1-D tensor of at least 2 token ids")
        if int(stream.min()) < 0 or int(stream.max()) >= vocab_size:
            raise ValueError(f"stream has ids outside [0, vocab_size={vocab_size})")
        if not alpha > 0:
            raise ValueError(f"alpha must be positive (no zero probabilities), got {alpha!r}")
        if unigram:
            counts = torch.bincount(stream, minlength=vocab_size).double().expand(vocab_size, -1)
        else:
            pairs = stream[:-1] * vocab_size + stream[1:]
            counts = torch.bincount(pairs, minlength=vocab_size ** 2).double()
            counts = counts.view(vocab_size, vocab_size)
        probs = (counts + alpha) / (counts + alpha).sum(dim=1, keepdim=True)
        return cls(probs.log().float())

    def forward(self, idx: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Logits (B, T, V) of the token after each position of idx (B, T)."""
        return self.table[idx], None


@dataclass
class SpecStats:
    """Counts of one speculative generation."""

    target_calls: int = 0
    proposed: int = 0  # draft tokens proposed (gamma a round)
    evaluated: int = 0  # proposals tested: those before the first rejection, and it
    accepted: int = 0  # draft tokens accepted
    expected_accepted: float = 0.0  # sum of sum_x min(p, q) over the tested proposals
    emitted: int = 0  # tokens produced (before trimming to max_new_tokens)

    @property
    def acceptance(self) -> float:
        """Fraction of the tested draft tokens that were accepted (an estimate of alpha)."""
        return self.accepted / max(self.evaluated, 1)

    @property
    def tokens_per_call(self) -> float:
        """Tokens produced per call of the target model."""
        return self.emitted / max(self.target_calls, 1)


def _probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Softmax(logits / temperature), or the one-hot argmax for temperature 0 (greedy)."""
    logits = logits.double()
    if temperature == 0:
        return F.one_hot(logits.argmax(-1), logits.shape[-1]).double()
    return F.softmax(logits / temperature, dim=-1)


@torch.no_grad()
def speculative_generate(target: nn.Module, draft: nn.Module, idx: torch.Tensor,
                         max_new_tokens: int, gamma: int, temperature: float = 1.0,
                         generator: torch.Generator | None = None
                         ) -> tuple[torch.Tensor, SpecStats]:
    """Sample max_new_tokens tokens from the target with draft proposals of gamma tokens a round.

    idx is one prompt (1, T). The target scores the whole sequence at once, so
    T + max_new_tokens - 1 + gamma must not exceed its block_size.
    """
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.shape[0] != 1 \
            or idx.shape[1] == 0:
        raise ValueError(f"idx must be one non-empty prompt of shape (1, T), got "
                         f"{tuple(getattr(idx, 'shape', ()))}; use ids[None] for a 1-D tensor")
    for name, value, low in (("max_new_tokens", max_new_tokens, 1), ("gamma", gamma, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature!r}")
    block = getattr(getattr(target, "config", None), "block_size", None)
    if block is not None and idx.shape[1] + max_new_tokens - 1 + gamma > block:
        raise ValueError(f"prompt {idx.shape[1]} + max_new_tokens {max_new_tokens} - 1 + gamma "
                         f"{gamma} exceeds the target's block_size={block}; generate fewer tokens")
    draft_block = getattr(getattr(draft, "config", None), "block_size", None)
    stats = SpecStats()
    end = idx.shape[1] + max_new_tokens
    while idx.shape[1] < end:
        n = idx.shape[1]
        seq, q_rows = idx, []
        for _ in range(gamma):  # the draft proposes gamma tokens, one at a time
            window = seq if draft_block is None else seq[:, -draft_block:]
            q = _probs(draft(window)[0][0, -1], temperature)
            q_rows.append(q)
            seq = torch.cat([seq, torch.multinomial(q, 1, generator=generator)[None]], dim=1)
        p_rows = _probs(target(seq)[0][0, n - 1:], temperature)  # (gamma + 1, V), one call
        q_rows = torch.stack(q_rows)
        new, accepted = verify(p_rows, q_rows, seq[0, n:], generator)
        stats.target_calls += 1
        stats.proposed += gamma
        stats.accepted += accepted
        evaluated = accepted + (accepted < gamma)  # proposals the rule actually tested
        stats.evaluated += evaluated
        beta = torch.minimum(p_rows[:-1], q_rows).sum(dim=-1)  # Eq. (eq-inf-accept) per proposal
        stats.expected_accepted += float(beta[:evaluated].sum())
        stats.emitted += len(new)
        idx = torch.cat([idx, torch.tensor([new], dtype=idx.dtype)], dim=1)
    return idx[:, :end], stats
