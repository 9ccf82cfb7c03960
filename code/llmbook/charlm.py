"""A character-level recurrent language model (section 5.1), trained like the book's GPT.

``CharRNNLM(vocab_size, emb, hidden, layers, cell="lstm")`` embeds characters, runs a stack of
LSTM/GRU/Elman layers over them and predicts the next character at every position: the same
interface as ``llmbook.gpt.GPT`` (``forward(idx, targets=None) -> (logits, loss)``,
``hidden_states``, ``lm_head``, ``generate``), so ``train.train_lm`` and ``train.evaluate_lm``
train and evaluate it unchanged. The recurrence is PyTorch's fused ``torch.nn.LSTM``/``GRU``/
``RNN``, whose parameters have exactly the layout of ``llmbook.rnn`` (chapter 3 proves them
equal), so ``llmbook.rnn.LSTM`` can load them.

``review_nll`` scores whole reviews under the per-review protocol of section 5.3
(Eq. eq-gptp-review) for a GPT (sliding windows) or a CharRNNLM (the whole review at once).

Reproduce the shipped checkpoint with one command, from the repository root::

    python -m llmbook.charlm

It uses the data, split and vocabulary of ``llmbook.pretrain`` (the same 2000 characters as the
GPT checkpoint), trains with ``train.train_lm`` on the train texts (one CPU thread, fixed
seed; about 8 minutes on the book's 2-core CPU (447 s measured), as in README's table of checkpoints; it prints
the time it took), and writes ``checkpoints/reviews_char_lstm.pt`` with its SHA-256 next to it
(``save_charlm`` / ``load_charlm``: the format of ``llmbook.checkpoints``).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmbook import checkpoints, utils
from llmbook.gpt import GPT, check_targets
from llmbook.train import (TrainConfig, encode_stream, evaluate_lm, learning_curve, pad_batch,
                           train_lm, unigram_loss)

__all__ = ["CELLS", "CharRNNConfig", "CharRNNLM", "review_nll", "CharLMTrainConfig",
           "DEFAULT_PATH", "COMMAND", "train_charlm", "save_charlm", "load_charlm", "main"]

CELLS = ("lstm", "gru", "rnn")
_TORCH_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "checkpoints" / "reviews_char_lstm.pt"
COMMAND = "python -m llmbook.charlm"


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass
class CharRNNConfig:
    """Sizes of a CharRNNLM: vocabulary V, embedding width, hidden width H, layers, cell type.

    ``block_size`` is only the length of the training windows (``train.train_lm`` reads it);
    the model itself accepts sequences of any length.
    """

    vocab_size: int
    emb: int = 64
    hidden: int = 256
    layers: int = 1
    cell: str = "lstm"
    block_size: int = 128

    def __post_init__(self) -> None:
        for name in ("vocab_size", "emb", "hidden", "layers", "block_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")

    @property
    def n_embd(self) -> int:
        """Width of the hidden states (what train.SequenceClassifier puts its head on)."""
        return self.hidden


class CharRNNLM(nn.Module):
    """Embedding -> recurrent stack -> linear head: p(x_{t+1} | x_<=t) at every t (Eq. eq-rnnp-lm)."""

    def __init__(self, vocab_size: int | CharRNNConfig, emb: int = 64, hidden: int = 256,
                 layers: int = 1, cell: str = "lstm", block_size: int = 128):
        super().__init__()
        cfg = vocab_size if isinstance(vocab_size, CharRNNConfig) else CharRNNConfig(
            vocab_size, emb, hidden, layers, cell, block_size)
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.emb)
        self.rnn = _TORCH_CELLS[cfg.cell](cfg.emb, cfg.hidden, cfg.layers, batch_first=True)
        self.lm_head = nn.Linear(cfg.hidden, cfg.vocab_size)
        nn.init.normal_(self.wte.weight, mean=0.0, std=0.1)
        nn.init.normal_(self.lm_head.weight, mean=0.0, std=0.02)  # initial loss close to ln V
        nn.init.zeros_(self.lm_head.bias)

    def _check_ids(self, idx: torch.Tensor, name: str) -> None:
        """GPT's checks (a (B, T) tensor of integer ids in [0, V)), and: not empty."""
        GPT._check_ids(self, idx, name)  # uses only self.config.vocab_size
        if idx.numel() == 0:
            raise ValueError(f"{name} is empty (shape {tuple(idx.shape)}); a recurrent model "
                             "needs at least one token, e.g. <bos>")

    def hidden_states(self, idx: torch.Tensor, state=None) -> torch.Tensor:
        """Top-layer hidden states (B, T, H) of ids (B, T), from ``state`` (zeros if None)."""
        return self.run(idx, state)[0]

    def run(self, idx: torch.Tensor, state=None):
        """Hidden states (B, T, H) and the final state (as torch.nn.LSTM/GRU/RNN return it)."""
        self._check_ids(idx, "idx")
        return self.rnn(self.wte(idx), state)  # (B, T, E) -> (B, T, H)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Next-token logits (B, T, V) and, given targets (B, T), the mean cross-entropy loss."""
        logits = self.lm_head(self.hidden_states(idx))
        loss = None
        if targets is not None:
            check_targets(idx, targets)
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Append max_new_tokens sampled tokens to idx (B, T), carrying the state; 0 = greedy."""
        self._check_ids(idx, "prompt")
        if not _is_int(max_new_tokens) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not temperature >= 0 or math.isinf(temperature):
            raise ValueError(f"temperature must be >= 0 and finite (0 means greedy), "
                             f"got {temperature!r}")
        h, state = self.run(idx)  # read the prompt once, then one step a token
        out = idx
        for _ in range(max_new_tokens):
            logits = self.lm_head(h[:, -1])  # (B, V)
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                nxt = torch.multinomial(F.softmax(logits / temperature, dim=-1), 1,
                                        generator=generator)
            out = torch.cat([out, nxt], dim=1)
            h, state = self.run(nxt, state)
        return out


# -------------------------------------------------------------- per-review evaluation (5.3)
def _windows(ids_list: list[list[int]], window: int | None, stride: int
             ) -> tuple[list[list[int]], list[list[int]]]:
    """Cut each <bos> x_1..x_m <eos> into inputs/targets; each target scored exactly once."""
    inputs, targets = [], []
    for ids in ids_list:
        inp, tgt = ids[:-1], ids[1:]
        if window is None:  # a recurrent model reads the whole review at once
            inputs.append(inp)
            targets.append(tgt)
            continue
        start, done = 0, 0
        while done < len(tgt):
            end = min(start + window, len(tgt))
            inputs.append(inp[start:end])
            targets.append([-100] * (done - start) + tgt[done:end])  # -100: scored earlier
            done, start = end, start + stride
    return inputs, targets


@torch.no_grad()
def review_nll(model: nn.Module, tokenizer, texts: Sequence[str], window: int | None = -1,
               stride: int | None = None, batch_size: int = 256) -> tuple[float, int]:
    """Sum of -log p of every character and <eos> of each text, and their count (Eq. eq-gptp-review).

    ``window=-1`` (default) means ``model.config.block_size`` for a GPT and the whole text
    for a CharRNNLM; ``window=None`` forces whole texts. With a window, longer texts are read
    in windows every ``stride`` (default window // 2) tokens; each target is scored once, in
    the first window that holds it, with at least window - stride tokens of context.
    """
    if isinstance(texts, str) or len(texts) == 0:
        raise ValueError("texts must be a non-empty sequence of str (wrap one text in a list)")
    if window == -1:
        window = None if isinstance(model, CharRNNLM) else model.config.block_size
    if window is not None:
        stride = stride or window // 2
        if not _is_int(window) or not _is_int(stride) or not 0 < stride <= window:
            raise ValueError(f"need ints 0 < stride <= window, got window={window!r}, "
                             f"stride={stride!r}")
    was_training = model.training
    model.eval()
    ids_list = [tokenizer.encode(t, add_bos_eos=True) for t in texts]
    inputs, targets = _windows(ids_list, window, stride or 1)
    if window is not None:  # all windows padded once (causal: right padding changes nothing)
        x_all, _ = pad_batch(inputs, tokenizer.pad_id)
        y_all, _ = pad_batch(targets, -100)
        batches = [(x_all[i: i + batch_size], y_all[i: i + batch_size])
                   for i in range(0, len(x_all), batch_size)]
    else:  # whole texts: batch texts of similar length, pad each batch to its longest
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
        batches = []
        for k in range(0, len(order), batch_size):
            pick = order[k: k + batch_size]
            batches.append((pad_batch([inputs[i] for i in pick], tokenizer.pad_id)[0],
                            pad_batch([targets[i] for i in pick], -100)[0]))
    total, count = 0.0, 0
    for x, y in batches:
        h = model.hidden_states(x)  # (b, T, d)
        scored = y != -100
        logits = model.lm_head(h[scored])  # the output layer only where a target is scored
        total += F.cross_entropy(logits, y[scored], reduction="sum").item()
        count += int(scored.sum())
    model.train(was_training)
    return total, count


# ------------------------------------------------------------------ the shipped checkpoint
@dataclass
class CharLMTrainConfig:
    """Everything that determines the LSTM checkpoint: data, vocabulary, model, optimisation."""

    split_seed: int = 0  # as llmbook.pretrain: the same split and the same 2000 characters
    vocab_size: int = 2000
    emb: int = 64
    hidden: int = 256
    layers: int = 1
    cell: str = "lstm"
    block_size: int = 64  # training windows, as the GPT's
    steps: int = 900
    batch_size: int = 64
    lr: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 1  # fixed, so that the floats are reproducible
    eval_every: int = 150

    def model_config(self) -> CharRNNConfig:
        """The CharRNNConfig of the trained model."""
        return CharRNNConfig(self.vocab_size, self.emb, self.hidden, self.layers, self.cell,
                             self.block_size)

    def train_config(self) -> TrainConfig:
        """AdamW, warmup then cosine decay to a tenth of the peak lr, gradients clipped at 1."""
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                           warmup_steps=self.warmup_steps, weight_decay=self.weight_decay,
                           schedule="cosine", min_lr_ratio=0.1, seed=self.seed)


def save_charlm(path: str | Path, model: CharRNNLM, tokenizer, meta: dict | None = None) -> str:
    """Write a CharRNNLM checkpoint with llmbook.checkpoints; record and return its SHA-256."""
    if not isinstance(model, CharRNNLM):
        raise TypeError(f"save_charlm saves a CharRNNLM, got {type(model).__name__}; "
                        "use checkpoints.save_checkpoint for a GPT")
    return checkpoints.save_checkpoint(path, model, tokenizer, meta, reproduce=COMMAND)


def train_charlm(cfg: CharLMTrainConfig, log=print) -> tuple[CharRNNLM, object, dict]:
    """Train the CharRNNLM of ``cfg`` on the train reviews; return it, the tokenizer, metrics."""
    from llmbook import pretrain  # late import: pretrain is heavy and not needed otherwise

    threads_before = torch.get_num_threads()
    utils.set_seed(cfg.seed, threads=cfg.threads)
    try:
        tokenizer, texts, _ = pretrain.prepare_data(cfg.split_seed, cfg.vocab_size)
        train_stream = encode_stream(tokenizer, texts.train)
        valid_stream = encode_stream(tokenizer, texts.valid)
        model = CharRNNLM(cfg.model_config())
        n_params = sum(p.numel() for p in model.parameters())
        log(f"train stream: {len(train_stream):,} tokens, vocabulary {len(tokenizer)}, "
            f"model {n_params:,} parameters")
        history = train_lm(model, train_stream, cfg.train_config(), valid_stream,
                           cfg.eval_every, log=lambda r: log(_format(r)))
        meta = {
            "train_config": dataclasses.asdict(cfg),
            "valid_loss": evaluate_lm(model, valid_stream),
            "unigram_valid_loss": unigram_loss(train_stream, valid_stream, len(tokenizer)),
            "train_tokens": len(train_stream),
            "history": learning_curve(history),
        }
        return model, tokenizer, meta
    finally:
        torch.set_num_threads(threads_before)


def _format(record: dict) -> str:
    text = f"step {record['step']:5d}  lr {record['lr']:.2e}  train loss {record['train_loss']:.4f}"
    if "valid_loss" in record:
        text += f"  valid loss {record['valid_loss']:.4f}"
    return text


def load_charlm(path: str | Path = DEFAULT_PATH) -> checkpoints.Checkpoint:
    """Load the shipped LSTM checkpoint, verifying its SHA-256 (reproduce it with COMMAND)."""
    return checkpoints.load_checkpoint(path, reproduce=COMMAND)


def main(argv: list[str] | None = None) -> int:
    """Command line: train, save the checkpoint and its SHA-256, report the time."""
    parser = argparse.ArgumentParser(description="Train the book's character LSTM language model")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="checkpoint file to write")
    defaults = CharLMTrainConfig()
    for field in dataclasses.fields(CharLMTrainConfig):  # every setting can be overridden
        value = getattr(defaults, field.name)
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    cfg = CharLMTrainConfig(**{f.name: getattr(args, f.name)
                               for f in dataclasses.fields(CharLMTrainConfig)})
    start = time.perf_counter()
    model, tokenizer, meta = train_charlm(cfg)
    elapsed = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    digest = save_charlm(args.out, model, tokenizer, meta)
    print(f"valid loss {meta['valid_loss']:.4f} nats/char "
          f"(unigram baseline {meta['unigram_valid_loss']:.4f})")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    print(f"SHA-256 {digest}")
    print(f"training took {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    # Run the importable module's main: under `python -m` this file is __main__, and a model
    # built from __main__.CharRNNLM is not the llmbook.charlm.CharRNNLM that checkpoints expects.
    from llmbook.charlm import main as _main

    sys.exit(_main())
