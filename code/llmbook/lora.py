"""Low-rank adaptation (LoRA, section 8.3): a frozen nn.Linear plus a trainable update B A.

``LoRALinear(base, r, alpha)`` computes y = base(x) + (alpha / r) x A^T B^T (Eq. eq-lora-forward),
with A (r, d_in) random and B (d_out, r) zero, so the wrapped layer starts out exactly equal to
the base layer. ``apply_lora`` swaps the named Linear layers of a model for wrappers and freezes
everything else; ``merge_lora`` folds every update back into a plain nn.Linear (Eq. eq-lora-merge),
so inference costs nothing extra.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

__all__ = ["LoRALinear", "lora_param_count", "apply_lora", "merge_lora", "count_trainable"]


def _check_rank(r: object, alpha: object) -> None:
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"rank r must be a positive int, got {r!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"alpha must be a positive number (the update is scaled by alpha / r), "
                         f"got {alpha!r}")


class LoRALinear(nn.Module):
    """y = W0 x + b0 + (alpha / r) B A x with W0, b0 frozen; A random, B zero (Eq. eq-lora-forward)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        _check_rank(r, alpha)
        if r > min(base.in_features, base.out_features):
            raise ValueError(f"rank r={r} exceeds min(d_in, d_out) = "
                             f"{min(base.in_features, base.out_features)}: no saving; use a "
                             "smaller r")
        self.base, self.r, self.alpha = base, r, float(alpha)
        self.scaling = self.alpha / r
        base.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))
        bound = 1.0 / math.sqrt(base.in_features)  # the default init of an nn.Linear's weight
        with torch.no_grad():
            self.lora_A.uniform_(-bound, bound, generator=generator)

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """The update Delta W = (alpha / r) B A, shape (d_out, d_in) (Eq. eq-lora-update)."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (..., d_in) -> (..., r) -> (..., d_out): never forms the d_out x d_in matrix B A
        return self.base(x) + self.scaling * ((x @ self.lora_A.T) @ self.lora_B.T)

    @torch.no_grad()
    def merge(self) -> nn.Linear:
        """A plain nn.Linear with weight W0 + (alpha / r) B A that computes the same function."""
        base = self.base
        merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                           dtype=base.weight.dtype, device=base.weight.device)
        merged.weight.copy_(base.weight + self.delta_weight())
        if base.bias is not None:
            merged.bias.copy_(base.bias)
        return merged

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}"


def lora_param_count(d_in: int, d_out: int, r: int) -> int:
    """Trainable parameters of a rank-r update of a d_out x d_in matrix: r (d_in + d_out)."""
    for name, v in (("d_in", d_in), ("d_out", d_out), ("r", r)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    return r * (d_in + d_out)


def apply_lora(model: nn.Module, targets: tuple[str, ...] = ("c_attn",), r: int = 4,
               alpha: float = 1.0, generator: torch.Generator | None = None) -> list[str]:
    """Freeze model, wrap every nn.Linear whose own name is in targets; return the wrapped names."""
    _check_rank(r, alpha)
    if isinstance(targets, str):
        raise TypeError(f"targets must be a tuple of layer names, not one str; use ({targets!r},)")
    model.requires_grad_(False)
    wrapped = []
    for name, module in sorted(model.named_modules(), key=lambda nm: nm[0]):  # sorted: a deterministic init order
        if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in targets and name:
            wrapped.append(name)
    if not wrapped:
        names = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                        if isinstance(m, nn.Linear)})
        raise ValueError(f"no nn.Linear named {targets} in the model; its Linear layers are "
                         f"named {names}")
    for name in wrapped:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha, generator))
    return wrapped


def merge_lora(model: nn.Module) -> int:
    """Replace every LoRALinear in model by its merged nn.Linear (Eq. eq-lora-merge); return how many."""
    found = [name for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    for name in found:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, getattr(parent, child).merge())
    return len(found)


def count_trainable(model: nn.Module) -> int:
    """Number of distinct parameters with requires_grad=True (a tied matrix counts once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
