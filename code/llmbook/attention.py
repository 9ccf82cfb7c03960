"""Scaled dot-product attention, boolean masks and multi-head attention (chapter 3.2).

Mask convention, everywhere in llmbook: a BOOLEAN mask with ``True`` = "this query may attend
to this key", broadcastable to the scores' shape ``(..., T_q, T_k)``. This is the convention of
``torch.nn.functional.scaled_dot_product_attention`` (``attn_mask``), and the OPPOSITE of
``torch.nn.MultiheadAttention`` / ``nn.Transformer*Layer``, whose boolean ``attn_mask`` and
``key_padding_mask`` mark the positions that may NOT be attended (pass ``~mask`` there).

A query whose row of the mask is all ``False`` (a fully masked row) gets attention weights that
are all zero and an output of zeros, never NaN: there is nothing to average, and a zero vector
added to a residual stream leaves it unchanged. PyTorch 2.13's ``scaled_dot_product_attention``
returns the same zeros; its ``nn.MultiheadAttention`` returns NaN on some code paths.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["masked_softmax", "scaled_dot_product_attention", "causal_mask", "padding_mask",
           "combine_masks", "MultiHeadAttention"]


def _check_mask(mask: torch.Tensor, shape: torch.Size, what: str = "scores") -> None:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a bool torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must have dtype torch.bool (True = may attend), got {mask.dtype}; "
                        "for an additive float mask m use (m == 0)")
    try:
        ok = mask.dim() <= len(shape) and torch.broadcast_shapes(mask.shape, shape) == shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"mask has shape {tuple(mask.shape)} but the {what} have shape "
                         f"{tuple(shape)}; pass a mask broadcastable to it, e.g. (T_q, T_k) "
                         "or (B, 1, T_k)")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last dim restricted to mask == True; a fully masked row gives zeros."""
    if mask is not None:
        _check_mask(mask, scores.shape)
        scores = scores.masked_fill(~mask, float("-inf"))
    row_max = scores.amax(dim=-1, keepdim=True)
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    e = torch.exp(scores - row_max)  # exp(-inf) = 0 at masked positions
    denom = e.sum(dim=-1, keepdim=True)  # >= 1 unless the whole row is masked, then 0
    return e / torch.where(denom > 0, denom, torch.ones_like(denom))


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
    dropout_p: float = 0.0, *, scale: float | None = None,
    generator: torch.Generator | None = None, return_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d_k)) V, Eq. (eq-tf-attention), with a bool mask (True = may attend).

    q (..., T_q, d_k), k (..., T_k, d_k), v (..., T_k, d_v) -> (..., T_q, d_v). Dropout with
    probability ``dropout_p`` is applied to the weights (pass 0.0 in evaluation, as with torch's
    function). With ``return_weights`` also returns the weights (..., T_q, T_k) before dropout.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() < 2:
            raise ValueError(f"{name} must be a tensor of shape (..., T, d) with at least 2 dims, "
                             f"got {getattr(t, 'shape', type(t).__name__)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same last dimension d_k, got q {tuple(q.shape)} "
                         f"and k {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of positions T_k, got k "
                         f"{tuple(k.shape)} and v {tuple(v.shape)}")
    if not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        raise ValueError(f"q, k, v must have the same batch dimensions, got {tuple(q.shape[:-2])}, "
                         f"{tuple(k.shape[:-2])}, {tuple(v.shape[:-2])}")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p!r}")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., T_q, T_k)
    weights = masked_softmax(scores, mask)
    attn = weights
    if dropout_p > 0.0:
        keep = torch.rand(weights.shape, generator=generator, device=weights.device) >= dropout_p
        attn = weights * keep / (1.0 - dropout_p)
    out = attn @ v  # (..., T_q, d_v)
    return (out, weights) if return_weights else out


def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, T) bool mask, True where key j <= query i: position i sees only the past, Eq. (eq-tf-causal)."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def padding_mask(x: torch.Tensor, pad_id: int | None = None, *, max_len: int | None = None
                 ) -> torch.Tensor:
    """(B, 1, T) bool mask, True at real (non-pad) key positions.

    ``x`` is either token ids (B, T) with ``pad_id`` given, or lengths (B,) with ``pad_id=None``
    (then T = ``max_len``, default ``lengths.max()``; padding is on the right). The middle
    dimension of size 1 broadcasts over the queries.
    """
    if not isinstance(x, torch.Tensor) or x.dtype.is_floating_point or x.dtype == torch.bool:
        raise TypeError(f"x must be an integer tensor of token ids (B, T) or lengths (B,), got "
                        f"{getattr(x, 'dtype', type(x).__name__)}")
    if pad_id is not None:
        if x.dim() != 2:
            raise ValueError(f"with pad_id, x must be token ids of shape (B, T), got "
                             f"{tuple(x.shape)}; to build the mask from lengths pass pad_id=None")
        return (x != pad_id).unsqueeze(1)
    if x.dim() != 1:
        raise ValueError(f"without pad_id, x must be lengths of shape (B,), got {tuple(x.shape)}; "
                         "for token ids pass pad_id=...")
    if x.numel() and int(x.min()) < 0:
        raise ValueError(f"lengths must be >= 0, got min {int(x.min())}")
    longest = int(x.max()) if x.numel() else 0
    T = longest if max_len is None else max_len
    if isinstance(T, bool) or not isinstance(T, int) or T < longest:
        raise ValueError(f"max_len must be an int >= the longest length {longest}, got {max_len!r}")
    return (torch.arange(T, device=x.device) < x.unsqueeze(1)).unsqueeze(1)


def combine_masks(*masks: torch.Tensor | None) -> torch.Tensor | None:
    """Logical AND of bool masks, broadcast together; None entries are skipped (None if all are)."""
    present = [m for m in masks if m is not None]
    for m in present:
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
            raise TypeError(f"masks must be bool tensors (True = may attend), got "
                            f"{getattr(m, 'dtype', type(m).__name__)}")
    if not present:
        return None
    out = present[0]
    for m in present[1:]:
        try:
            out = out & m
        except RuntimeError:
            raise ValueError(f"masks of shapes {tuple(out.shape)} and {tuple(m.shape)} do not "
                             "broadcast together") from None
    return out


class MultiHeadAttention(nn.Module):
    """h heads of Eq. (eq-tf-attention) on projections of width d/h, concatenated, Eq. (eq-tf-mha).

    Parameters use ``torch.nn.MultiheadAttention``'s layout and names (``in_proj_weight`` (3d, d)
    stacking W_Q, W_K, W_V; ``in_proj_bias``; ``out_proj``), so its ``state_dict`` loads as is
    (see ``from_torch``). Inputs are batch-first (B, T, d). The mask is bool, True = may attend,
    broadcastable to (B, T_q, T_k) and shared by all heads.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        for name, value in (("d_model", d_model), ("n_heads", n_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}; "
                             "each head gets d_model // n_heads dimensions")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.d_model, self.n_heads, self.d_head, self.dropout = d_model, n_heads, d_model // n_heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model)) if bias else None
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        nn.init.xavier_uniform_(self.in_proj_weight)  # the same initialisation as torch
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> "MultiHeadAttention":
        """A copy of a ``torch.nn.MultiheadAttention`` (same size, dropout, bias and weights)."""
        if not isinstance(module, nn.MultiheadAttention):
            raise TypeError(f"expected torch.nn.MultiheadAttention, got {type(module).__name__}")
        if not module._qkv_same_embed_dim or module.bias_k is not None:
            raise ValueError("only modules with kdim = vdim = embed_dim and add_bias_kv=False "
                             "have a counterpart here")
        ours = cls(module.embed_dim, module.num_heads, module.dropout, module.in_proj_bias is not None)
        ours.load_state_dict(module.state_dict())
        return ours.to(module.in_proj_weight.dtype)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape  # (B, T, d) -> (B, h, T, d_head)
        return x.view(B, T, self.n_heads, self.d_head).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T_q, d), (B, T_k, d), (B, T_k, d) -> output (B, T_q, d) and weights (B, h, T_q, T_k) or None."""
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.dim() != 3 or t.shape[-1] != self.d_model:
                raise ValueError(f"{name} must have shape (B, T, d_model={self.d_model}), "
                                 f"got {tuple(t.shape)}")
        if not query.shape[0] == key.shape[0] == value.shape[0]:
            raise ValueError(f"query, key, value must have the same batch size, got "
                             f"{query.shape[0]}, {key.shape[0]}, {value.shape[0]}")
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"key and value must have the same length T_k, got {key.shape[1]} "
                             f"and {value.shape[1]}")
        if mask is not None:
            _check_mask(mask, torch.Size((query.shape[0], query.shape[1], key.shape[1])),
                        "scores (B, T_q, T_k)")
            mask = mask.unsqueeze(-3)  # the same mask for every head: (..., 1, T_q, T_k)
        W_q, W_k, W_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        q = self._split(F.linear(query, W_q, b_q))  # (B, h, T_q, d_head)
        k = self._split(F.linear(key, W_k, b_k))  # (B, h, T_k, d_head)
        v = self._split(F.linear(value, W_v, b_v))
        out, weights = scaled_dot_product_attention(
            q, k, v, mask, self.dropout if self.training else 0.0, return_weights=True)
        B, _, T_q, _ = out.shape
        out = out.transpose(1, 2).reshape(B, T_q, self.d_model)  # concatenate the heads
        return self.out_proj(out), (weights if need_weights else None)
