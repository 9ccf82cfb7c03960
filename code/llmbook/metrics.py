"""Information-theoretic quantities of language models (section 4.1).

* ``entropy``, ``cross_entropy``, ``kl_divergence`` of probability vectors along a dimension,
  in nats, with the conventions 0 log 0 = 0 and p log 0 = -inf for p > 0 (Eq. eq-lmm-decomp).
* ``temperature_softmax``: softmax(z / tau), including its limits tau -> 0 (uniform over the
  arg-max) and tau -> inf (uniform over the finite logits) (Eq. eq-lmm-temp).
* ``nats_to_bits`` and ``perplexity`` turn a mean negative log-likelihood in nats into bits
  per token and perplexity (Eq. eq-lmm-ppl).
"""
from __future__ import annotations

import math

import torch

__all__ = ["entropy", "cross_entropy", "kl_divergence", "temperature_softmax",
           "nats_to_bits", "perplexity"]


def _check_probs(p: torch.Tensor, name: str, dim: int) -> None:
    if not isinstance(p, torch.Tensor) or not p.is_floating_point():
        got = p.dtype if isinstance(p, torch.Tensor) else type(p).__name__
        raise TypeError(f"{name} must be a floating-point tensor of probabilities, got {got}")
    if p.dim() == 0:
        raise ValueError(f"{name} must have at least one dimension (the outcomes), got a scalar")
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()):
        raise ValueError(f"{name} has negative or non-finite entries; pass probabilities "
                         "(e.g. softmax of the logits), not logits")
    atol = 1e-9 if p.dtype == torch.float64 else 1e-4
    total = p.sum(dim)
    if not torch.allclose(total, torch.ones_like(total), rtol=0.0, atol=atol):
        worst = (total - 1).abs().max().item()
        raise ValueError(f"{name} does not sum to 1 along dim={dim} (off by up to {worst:.3g}); "
                         "normalise it, or pass the right dim")


def cross_entropy(p: torch.Tensor, q: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """H(p, q) = -sum_x p(x) log q(x) in nats along ``dim`` (Eq. eq-lmm-ce)."""
    _check_probs(p, "p", dim)
    _check_probs(q, "q", dim)
    if p.shape != q.shape:
        raise ValueError(f"p has shape {tuple(p.shape)} but q has {tuple(q.shape)}; "
                         "they must describe the same outcomes")
    terms = torch.where(p > 0, -p * torch.log(q), torch.zeros_like(p))  # 0 log 0 = 0
    return terms.sum(dim)


def entropy(p: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """H(p) = -sum_x p(x) log p(x) in nats along ``dim`` (Eq. eq-lmm-ce with q = p)."""
    return cross_entropy(p, p, dim)


def kl_divergence(p: torch.Tensor, q: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """KL(p || q) = sum_x p(x) log(p(x) / q(x)) in nats along ``dim`` (Eq. eq-lmm-kl)."""
    _check_probs(p, "p", dim)
    _check_probs(q, "q", dim)
    if p.shape != q.shape:
        raise ValueError(f"p has shape {tuple(p.shape)} but q has {tuple(q.shape)}; "
                         "they must describe the same outcomes")
    safe_p = torch.where(p > 0, p, torch.ones_like(p))
    terms = torch.where(p > 0, p * (torch.log(safe_p) - torch.log(q)), torch.zeros_like(p))
    return terms.sum(dim)


def temperature_softmax(logits: torch.Tensor, tau: float = 1.0, dim: int = -1) -> torch.Tensor:
    """softmax(logits / tau) along ``dim``; tau = 0 and inf give the limits (Eq. eq-lmm-temp)."""
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError("logits must be a floating-point tensor")
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or math.isnan(tau) or tau < 0:
        raise ValueError(f"tau must be a number in [0, inf], got {tau!r}")
    if bool(torch.isnan(logits).any()) or bool((logits == math.inf).any()):
        raise ValueError("logits contain nan or +inf; only finite values and -inf (masked) "
                         "are allowed")
    finite = torch.isfinite(logits)
    if not bool(finite.any(dim).all()):
        raise ValueError(f"some distribution has every logit equal to -inf along dim={dim}; "
                         "at least one outcome must stay possible")
    if tau == 0:  # the limit: uniform over the maximal logits (one-hot when the max is unique)
        top = (logits == logits.amax(dim, keepdim=True)).to(logits.dtype)
        return top / top.sum(dim, keepdim=True)
    if tau == math.inf:  # the limit: uniform over the outcomes that are not masked
        keep = finite.to(logits.dtype)
        return keep / keep.sum(dim, keepdim=True)
    return torch.softmax(logits / tau, dim)


def nats_to_bits(nats: float) -> float:
    """An information quantity in nats, expressed in bits: nats / ln 2 (Eq. eq-lmm-ppl)."""
    if isinstance(nats, bool) or not isinstance(nats, (int, float)) or math.isnan(nats):
        raise ValueError(f"nats must be a number, got {nats!r}")
    return nats / math.log(2)


def perplexity(mean_nll: float) -> float:
    """exp(mean negative log-likelihood in nats) = 2 ** bits per token (Eq. eq-lmm-ppl)."""
    if isinstance(mean_nll, bool) or not isinstance(mean_nll, (int, float)) or math.isnan(mean_nll):
        raise ValueError(f"mean_nll must be a number (nats per token), got {mean_nll!r}")
    if mean_nll < 0:
        raise ValueError(f"mean_nll must be >= 0 nats per token (probabilities are <= 1), got "
                         f"{mean_nll!r}; did you pass a log-likelihood instead of its negative?")
    return math.exp(mean_nll)
