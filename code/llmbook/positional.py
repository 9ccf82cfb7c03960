"""Position information for attention: sinusoidal encodings and rotary embeddings (RoPE).

Chapter 3 uses ``sinusoidal_encoding`` in the encoder-decoder Transformer; chapter 4 proves
that both schemes encode relative position through rotations.
"""
from __future__ import annotations

import torch

__all__ = ["sinusoidal_encoding", "rope_angles", "apply_rope"]


def _check_even_dim(d: int, name: str) -> None:
    if isinstance(d, bool) or not isinstance(d, int) or d < 2 or d % 2:
        raise ValueError(f"{name} must be an even int >= 2 (dimensions come in sin/cos pairs), got {d!r}")


def _check_base(base: float) -> None:
    if not base > 1.0:
        raise ValueError(f"base must be > 1, got {base!r}")


def sinusoidal_encoding(num_positions: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """Sinusoidal table (num_positions, d_model): PE[p, 2i] = sin(p w_i), PE[p, 2i+1] = cos(p w_i).

    The frequencies are w_i = base^(-2i/d_model), as in the original Transformer.
    """
    if isinstance(num_positions, bool) or not isinstance(num_positions, int) or num_positions < 1:
        raise ValueError(f"num_positions must be a positive int, got {num_positions!r}")
    _check_even_dim(d_model, "d_model")
    _check_base(base)
    pos = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)  # (P, 1)
    freqs = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d/2,)
    angles = pos * freqs  # (P, d/2)
    pe = torch.empty(num_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.to(torch.get_default_dtype())


def rope_angles(positions: torch.Tensor, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Rotation angles (..., dim/2): position p turns pair i by p * base^(-2i/dim)."""
    _check_even_dim(dim, "dim")
    _check_base(base)
    freqs = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    return positions.to(torch.float64).unsqueeze(-1) * freqs


def apply_rope(x: torch.Tensor, positions: torch.Tensor | None = None, base: float = 10000.0) -> torch.Tensor:
    """Rotate each pair (x[..., 2i], x[..., 2i+1]) of x (..., T, dim) by its position's angle.

    ``positions`` (T,) defaults to 0, 1, ..., T-1. Applied to queries and keys, it makes
    q_m . k_n depend on the positions only through m - n (proved in chapter 4).
    """
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., T, dim), got {tuple(x.shape)}")
    T, dim = x.shape[-2], x.shape[-1]
    _check_even_dim(dim, "the last dimension of x")
    if positions is None:
        positions = torch.arange(T)
    if positions.shape != (T,):
        raise ValueError(f"positions must have shape (T,) = ({T},), got {tuple(positions.shape)}")
    angles = rope_angles(positions, dim, base)  # (T, dim/2)
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    x_even, x_odd = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x_even * cos - x_odd * sin
    out[..., 1::2] = x_even * sin + x_odd * cos
    return out
