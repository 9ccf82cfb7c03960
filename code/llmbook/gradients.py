"""Gradients of recurrent networks: Jacobian products, state-gradient norms, clipping by norm.

Chapter 4 (section "循环神经网络的数学") derives backpropagation through time, bounds the
product of state Jacobians (Eq. eq-bptt-jac, eq-bptt-bound) and proves what clipping by norm
does (Eq. eq-bptt-clip); these helpers compute exactly those quantities.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch

__all__ = [
    "spectral_radius", "scale_to_spectral_radius", "state_jacobian", "state_grad_norms",
    "log_slope", "total_norm", "clip_by_norm",
]

State = torch.Tensor | tuple[torch.Tensor, ...]


def _check_square(W: torch.Tensor, name: str) -> None:
    if not isinstance(W, torch.Tensor) or W.dim() != 2 or W.shape[0] != W.shape[1]:
        shape = tuple(W.shape) if isinstance(W, torch.Tensor) else type(W).__name__
        raise ValueError(f"{name} must be a square matrix (n, n), got {shape}")


def spectral_radius(W: torch.Tensor) -> float:
    """Largest modulus of an eigenvalue of the square matrix W."""
    _check_square(W, "W")
    return torch.linalg.eigvals(W.detach().to(torch.float64)).abs().max().item()


def scale_to_spectral_radius(W: torch.Tensor, rho: float) -> torch.Tensor:
    """Return W rescaled so that its spectral radius is rho (same eigenvectors, same dtype)."""
    if not (isinstance(rho, (int, float)) and not isinstance(rho, bool) and rho > 0):
        raise ValueError(f"rho must be a positive number, got {rho!r}")
    current = spectral_radius(W)
    if current == 0.0:
        raise ValueError("W has spectral radius 0 (it is nilpotent), so no rescaling can give "
                         f"spectral radius {rho}; start from a random matrix instead")
    return W * (rho / current)


def state_jacobian(W_hh: torch.Tensor, fprime: torch.Tensor) -> torch.Tensor:
    """dh_t/dh_k = prod_{j=k+1}^{t} diag(f'(a_j)) W_hh, latest step leftmost (Eq. eq-bptt-jac).

    ``fprime`` has shape (t - k, n): row i holds f'(a_{k+1+i}); zero rows give the identity.
    """
    _check_square(W_hh, "W_hh")
    n = W_hh.shape[0]
    if fprime.dim() != 2 or fprime.shape[1] != n:
        raise ValueError(f"fprime must have shape (steps, n) = (steps, {n}), one row f'(a_j) a "
                         f"step, got {tuple(fprime.shape)}")
    J = torch.eye(n, dtype=W_hh.dtype, device=W_hh.device)
    for d in fprime:  # j = k+1, ..., t: each new factor multiplies from the left
        J = (d[:, None] * W_hh) @ J  # diag(d) @ W_hh @ J
    return J


def state_grad_norms(cell: Callable[[torch.Tensor, State], State], xs: torch.Tensor,
                     state: State, loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Norms ||dL/dh_k|| (T+1, B) for k = 0..T of L = loss_fn(h_T), unrolling state = cell(x_t, state).

    ``xs`` is (T, B, d); ``state`` is h_0 (B, n) or a tuple whose first tensor is h_0, as for
    ``torch.nn.LSTMCell`` (then dL/dh_k holds the other state tensors fixed). Row k is the
    norm of each example's gradient with respect to h_k (Eq. eq-bptt-delta).
    """
    if not isinstance(xs, torch.Tensor) or xs.dim() != 3 or xs.shape[0] < 1:
        shape = tuple(xs.shape) if isinstance(xs, torch.Tensor) else type(xs).__name__
        raise ValueError(f"xs must be a (T, B, d) tensor with T >= 1, got {shape}")
    is_tuple = isinstance(state, tuple)
    parts = list(state) if is_tuple else [state]
    if not parts or parts[0].dim() != 2 or parts[0].shape[0] != xs.shape[1]:
        raise ValueError(f"the hidden state must be (B, n) with B = {xs.shape[1]} (the batch of xs), "
                         f"got {tuple(parts[0].shape) if parts else 'an empty tuple'}")
    parts = [parts[0].detach().clone().requires_grad_(True)] + [p.detach().clone() for p in parts[1:]]
    state = tuple(parts) if is_tuple else parts[0]
    hs = [parts[0]]
    with torch.enable_grad():
        for x in xs:
            state = cell(x, state)
            h = state[0] if is_tuple else state
            h.retain_grad()
            hs.append(h)
        loss = loss_fn(hs[-1])
        if loss.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
        loss.backward()
    return torch.stack([torch.zeros(h.shape[0], dtype=h.dtype) if h.grad is None
                        else h.grad.detach().norm(dim=-1) for h in hs])


def log_slope(values: Sequence[float] | torch.Tensor) -> float:
    """Least-squares slope of ln(values[i]) against i = 0, 1, ...: the per-step growth rate."""
    y = torch.as_tensor(values, dtype=torch.float64).flatten()
    if y.numel() < 2:
        raise ValueError(f"need at least 2 values to fit a slope, got {y.numel()}")
    if not bool((y > 0).all()) or not bool(torch.isfinite(y).all()):
        raise ValueError("values must be positive and finite (their logarithm is fitted); "
                         f"got min {y.min().item():.3g}")
    i = torch.arange(y.numel(), dtype=torch.float64)
    i_c, log_c = i - i.mean(), y.log() - y.log().mean()
    return float((i_c @ log_c) / (i_c @ i_c))


def total_norm(tensors: Iterable[torch.Tensor | None]) -> float:
    """Euclidean norm of all tensors stacked into one vector ||g|| (Nones skipped)."""
    if isinstance(tensors, torch.Tensor):
        tensors = [tensors]
    squares = [float(t.detach().double().pow(2).sum()) for t in tensors if t is not None]
    return math.sqrt(sum(squares))


def clip_by_norm(tensors: Sequence[torch.Tensor], max_norm: float, eps: float = 1e-6
                 ) -> tuple[list[torch.Tensor], float]:
    """Copies of the tensors times min(1, c / (||g|| + eps)), and ||g|| (Eq. eq-bptt-clip).

    ``eps = 1e-6`` reproduces ``torch.nn.utils.clip_grad_norm_``; ``eps = 0`` is the exact
    formula of the book, under which the clipped norm is min(||g||, c).
    """
    if isinstance(tensors, torch.Tensor):
        raise TypeError("tensors must be a sequence of tensors; wrap a single one: [g]")
    if not max_norm > 0 or not math.isfinite(max_norm):
        raise ValueError(f"max_norm must be a positive finite number, got {max_norm!r}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    norm = total_norm(tensors)
    if norm == 0.0:
        return [t.detach().clone() for t in tensors], 0.0
    scale = min(1.0, max_norm / (norm + eps))
    return [t.detach() * scale for t in tensors], norm
