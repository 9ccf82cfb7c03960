"""Custom autograd Functions with hand-written backward passes (section 7.1).

* ``LogSumExp`` / ``logsumexp``: the numerically stable log-sum-exp; its gradient is the
  softmax (Eq. eq-pt2-lse-grad).
* ``GELU`` / ``gelu``: the exact GELU x * Phi(x); its derivative is Phi(x) + x * phi(x)
  (Eq. eq-pt2-gelu-grad).

Both are checked against PyTorch's own functions and with ``torch.autograd.gradcheck``
in the tests and in the book.
"""
from __future__ import annotations

import math

import torch

__all__ = ["LogSumExp", "logsumexp", "GELU", "gelu"]

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _check_float(x: object, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}; convert with "
                        ".double() (for gradcheck) or .float()")


class LogSumExp(torch.autograd.Function):
    """y = log sum_i exp(x_i) along ``dim``, computed as m + log sum exp(x - m) with m = max x."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, dim: int) -> torch.Tensor:
        m = x.amax(dim=dim, keepdim=True)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf: avoid inf - inf
        y = m + (x - m).exp().sum(dim=dim, keepdim=True).log()  # every exponent is <= 0
        ctx.save_for_backward(x, y)
        ctx.dim = dim
        return y.squeeze(dim)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor) -> tuple[torch.Tensor, None]:
        x, y = ctx.saved_tensors
        softmax = (x - y).exp()  # d y / d x_i = exp(x_i - y), Eq. (eq-pt2-lse-grad)
        return grad_y.unsqueeze(ctx.dim) * softmax, None  # no gradient for dim


def logsumexp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Stable log-sum-exp of x along dim with a hand-written backward (Eq. eq-pt2-lse-grad)."""
    _check_float(x)
    if x.dim() == 0:
        raise ValueError("x is a scalar; log-sum-exp needs at least one dimension to sum over")
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim={dim} is out of range for a tensor with {x.dim()} dimensions "
                         f"(use -{x.dim()} .. {x.dim() - 1})")
    return LogSumExp.apply(x, dim % x.dim())


class GELU(torch.autograd.Function):
    """Exact GELU(x) = x Phi(x), Phi the standard normal CDF; backward Phi(x) + x phi(x)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x * 0.5 * (1.0 + torch.erf(x * _INV_SQRT2))

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        cdf = 0.5 * (1.0 + torch.erf(x * _INV_SQRT2))  # Phi(x)
        pdf = torch.exp(-0.5 * x * x) * _INV_SQRT_2PI  # phi(x)
        return grad_y * (cdf + x * pdf)  # Eq. (eq-pt2-gelu-grad)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """Exact GELU with a hand-written backward (Eq. eq-pt2-gelu-grad); equals F.gelu(x)."""
    _check_float(x)
    return GELU.apply(x)
