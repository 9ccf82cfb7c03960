"""A GPT-2-style decoder-only Transformer, small enough to train on a laptop CPU.

The layout follows GPT-2 (pre-norm blocks, learned positions, GELU MLP of width 4d,
output head tied to the token embedding), so that its parameter count is exactly
the formula derived in chapter 2 (Eq. eq-scale-param-count). Chapter 3 builds each piece
(attention, masks, blocks) from scratch and proves it equal to PyTorch's own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["GPTConfig", "GPT", "count_parameters", "param_count_formula"]


@dataclass
class GPTConfig:
    """Sizes of a GPT: vocabulary V, context T, layers L, heads, width d."""

    vocab_size: int
    block_size: int = 128  # T: the longest context the model can see
    n_layer: int = 4  # L
    n_head: int = 4
    n_embd: int = 128  # d
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm layers, as in GPT-2

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}; "
                "each head gets n_embd // n_head dimensions"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t only sees positions <= t."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)  # q, k, v at once
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, nh, T, hs)
        q, k, v = (z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, nh, T, hs) -> (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward network d -> 4d -> d with GELU."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm Transformer block: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token + position embeddings, L blocks, a final LayerNorm and a tied output head."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying: one V x d matrix
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # scaled init of the residual projections (GPT-2)
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def _check_ids(self, idx: torch.Tensor, name: str) -> None:
        """Raise a helpful error unless idx is a (B, T) integer tensor of ids in [0, V)."""
        if not isinstance(idx, torch.Tensor):
            raise TypeError(f"{name} must be a tensor of token ids of shape (B, T), got "
                            f"{type(idx).__name__}; build one with torch.tensor([ids])")
        if idx.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"{name} must hold integer token ids (torch.long), got {idx.dtype}; "
                            "convert with .long()")
        if idx.dim() != 2:
            hint = "; for a single sequence use idx[None]" if idx.dim() == 1 else ""
            raise ValueError(f"{name} must have shape (B, T), got {tuple(idx.shape)}{hint}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.config.vocab_size):
            raise ValueError(
                f"{name}: token ids must lie in [0, {self.config.vocab_size}), "
                f"got min {int(idx.min())} and max {int(idx.max())}; encode text with the "
                "tokenizer the model was trained with (it maps unknown characters to <unk>)"
            )

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """Final-layer representations (B, T, d) of token ids idx (B, T)."""
        self._check_ids(idx, "idx")
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(
                f"sequence length {T} exceeds block_size={self.config.block_size}; "
                "crop the input or build the model with a larger block_size"
            )
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, d)
        for block in self.h:
            x = block(x)
        return self.ln_f(x)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Next-token logits (B, T, V) and, given targets (B, T), the mean cross-entropy loss."""
        logits = self.lm_head(self.hidden_states(idx))
        loss = None
        if targets is not None:
            if targets.shape != idx.shape:
                raise ValueError(
                    f"targets have shape {tuple(targets.shape)} but idx has {tuple(idx.shape)}"
                )
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        return logits, loss

    @torch.no_grad()
    def generate(
        self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Append max_new_tokens sampled tokens to idx (B, T); temperature 0 means greedy.

        Only the last block_size tokens of a longer prompt are seen by the model.
        """
        self._check_ids(idx, "prompt")
        if idx.shape[1] == 0:
            raise ValueError(
                f"the prompt is empty (shape {tuple(idx.shape)}): the model needs at least one "
                "token to condition on; start from <bos>, e.g. torch.full((B, 1), tokenizer.bos_id)"
            )
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
                or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not temperature >= 0 or math.isinf(temperature):
            raise ValueError(f"temperature must be >= 0 and finite (0 means greedy), "
                             f"got {temperature!r}")
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.config.block_size:])
            logits = logits[:, -1, :]
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                probs = F.softmax(logits / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)
            idx = torch.cat([idx, nxt], dim=1)
        return idx


def count_parameters(model: nn.Module) -> int:
    """Number of distinct trainable parameters (a tied matrix counts once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def param_count_formula(cfg: GPTConfig) -> int:
    """Exact parameter count of GPT(cfg): V d + T d + L (12 d^2 + 13 d) + 2 d with biases."""
    V, T, L, d = cfg.vocab_size, cfg.block_size, cfg.n_layer, cfg.n_embd
    if cfg.bias:
        per_layer = 12 * d * d + 13 * d  # attn 4d^2+4d, mlp 8d^2+5d, two LayerNorms 4d
        final_ln = 2 * d
    else:
        per_layer = 12 * d * d + 2 * d  # two LayerNorm weights only
        final_ln = d
    return V * d + T * d + L * per_layer + final_ln
