"""Convert the book's GPT to and from Hugging Face ``transformers``' GPT-2 (section 7.2).

``llmbook.gpt.GPT`` has GPT-2's architecture, so its weights fit ``GPT2LMHeadModel`` one
for one. Three details matter (Eq. eq-hf-conv1d):

* GPT-2 stores its projections as ``Conv1D`` with weights of shape (in, out): y = x W + b,
  while ``nn.Linear`` stores (out, in): y = x A^T + b. So W = A^T.
* GPT-2's default activation ``gelu_new`` is the tanh approximation of GELU; the book uses
  the exact GELU, which is ``activation_function="gelu"`` in ``GPT2Config``.
* LayerNorm epsilon 1e-5, no dropout at inference, the output layer tied to the token
  embedding, ``n_positions`` = ``block_size``.
"""
from __future__ import annotations

import torch
import transformers

from llmbook.gpt import GPT, GPTConfig

__all__ = ["gpt2_config", "to_gpt2", "from_gpt2"]

# book parameter (per block) -> GPT-2 parameter, and whether the weight is transposed
_BLOCK = [
    ("ln_1.weight", "ln_1.weight", False), ("ln_1.bias", "ln_1.bias", False),
    ("attn.c_attn.weight", "attn.c_attn.weight", True), ("attn.c_attn.bias", "attn.c_attn.bias", False),
    ("attn.c_proj.weight", "attn.c_proj.weight", True), ("attn.c_proj.bias", "attn.c_proj.bias", False),
    ("ln_2.weight", "ln_2.weight", False), ("ln_2.bias", "ln_2.bias", False),
    ("mlp.c_fc.weight", "mlp.c_fc.weight", True), ("mlp.c_fc.bias", "mlp.c_fc.bias", False),
    ("mlp.c_proj.weight", "mlp.c_proj.weight", True), ("mlp.c_proj.bias", "mlp.c_proj.bias", False),
]
_TOP = [("wte.weight", "transformer.wte.weight"), ("wpe.weight", "transformer.wpe.weight"),
        ("ln_f.weight", "transformer.ln_f.weight"), ("ln_f.bias", "transformer.ln_f.bias")]


def _mapping(n_layer: int) -> list[tuple[str, str, bool]]:
    """(book name, GPT-2 name, transposed) for every parameter."""
    pairs = [(a, b, False) for a, b in _TOP]
    for i in range(n_layer):
        pairs += [(f"h.{i}.{a}", f"transformer.h.{i}.{b}", t) for a, b, t in _BLOCK]
    return pairs


def gpt2_config(cfg: GPTConfig, **special_ids: int | None) -> transformers.GPT2Config:
    """The GPT2Config with the book's sizes and its exact GELU; special_ids e.g. bos_token_id."""
    if not isinstance(cfg, GPTConfig):
        raise TypeError(f"cfg must be a llmbook.gpt.GPTConfig, got {type(cfg).__name__}")
    if not cfg.bias:
        raise ValueError("GPT-2 always has biases in its linear and LayerNorm layers, but this "
                         "model was built with bias=False; convert a model with bias=True")
    return transformers.GPT2Config(
        vocab_size=cfg.vocab_size, n_positions=cfg.block_size, n_embd=cfg.n_embd,
        n_layer=cfg.n_layer, n_head=cfg.n_head, n_inner=4 * cfg.n_embd,
        activation_function="gelu",  # exact GELU, as F.gelu; GPT-2's default is "gelu_new"
        resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout, attn_pdrop=cfg.dropout,
        layer_norm_epsilon=1e-5, scale_attn_weights=True, tie_word_embeddings=True,
        **special_ids,
    )


def to_gpt2(model: GPT, **special_ids: int | None) -> transformers.GPT2LMHeadModel:
    """A GPT2LMHeadModel computing the same logits as the book's GPT (Eq. eq-hf-conv1d)."""
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a llmbook.gpt.GPT, got {type(model).__name__}")
    hf = transformers.GPT2LMHeadModel(gpt2_config(model.config, **special_ids))
    ours, theirs = model.state_dict(), hf.state_dict()
    with torch.no_grad():
        for name, hf_name, transposed in _mapping(model.config.n_layer):
            w = ours[name].t() if transposed else ours[name]
            theirs[hf_name].copy_(w)
    hf.tie_weights()  # lm_head.weight is transformer.wte.weight
    return hf.train(model.training)


def from_gpt2(hf: transformers.GPT2LMHeadModel) -> GPT:
    """The book's GPT with the weights of a GPT2LMHeadModel of the same architecture."""
    if not isinstance(hf, transformers.GPT2LMHeadModel):
        raise TypeError(f"hf must be a transformers.GPT2LMHeadModel, got {type(hf).__name__}")
    c = hf.config
    problems = []
    if c.activation_function != "gelu":
        problems.append(f"activation_function={c.activation_function!r} (the book uses the exact "
                        "GELU, 'gelu')")
    if c.n_inner not in (None, 4 * c.n_embd):
        problems.append(f"n_inner={c.n_inner} (the book's MLP has width 4 * n_embd)")
    if abs(c.layer_norm_epsilon - 1e-5) > 1e-12:
        problems.append(f"layer_norm_epsilon={c.layer_norm_epsilon} (the book uses 1e-5)")
    if not c.scale_attn_weights or c.scale_attn_by_inverse_layer_idx or c.reorder_and_upcast_attn:
        problems.append("non-standard attention scaling (the book divides by sqrt(head size))")
    if not c.tie_word_embeddings:
        problems.append("tie_word_embeddings=False (the book ties the output layer)")
    if problems:
        raise ValueError("cannot convert exactly: " + "; ".join(problems)
                         + "; build the model with llmbook.hf.gpt2_config")
    cfg = GPTConfig(vocab_size=c.vocab_size, block_size=c.n_positions, n_layer=c.n_layer,
                    n_head=c.n_head, n_embd=c.n_embd, dropout=c.resid_pdrop)
    model = GPT(cfg)
    ours, theirs = model.state_dict(), hf.state_dict()
    with torch.no_grad():
        for name, hf_name, transposed in _mapping(cfg.n_layer):
            w = theirs[hf_name].t() if transposed else theirs[hf_name]
            ours[name].copy_(w)
    return model.train(hf.training)
