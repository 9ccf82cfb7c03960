"""The encoder-decoder Transformer of Vaswani et al. (2017), from scratch (chapter 3.2).

Batch-first throughout: token ids (B, T), activations (B, T, d). Masks are bool with
True = "may attend" (see ``llmbook.attention``). The layers keep PyTorch's sub-module names
(``self_attn``, ``norm1`` ...) except that the feed-forward network is its own module ``ffn``
and the decoder's cross-attention is ``cross_attn``; ``convert_torch_state_dict`` renames the
keys of a ``torch.nn.TransformerEncoderLayer`` / ``TransformerDecoderLayer`` / ``TransformerEncoder``
/ ``TransformerDecoder`` state dict, and ``EncoderLayer.from_torch`` / ``DecoderLayer.from_torch``
build exact copies of PyTorch's layers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmbook.attention import MultiHeadAttention, causal_mask, combine_masks, padding_mask
from llmbook.positional import sinusoidal_encoding

__all__ = ["ACTIVATIONS", "PositionwiseFeedForward", "EncoderLayer", "DecoderLayer", "Encoder",
           "Decoder", "TransformerConfig", "AttentionWeights", "Transformer",
           "convert_torch_state_dict"]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": F.relu, "gelu": F.gelu}
_TORCH_RENAMES = {"linear1": "ffn.linear1", "linear2": "ffn.linear2", "multihead_attn": "cross_attn"}


def convert_torch_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the keys of a PyTorch Transformer layer/stack state dict to llmbook's names."""
    return {".".join(_TORCH_RENAMES.get(part, part) for part in key.split(".")): value
            for key, value in state_dict.items()}


def _check_positive(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


class PositionwiseFeedForward(nn.Module):
    """FFN(x) = W_2 act(W_1 x + b_1) + b_2 at every position, d -> d_ff -> d, Eq. (eq-tf-ffn)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu",
                 bias: bool = True):
        super().__init__()
        _check_positive(d_model=d_model, d_ff=d_ff)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., d) -> (..., d)."""
        return self.linear2(self.dropout(ACTIVATIONS[self.activation](self.linear1(x))))


class _Layer(nn.Module):
    """Shared parts of the encoder and decoder layers: sublayers with residual + LayerNorm."""

    def __init__(self, n_sublayers: int, d_model: int, n_heads: int, d_ff: int, dropout: float,
                 activation: str, norm_first: bool, eps: float, bias: bool):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, bias)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout, activation, bias)
        for i in range(1, n_sublayers + 1):
            setattr(self, f"norm{i}", nn.LayerNorm(d_model, eps=eps, bias=bias))
            setattr(self, f"dropout{i}", nn.Dropout(dropout))

    def _sublayer(self, x: torch.Tensor, i: int, fn) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Post-norm LN(x + F(x)) or pre-norm x + F(LN(x)), Eq. (eq-tf-postnorm) / (eq-tf-prenorm)."""
        norm, drop = getattr(self, f"norm{i}"), getattr(self, f"dropout{i}")
        y, w = fn(norm(x) if self.norm_first else x)
        return (x + drop(y), w) if self.norm_first else (norm(x + drop(y)), w)

    @classmethod
    def from_torch(cls, layer: nn.Module):
        """An exact copy of PyTorch's counterpart layer (sizes, options and weights)."""
        if not isinstance(layer, cls._torch_class):
            raise TypeError(f"expected {cls._torch_class.__name__}, got {type(layer).__name__}")
        act = layer.activation
        name = next((n for n, f in ACTIVATIONS.items()
                     if act is f or type(act).__name__.lower() == n), None)
        if name is None:
            raise ValueError(f"unsupported activation {act!r}; use 'relu' or 'gelu'")
        ours = cls(layer.self_attn.embed_dim, layer.self_attn.num_heads, layer.linear1.out_features,
                   layer.dropout.p, name, layer.norm_first, layer.norm1.eps,
                   layer.linear1.bias is not None)
        ours.load_state_dict(convert_torch_state_dict(layer.state_dict()))
        return ours.to(layer.linear1.weight.dtype)


class EncoderLayer(_Layer):
    """Self-attention then FFN, each with residual + LayerNorm (post- or pre-norm), Eq. (eq-tf-enc-layer)."""

    _torch_class = nn.TransformerEncoderLayer

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 activation: str = "relu", norm_first: bool = False, eps: float = 1e-5,
                 bias: bool = True):
        super().__init__(2, d_model, n_heads, d_ff, dropout, activation, norm_first, eps, bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, need_weights: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x (B, S, d), mask broadcastable to (B, S, S) -> (B, S, d) [, weights (B, h, S, S)]."""
        x, w = self._sublayer(x, 1, lambda h: self.self_attn(h, h, h, mask, need_weights))
        x, _ = self._sublayer(x, 2, lambda h: (self.ffn(h), None))
        return (x, w) if need_weights else x


class DecoderLayer(_Layer):
    """Masked self-attention, cross-attention to the memory, FFN; Eq. (eq-tf-dec-layer)."""

    _torch_class = nn.TransformerDecoderLayer

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 activation: str = "relu", norm_first: bool = False, eps: float = 1e-5,
                 bias: bool = True):
        super().__init__(3, d_model, n_heads, d_ff, dropout, activation, norm_first, eps, bias)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout, bias)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, self_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None, need_weights: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, d), memory (B, S, d); masks broadcastable to (B, T, T) and (B, T, S).

        Returns (B, T, d), and with ``need_weights`` also the self- and cross-attention
        weights (B, h, T, T) and (B, h, T, S).
        """
        x, w_self = self._sublayer(x, 1, lambda h: self.self_attn(h, h, h, self_mask, need_weights))
        x, w_cross = self._sublayer(
            x, 2, lambda h: self.cross_attn(h, memory, memory, memory_mask, need_weights))
        x, _ = self._sublayer(x, 3, lambda h: (self.ffn(h), None))
        return (x, w_self, w_cross) if need_weights else x


class _Stack(nn.Module):
    def __init__(self, layer_cls: type, n_layers: int, d_model: int, n_heads: int, d_ff: int,
                 dropout: float, activation: str, norm_first: bool, eps: float, bias: bool):
        super().__init__()
        _check_positive(n_layers=n_layers)
        self.layers = nn.ModuleList(
            layer_cls(d_model, n_heads, d_ff, dropout, activation, norm_first, eps, bias)
            for _ in range(n_layers))
        # pre-norm leaves the residual stream un-normalised: normalise it once at the end
        self.norm = nn.LayerNorm(d_model, eps=eps, bias=bias) if norm_first else None

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) if self.norm is not None else x


class Encoder(_Stack):
    """n_layers EncoderLayers (+ a final LayerNorm when pre-norm), like nn.TransformerEncoder."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 activation: str = "relu", norm_first: bool = False, eps: float = 1e-5,
                 bias: bool = True):
        super().__init__(EncoderLayer, n_layers, d_model, n_heads, d_ff, dropout, activation,
                         norm_first, eps, bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, need_weights: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, S, d) -> memory (B, S, d) [, one (B, h, S, S) weight tensor per layer]."""
        weights = []
        for layer in self.layers:
            x = layer(x, mask, need_weights)
            if need_weights:
                x, w = x
                weights.append(w)
        x = self._finish(x)
        return (x, weights) if need_weights else x


class Decoder(_Stack):
    """n_layers DecoderLayers, each attending to the same (final) encoder output."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 activation: str = "relu", norm_first: bool = False, eps: float = 1e-5,
                 bias: bool = True):
        super().__init__(DecoderLayer, n_layers, d_model, n_heads, d_ff, dropout, activation,
                         norm_first, eps, bias)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, self_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None, need_weights: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """(B, T, d), memory (B, S, d) -> (B, T, d) [, self- and cross-attention weights per layer]."""
        w_self, w_cross = [], []
        for layer in self.layers:
            x = layer(x, memory, self_mask, memory_mask, need_weights)
            if need_weights:
                x, ws, wc = x
                w_self.append(ws)
                w_cross.append(wc)
        x = self._finish(x)
        return (x, w_self, w_cross) if need_weights else x


@dataclass
class TransformerConfig:
    """Hyper-parameters of ``Transformer``; the defaults are the base model of Vaswani et al."""

    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 512
    n_heads: int = 8
    n_layers: int = 6
    d_ff: int = 2048
    dropout: float = 0.1
    max_len: int = 256  # longest source or target sequence (rows of the positional table)
    norm_first: bool = False  # False: post-norm as in the paper; True: pre-norm
    pad_id: int | None = 0  # None: the inputs are never padded, no padding masks
    n_encoder_layers: int | None = None  # None: n_layers
    n_decoder_layers: int | None = None  # None: n_layers
    activation: str = "relu"
    eps: float = 1e-5
    bias: bool = True

    def __post_init__(self) -> None:
        _check_positive(src_vocab_size=self.src_vocab_size, tgt_vocab_size=self.tgt_vocab_size,
                        d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers,
                        d_ff=self.d_ff, max_len=self.max_len)
        for name in ("n_encoder_layers", "n_decoder_layers"):
            if getattr(self, name) is not None:
                _check_positive(**{name: getattr(self, name)})
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.d_model % 2:
            raise ValueError(f"d_model must be even for the sinusoidal encoding, got {self.d_model}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.pad_id is not None and not 0 <= self.pad_id < min(self.src_vocab_size,
                                                                  self.tgt_vocab_size):
            raise ValueError(f"pad_id={self.pad_id} must be a valid id in both vocabularies "
                             f"(< {min(self.src_vocab_size, self.tgt_vocab_size)}), or None")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")


class AttentionWeights(NamedTuple):
    """Per-layer attention weights: encoder (B, h, S, S), decoder_self (B, h, T, T), cross (B, h, T, S)."""

    encoder: list[torch.Tensor]
    decoder_self: list[torch.Tensor]
    cross: list[torch.Tensor]


class Transformer(nn.Module):
    """Encoder-decoder Transformer: embeddings * sqrt(d) + sinusoidal positions, Eq. (eq-tf-embed),
    an Encoder, a Decoder that cross-attends to the final encoder output, and a linear output layer.

    ``forward(src, tgt_in)`` returns next-token logits (B, T, tgt_vocab_size). Padding masks come
    from ``pad_id``; the decoder's self-attention is also causal. Train with teacher forcing
    (tgt_in = <bos> y_1 ... y_{n}, targets y_1 ... y_n <eos>) and cross-entropy with
    ``ignore_index=pad_id``; generate with ``greedy_decode`` (call ``model.eval()`` first).
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 512,
                 n_heads: int = 8, n_layers: int = 6, d_ff: int = 2048, dropout: float = 0.1,
                 max_len: int = 256, norm_first: bool = False, pad_id: int | None = 0, *,
                 n_encoder_layers: int | None = None, n_decoder_layers: int | None = None,
                 activation: str = "relu", eps: float = 1e-5, bias: bool = True):
        super().__init__()
        cfg = self.config = TransformerConfig(
            src_vocab_size, tgt_vocab_size, d_model, n_heads, n_layers, d_ff, dropout, max_len,
            norm_first, pad_id, n_encoder_layers, n_decoder_layers, activation, eps, bias)
        layer_args = (d_model, n_heads, d_ff, dropout, activation, norm_first, eps, bias)
        self.src_embed = nn.Embedding(src_vocab_size, d_model)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_model)
        for emb in (self.src_embed, self.tgt_embed):  # sqrt(d) * embedding has unit variance
            nn.init.normal_(emb.weight, std=d_model ** -0.5)
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.encoder = Encoder(cfg.n_encoder_layers or n_layers, *layer_args)
        self.decoder = Decoder(cfg.n_decoder_layers or n_layers, *layer_args)
        self.lm_head = nn.Linear(d_model, tgt_vocab_size, bias=bias)

    @classmethod
    def from_config(cls, cfg: TransformerConfig) -> "Transformer":
        """Build a Transformer from a TransformerConfig."""
        return cls(**vars(cfg))

    def _embed(self, ids: torch.Tensor, table: nn.Embedding, name: str) -> torch.Tensor:
        if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype.is_floating_point:
            raise ValueError(f"{name} must be integer token ids of shape (B, T), got "
                             f"{getattr(ids, 'shape', type(ids).__name__)}")
        T = ids.shape[1]
        if not 1 <= T <= self.config.max_len:
            raise ValueError(f"{name} has length {T}; it must be in [1, max_len={self.config.max_len}]")
        if int(ids.min()) < 0 or int(ids.max()) >= table.num_embeddings:
            raise ValueError(f"{name} ids must lie in [0, {table.num_embeddings}), got min "
                             f"{int(ids.min())} and max {int(ids.max())}")
        x = table(ids) * math.sqrt(self.config.d_model) + self.pe[:T]  # (B, T, d)
        return self.dropout(x)

    def src_mask(self, src: torch.Tensor) -> torch.Tensor | None:
        """(B, 1, S): True at real source tokens (None when pad_id is None)."""
        return None if self.config.pad_id is None else padding_mask(src, self.config.pad_id)

    def tgt_mask(self, tgt: torch.Tensor) -> torch.Tensor:
        """(B, T, T): causal AND not padding, Eq. (eq-tf-causal)."""
        pad = None if self.config.pad_id is None else padding_mask(tgt, self.config.pad_id)
        return combine_masks(causal_mask(tgt.shape[1], tgt.device), pad)

    def encode(self, src: torch.Tensor, need_weights: bool = False
               ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Source ids (B, S) -> memory (B, S, d) [, encoder self-attention weights per layer]."""
        return self.encoder(self._embed(src, self.src_embed, "src"), self.src_mask(src), need_weights)

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor,
               memory_mask: torch.Tensor | None = None, need_weights: bool = False):
        """Target ids (B, T) and memory (B, S, d) -> logits (B, T, V) [, self/cross weights per layer].

        ``memory_mask`` is ``model.src_mask(src)`` (None only if the source has no padding).
        """
        x = self._embed(tgt_in, self.tgt_embed, "tgt_in")
        if memory.dim() != 3 or memory.shape[0] != x.shape[0] or memory.shape[2] != x.shape[2]:
            raise ValueError(f"memory must have shape (B={x.shape[0]}, S, d={x.shape[2]}), "
                             f"got {tuple(memory.shape)}")
        out = self.decoder(x, memory, self.tgt_mask(tgt_in), memory_mask, need_weights)
        if need_weights:
            return self.lm_head(out[0]), out[1], out[2]
        return self.lm_head(out)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Source ids (B, S), target input ids (B, T) -> next-token logits (B, T, tgt_vocab_size)."""
        if src.dim() == 2 and tgt_in.dim() == 2 and src.shape[0] != tgt_in.shape[0]:
            raise ValueError(f"src and tgt_in must have the same batch size, got {src.shape[0]} "
                             f"and {tgt_in.shape[0]}")
        return self.decode(tgt_in, self.encode(src), self.src_mask(src))

    def attention_weights(self, src: torch.Tensor, tgt_in: torch.Tensor) -> AttentionWeights:
        """All attention weights of one forward pass (for heat maps)."""
        memory, w_enc = self.encode(src, need_weights=True)
        _, w_self, w_cross = self.decode(tgt_in, memory, self.src_mask(src), need_weights=True)
        return AttentionWeights(w_enc, w_self, w_cross)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, bos_id: int, eos_id: int, max_len: int
                      ) -> torch.Tensor:
        """Pick the most probable next token, up to max_len tokens after <bos>.

        Returns ids (B, 1 + n), n <= max_len, each row starting with ``bos_id``; after a row's
        ``eos_id`` the rest is ``pad_id`` (``eos_id`` if pad_id is None). Stops early once every
        row has produced ``eos_id``. The source is encoded once.
        """
        V = self.config.tgt_vocab_size
        for name, i in (("bos_id", bos_id), ("eos_id", eos_id)):
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < V:
                raise ValueError(f"{name} must be an int in [0, {V}), got {i!r}")
        if isinstance(max_len, bool) or not isinstance(max_len, int) or not 1 <= max_len <= self.config.max_len:
            raise ValueError(f"max_len must be an int in [1, {self.config.max_len}], got {max_len!r}")
        memory, memory_mask = self.encode(src), self.src_mask(src)
        fill = eos_id if self.config.pad_id is None else self.config.pad_id
        out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            nxt = self.decode(out, memory, memory_mask)[:, -1].argmax(dim=-1)  # (B,)
            nxt = torch.where(done, torch.full_like(nxt, fill), nxt)
            out = torch.cat([out, nxt.unsqueeze(1)], dim=1)
            done |= nxt == eos_id
            if bool(done.all()):
                break
        return out
