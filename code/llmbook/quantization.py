"""Symmetric integer quantization of weight matrices (section 8.2).

A matrix W is stored as small integers q and a scale s, W ~ q s (Eq. eq-inf-quant).
Per-channel quantization gives every output row its own scale; per-tensor uses one
scale for the whole matrix. ``quantize_model`` returns a copy of a model whose weight
matrices are replaced by their dequantized values ("fake quantization"), so that the
effect of the rounding on the loss can be measured with the ordinary float code.
"""
from __future__ import annotations

import copy
import io
import math
from dataclasses import dataclass

import torch
import torch.nn as nn

__all__ = ["QuantizedTensor", "LayerError", "quantize", "quantize_model", "state_dict_nbytes"]


@dataclass
class QuantizedTensor:
    """Integers q (int8) and scales s with W ~ q s; s has shape (rows, 1) or ()."""

    q: torch.Tensor
    scale: torch.Tensor
    bits: int

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The approximation q s of the original matrix."""
        return (self.q.double() * self.scale.double()).to(dtype)

    @property
    def nbytes(self) -> int:
        """Storage: bits per integer (packed) plus a float32 per scale."""
        return math.ceil(self.q.numel() * self.bits / 8) + 4 * self.scale.numel()


@dataclass
class LayerError:
    """How well one weight matrix survives quantization."""

    name: str
    shape: tuple[int, ...]
    max_error: float  # max |w - q s|
    bound: float  # max over rows of s / 2 (Eq. eq-inf-quant-bound)
    rel_error: float  # ||W - Q S||_F / ||W||_F


def quantize(w: torch.Tensor, bits: int = 8, per_channel: bool = True) -> QuantizedTensor:
    """Symmetric quantization q = round(w / s), s = max|w| / (2^(bits-1) - 1) (Eq. eq-inf-quant).

    per_channel: one scale per row (output channel of a Linear, token of an Embedding).
    """
    if not isinstance(w, torch.Tensor) or w.dim() != 2 or not w.is_floating_point():
        raise ValueError(f"w must be a 2-D float tensor (a weight matrix), got "
                         f"{type(w).__name__} {tuple(getattr(w, 'shape', ()))}")
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise ValueError(f"bits must be an int in [2, 8] (stored in int8), got {bits!r}")
    if not torch.isfinite(w).all():
        raise ValueError("w contains inf or NaN; quantize a trained, finite matrix")
    qmax = 2 ** (bits - 1) - 1
    w64 = w.detach().double()
    amax = w64.abs().amax(dim=1, keepdim=True) if per_channel else w64.abs().amax()
    scale = (amax / qmax).float()  # stored in float32
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row: any scale
    q = torch.round(w64 / scale.double()).clamp(-qmax, qmax).to(torch.int8)
    return QuantizedTensor(q=q, scale=scale, bits=bits)


def _weight_matrices(model: nn.Module, include_embeddings: bool) -> list[tuple[str, nn.Parameter]]:
    """(name, weight) of every Linear (and Embedding) in the model, a tied matrix once."""
    seen, out = set(), []
    kinds = (nn.Linear, nn.Embedding) if include_embeddings else (nn.Linear,)
    for name, module in model.named_modules():
        if isinstance(module, kinds) and id(module.weight) not in seen:
            seen.add(id(module.weight))
            out.append((f"{name}.weight", module.weight))
    return out


def quantize_model(model: nn.Module, bits: int = 8, per_channel: bool = True,
                   include_embeddings: bool = True) -> tuple[nn.Module, list[LayerError]]:
    """A copy of model with every weight matrix replaced by its quantized value, and the errors.

    Biases and LayerNorm parameters stay in float32. A weight shared by two modules
    (the tied embedding and output layer) is quantized once, per row.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    fq = copy.deepcopy(model)
    matrices = _weight_matrices(fq, include_embeddings)
    if not matrices:
        raise ValueError("the model has no nn.Linear or nn.Embedding weights to quantize")
    report = []
    with torch.no_grad():
        for name, w in matrices:
            qt = quantize(w, bits, per_channel)
            err = w.double() - qt.q.double() * qt.scale.double()
            report.append(LayerError(name, tuple(w.shape), float(err.abs().max()),
                                     float(qt.scale.max()) / 2,
                                     float(err.norm() / w.double().norm())))
            w.copy_(qt.dequantize(w.dtype))
    return fq, report


def state_dict_nbytes(model: nn.Module) -> int:
    """Bytes of torch.save(model.state_dict()): the size of the model on disk."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes
