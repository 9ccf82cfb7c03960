"""A GPT-2-style decoder-only Transformer, small enough to train on a laptop CPU.

The layout follows GPT-2 (pre-norm blocks, learned positions, GELU MLP of width 4d,
output head tied to the token embedding), so that its parameter count is exactly
the formula derived in chapter 2 (Eq. eq-scale-param-count). Chapter 3 builds each piece
(attention, masks, blocks) from scratch and proves it equal to PyTorch's own. Section 8.2
adds a KV cache for generation (GPT.forward_with_cache, GPT.generate_with_cache).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["GPTConfig", "GPT", "KVCache", "check_targets", "count_parameters",
           "param_count_formula", "generation_flops", "kv_cache_numel"]

# Per layer, the keys and values of every position seen so far: (B, nh, t, hs) each.
KVCache = list[tuple[torch.Tensor, torch.Tensor]]


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


def _attend_with_cache(attn: CausalSelfAttention, x: torch.Tensor,
                       past: tuple[torch.Tensor, torch.Tensor] | None
                       ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Causal attention of t new positions x (B, t, C) over the cached keys/values and their own."""
    B, t, C = x.shape
    q, k, v = attn.c_attn(x).split(C, dim=2)
    # (B, t, C) -> (B, nh, t, hs)
    q, k, v = (z.view(B, t, attn.n_head, C // attn.n_head).transpose(1, 2) for z in (q, k, v))
    if past is not None:
        k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # (B, nh, s, hs)
    s = k.shape[2]
    mask, causal = None, False
    if past is None:
        causal = t > 1  # no cache: the same call as CausalSelfAttention.forward
    elif t > 1:  # new query i sits at position s - t + i and sees keys 0 .. s - t + i
        mask = torch.ones(t, s, dtype=torch.bool, device=x.device).tril(diagonal=s - t)
    y = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=causal,
        dropout_p=attn.dropout if attn.training else 0.0,
    )
    y = y.transpose(1, 2).contiguous().view(B, t, C)  # (B, nh, t, hs) -> (B, t, C)
    return attn.resid_dropout(attn.c_proj(y)), (k, v)


def _block_with_cache(block: Block, x: torch.Tensor,
                      past: tuple[torch.Tensor, torch.Tensor] | None
                      ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Block.forward for new positions only, reading and extending one layer's cache."""
    a, kv = _attend_with_cache(block.attn, block.ln_1(x), past)
    x = x + a
    return x + block.mlp(block.ln_2(x)), kv


def check_targets(idx: torch.Tensor, targets) -> None:
    """Targets of a language model: a tensor of token ids with the shape (B, T) of ``idx``."""
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a tensor of token ids of shape (B, T) like idx, "
                        f"got {type(targets).__name__}; build one with torch.tensor(...)")
    if targets.shape != idx.shape:
        raise ValueError(f"targets have shape {tuple(targets.shape)} but idx has {tuple(idx.shape)}")


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
            check_targets(idx, targets)
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
        self._check_generate_args(idx, max_new_tokens, temperature)
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


    def forward_with_cache(
        self, idx: torch.Tensor, past_kv: KVCache | None = None
    ) -> tuple[torch.Tensor, KVCache]:
        """Logits (B, t, V) of new tokens idx (B, t) after the cached ones, and the grown cache.

        Only the new positions are computed; their keys and values are appended to the
        cache (Eq. eq-inf-cached-flops). Positions must stay below block_size.
        """
        self._check_ids(idx, "idx")
        B, t = idx.shape
        past_len = self._check_cache(past_kv, B)
        if t == 0:
            raise ValueError("idx has no new tokens (shape (B, 0)); pass at least one token")
        if past_len + t > self.config.block_size:
            raise ValueError(
                f"the cache holds {past_len} positions and idx adds {t}: {past_len + t} exceeds "
                f"block_size={self.config.block_size}, the number of position embeddings; "
                "beyond it use generate_with_cache (it falls back to a sliding window)"
            )
        pos = torch.arange(past_len, past_len + t, device=idx.device)  # absolute positions
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, t, d)
        cache: KVCache = []
        for i, block in enumerate(self.h):
            x, kv = _block_with_cache(block, x, None if past_kv is None else past_kv[i])
            cache.append(kv)
        return self.lm_head(self.ln_f(x)), cache

    def _check_cache(self, past_kv: KVCache | None, batch: int) -> int:
        """Length of a valid cache for a batch of `batch` sequences (0 for None)."""
        if past_kv is None:
            return 0
        L = self.config.n_layer
        if not isinstance(past_kv, (list, tuple)) or len(past_kv) != L:
            raise ValueError(f"past_kv must be the list of {L} (keys, values) pairs returned by "
                             "forward_with_cache, or None to start a new cache")
        k = past_kv[0][0]
        nh, hs = self.config.n_head, self.config.n_embd // self.config.n_head
        if k.dim() != 4 or k.shape[0] != batch or k.shape[1] != nh or k.shape[3] != hs:
            raise ValueError(f"past_kv holds keys of shape {tuple(k.shape)}, expected "
                             f"({batch}, {nh}, t, {hs}) for a batch of {batch}; use the cache "
                             "of the same sequences")
        return k.shape[2]

    @torch.no_grad()
    def generate_with_cache(
        self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The tokens generate() gives, computing each step from a KV cache (Eq. eq-inf-ratio).

        A cache is only valid while the whole sequence fits in block_size: generate() then
        slides its window, which shifts every position. From that step on this method
        recomputes the last block_size tokens without a cache, exactly like generate().
        """
        self._check_generate_args(idx, max_new_tokens, temperature)
        T = self.config.block_size
        cache = None
        for _ in range(max_new_tokens):
            if idx.shape[1] > T:  # the window slides: a cache cannot follow, recompute
                cache = None
                logits, _ = self(idx[:, -T:])
            elif cache is None:  # prefill: the whole prompt at once
                logits, cache = self.forward_with_cache(idx)
            else:  # one new token, attending to the cached ones
                logits, cache = self.forward_with_cache(idx[:, -1:], cache)
            logits = logits[:, -1, :]
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                probs = F.softmax(logits / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)
            idx = torch.cat([idx, nxt], dim=1)
        return idx

    def _check_generate_args(self, idx: torch.Tensor, max_new_tokens: int,
                             temperature: float) -> None:
        """Check the arguments of generate() and generate_with_cache() (helpful errors)."""
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


def generation_flops(cfg: GPTConfig, prompt_len: int, max_new_tokens: int,
                     use_cache: bool) -> int:
    """Matrix-multiply FLOPs of generating max_new_tokens tokens (Eqs. eq-inf-full-flops and
    eq-inf-cached-flops).

    Counts as chapter 2 does (Eq. eq-scale-flops-exact): 2 per multiply-add, full T x T
    attention scores, output layer at every computed position. The sequence must fit in
    block_size (prompt_len + max_new_tokens - 1 <= block_size).
    """
    for name, value in (("prompt_len", prompt_len), ("max_new_tokens", max_new_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if prompt_len + max_new_tokens - 1 > cfg.block_size:
        raise ValueError(f"prompt_len + max_new_tokens - 1 = {prompt_len + max_new_tokens - 1} "
                         f"exceeds block_size={cfg.block_size}; the formula assumes no sliding "
                         "window")
    L, d, V = cfg.n_layer, cfg.n_embd, cfg.vocab_size
    per_token = 2 * (12 * L * d * d + V * d)  # weight matrices and the tied output layer
    total = 0
    for t in range(prompt_len, prompt_len + max_new_tokens):  # t = context length of this step
        if use_cache and t > prompt_len:  # one new position attends to t keys
            total += per_token + 4 * L * t * d
        else:  # all t positions: t (per_token + 4 L t d), full t x t scores
            total += t * (per_token + 4 * L * t * d)
    return total


def kv_cache_numel(cfg: GPTConfig, length: int, batch: int = 1) -> int:
    """Numbers stored in the KV cache of `batch` sequences of `length` tokens: 2 B L t d."""
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= cfg.block_size:
        raise ValueError(f"length must be an int in [0, block_size={cfg.block_size}], "
                         f"got {length!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    return 2 * batch * cfg.n_layer * length * cfg.n_embd
