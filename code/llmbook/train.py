"""Training loops the book reuses: language modelling on token streams, and classification.

* Language modelling (Eq. eq-pt-lm): texts become one token stream (``encode_stream``);
  ``lm_batch`` cuts random windows out of it, ``train_lm`` minimises the next-token
  cross-entropy, ``evaluate_lm`` measures it on every token of a held-out stream.
* Classification (Eq. eq-pt-cls): a ``SequenceClassifier`` puts a linear head on the
  pooled hidden states of a GPT body; ``train_classifier`` / ``evaluate_classifier``.
* Optimisation: AdamW with weight decay on matrices only (``make_optimizer``) and a
  warmup + cosine or linear learning-rate schedule (``lr_multiplier``).

Randomness always comes from a seeded ``torch.Generator``, so runs are reproducible.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "TrainConfig", "lr_multiplier", "make_optimizer",
    "encode_stream", "lm_batch", "lm_eval_batches", "evaluate_lm", "train_lm", "unigram_loss",
    "learning_curve",
    "pad_batch", "SequenceClassifier", "train_classifier", "evaluate_classifier",
]

SCHEDULES = ("cosine", "linear", "constant")


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (AdamW + warmup + decay schedule)."""

    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3  # peak learning rate, reached after the warmup
    weight_decay: float = 0.1  # applied to matrices only, see make_optimizer
    warmup_steps: int = 0
    schedule: str = "cosine"  # "cosine" | "linear" | "constant" after the warmup
    min_lr_ratio: float = 0.1  # final lr = min_lr_ratio * lr (cosine and linear)
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float | None = 1.0  # max global gradient norm; None: no clipping
    seed: int = 0  # seeds batch sampling (the model's init is the caller's business)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not _is_int(self.warmup_steps) or not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"warmup_steps must be an int in [0, steps={self.steps}], "
                             f"got {self.warmup_steps!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"need lr > 0 and weight_decay >= 0, got lr={self.lr!r}, "
                             f"weight_decay={self.weight_decay!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip!r}")


# ---------------------------------------------------------------------------- optimisation
def lr_multiplier(step: int, total_steps: int, warmup_steps: int = 0, schedule: str = "cosine",
                  min_lr_ratio: float = 0.0) -> float:
    """Factor of the peak lr at ``step`` (0-based): linear warmup, then cosine/linear/constant."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if not 0 <= warmup_steps <= total_steps or total_steps < 1:
        raise ValueError(f"need 0 <= warmup_steps <= total_steps and total_steps >= 1, "
                         f"got warmup_steps={warmup_steps}, total_steps={total_steps}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant" or total_steps == warmup_steps:
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps - 1))
    decay = 0.5 * (1.0 + math.cos(math.pi * progress)) if schedule == "cosine" else 1.0 - progress
    return min_lr_ratio + (1.0 - min_lr_ratio) * decay


def make_optimizer(model: nn.Module, cfg: TrainConfig
                   ) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the trainable parameters (decay on matrices, none on biases/norms) + schedule."""
    params = [p for p in model.parameters() if p.requires_grad]  # a tied matrix appears once
    if not params:
        raise ValueError("the model has no trainable parameters (all have requires_grad=False)")
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr,
                            betas=(cfg.beta1, cfg.beta2))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_multiplier(
        s, cfg.steps, cfg.warmup_steps, cfg.schedule, cfg.min_lr_ratio))
    return opt, sched


def _step(loss: torch.Tensor, model: nn.Module, opt: torch.optim.Optimizer,
          sched: torch.optim.lr_scheduler.LRScheduler, cfg: TrainConfig) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip is not None:
        nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
    opt.step()
    sched.step()


# ---------------------------------------------------------------------- language modelling
def encode_stream(tokenizer, texts: Sequence[str], add_bos_eos: bool = True) -> torch.Tensor:
    """One 1-D LongTensor of all texts' ids, each text as <bos> ... <eos> (Eq. eq-chain)."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of str, not one str; wrap it: [text]")
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer.encode(text, add_bos_eos=add_bos_eos))
    if len(ids) < 2:
        raise ValueError(f"the stream has {len(ids)} tokens; a language model needs at least 2")
    return torch.tensor(ids, dtype=torch.long)


def _check_stream(stream: torch.Tensor, block_size: int) -> None:
    if not isinstance(stream, torch.Tensor) or stream.dim() != 1:
        raise ValueError("stream must be a 1-D tensor of token ids (see encode_stream)")
    if not _is_int(block_size) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    if len(stream) < 2:
        raise ValueError(f"the stream has {len(stream)} tokens; need at least 2")


def lm_batch(stream: torch.Tensor, block_size: int, batch_size: int,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows x = stream[s:s+T] and their next tokens y = stream[s+1:s+T+1], (B, T)."""
    _check_stream(stream, block_size)
    if len(stream) < block_size + 1:
        raise ValueError(f"the stream has {len(stream)} tokens, fewer than block_size + 1 = "
                         f"{block_size + 1}; use a shorter block_size or more text")
    starts = torch.randint(0, len(stream) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = stream[starts[:, None] + offsets]  # (B, T)
    y = stream[starts[:, None] + offsets + 1]  # (B, T): shifted by one
    return x, y


def lm_eval_batches(stream: torch.Tensor, block_size: int, batch_size: int = 64
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive non-overlapping windows that predict every token stream[1:] exactly once."""
    _check_stream(stream, block_size)
    n_pred = len(stream) - 1
    full = n_pred // block_size
    x_all = stream[: full * block_size].view(full, block_size)
    y_all = stream[1: full * block_size + 1].view(full, block_size)
    for i in range(0, full, batch_size):
        yield x_all[i: i + batch_size], y_all[i: i + batch_size]
    if n_pred % block_size:  # the last, shorter window
        yield stream[full * block_size: -1][None], stream[full * block_size + 1:][None]


@torch.no_grad()
def evaluate_lm(model: nn.Module, stream: torch.Tensor, block_size: int | None = None,
                batch_size: int = 64) -> float:
    """Mean negative log-likelihood (nats per token) of every token of stream[1:] (Eq. eq-pt-lm)."""
    block_size = block_size or model.config.block_size
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in lm_eval_batches(stream, block_size, batch_size):
        logits, _ = model(x)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count


def unigram_loss(train_stream: torch.Tensor, eval_stream: torch.Tensor, vocab_size: int,
                 alpha: float = 1.0) -> float:
    """Nats per token of eval_stream[1:] under add-alpha unigram frequencies of train_stream."""
    for name, s in (("train_stream", train_stream), ("eval_stream", eval_stream)):
        _check_stream(s, 1)
        if int(s.min()) < 0 or int(s.max()) >= vocab_size:
            raise ValueError(f"{name} has ids outside [0, vocab_size={vocab_size})")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive (no zero probabilities), got {alpha!r}")
    counts = torch.bincount(train_stream, minlength=vocab_size).double() + alpha
    log_p = counts.log() - counts.sum().log()
    return float(-log_p[eval_stream[1:]].mean())


def train_lm(model: nn.Module, stream: torch.Tensor, cfg: TrainConfig,
             valid_stream: torch.Tensor | None = None, eval_every: int = 0,
             log=None) -> list[dict]:
    """Minimise the next-token loss (Eq. eq-pt-lm) on random windows; returns the history."""
    block_size = model.config.block_size
    gen = torch.Generator().manual_seed(cfg.seed)
    opt, sched = make_optimizer(model, cfg)
    model.train()
    history = []
    for step in range(cfg.steps):
        x, y = lm_batch(stream, block_size, cfg.batch_size, gen)
        lr = opt.param_groups[0]["lr"]
        _, loss = model(x, y)
        _step(loss, model, opt, sched, cfg)
        record = {"step": step + 1, "lr": lr, "train_loss": loss.item()}
        last = step + 1 == cfg.steps
        if valid_stream is not None and eval_every and ((step + 1) % eval_every == 0 or last):
            record["valid_loss"] = evaluate_lm(model, valid_stream, block_size)
            model.train()
        history.append(record)
        if log is not None and ("valid_loss" in record or last):
            log(record)
    model.eval()
    return history


# ---------------------------------------------------------------------------- classification
def learning_curve(history: list[dict]) -> list[dict]:
    """At each evaluation of ``train_lm``'s history: the step, the mean train loss since the last
    evaluation, and the valid loss (what the shipped checkpoints store as their curve)."""
    curve, window = [], []
    for record in history:
        window.append(record["train_loss"])
        if "valid_loss" in record:
            curve.append({"step": record["step"], "train_loss": sum(window) / len(window),
                          "valid_loss": record["valid_loss"]})
            window = []
    return curve


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, max_len: int | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad (and truncate to max_len) token-id lists: ids (B, T) and lengths (B,)."""
    if len(seqs) == 0:
        raise ValueError("cannot pad an empty batch; pass at least one sequence")
    seqs = [list(s)[:max_len] if max_len is not None else list(s) for s in seqs]
    if min(map(len, seqs)) == 0:
        raise ValueError("every sequence needs at least one token (an empty text?)")
    lengths = torch.tensor([len(s) for s in seqs])
    ids = torch.full((len(seqs), int(lengths.max())), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    return ids, lengths


class SequenceClassifier(nn.Module):
    """p(y | x) = softmax(W pool(h(x)) + b) on a GPT body's hidden states (Eq. eq-pt-head).

    ``body`` is a GPT, or any module with ``config.n_embd`` and ``hidden_states(idx)``.
    ``freeze_body=True`` turns off the body's gradients: a linear probe.
    """

    def __init__(self, body: nn.Module, n_classes: int = 2, pooling: str = "mean",
                 freeze_body: bool = False):
        super().__init__()
        if pooling not in ("mean", "last"):
            raise ValueError(f"pooling must be 'mean' or 'last', got {pooling!r}")
        if not _is_int(n_classes) or n_classes < 2:
            raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
        self.body, self.pooling = body, pooling
        self.head = nn.Linear(body.config.n_embd, n_classes)
        self.body.requires_grad_(not freeze_body)  # frozen body: a linear probe

    def features(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Pooled representation (B, d): mean over, or last of, the first lengths[i] positions."""
        h = self.body.hidden_states(idx)  # (B, T, d); causal, so right padding changes nothing
        if self.pooling == "last":
            return h[torch.arange(len(idx)), lengths - 1]
        mask = (torch.arange(idx.shape[1])[None, :] < lengths[:, None]).to(h.dtype)  # (B, T)
        return (h * mask[..., None]).sum(1) / lengths[:, None].to(h.dtype)

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class logits (B, n_classes)."""
        return self.head(self.features(idx, lengths))


def _check_labelled(inputs: Sequence, labels: Sequence[int]) -> torch.Tensor:
    if len(inputs) != len(labels) or len(inputs) == 0:
        raise ValueError(f"need as many labels as inputs, at least one; got {len(inputs)} inputs "
                         f"and {len(labels)} labels")
    return torch.as_tensor(list(labels), dtype=torch.long)


def train_classifier(model: SequenceClassifier, inputs: Sequence[Sequence[int]],
                     labels: Sequence[int], cfg: TrainConfig, pad_id: int,
                     max_len: int | None = None) -> list[dict]:
    """Minimise -mean log p(y|x) (Eq. eq-pt-cls) with shuffled mini-batches; returns the history."""
    y_all = _check_labelled(inputs, labels)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt, sched = make_optimizer(model, cfg)
    batch_size = min(cfg.batch_size, len(inputs))
    order, pos, history = torch.randperm(len(inputs), generator=gen), 0, []
    model.train()
    for step in range(cfg.steps):
        if pos + batch_size > len(order):  # new epoch: reshuffle
            order, pos = torch.randperm(len(inputs), generator=gen), 0
        pick = order[pos: pos + batch_size].tolist()
        pos += batch_size
        ids, lengths = pad_batch([inputs[i] for i in pick], pad_id, max_len)
        loss = F.cross_entropy(model(ids, lengths), y_all[pick])
        lr = opt.param_groups[0]["lr"]
        _step(loss, model, opt, sched, cfg)
        history.append({"step": step + 1, "lr": lr, "train_loss": loss.item()})
    model.eval()
    return history


@torch.no_grad()
def evaluate_classifier(model: SequenceClassifier, inputs: Sequence[Sequence[int]],
                        labels: Sequence[int], pad_id: int, max_len: int | None = None,
                        batch_size: int = 256) -> tuple[float, float]:
    """Mean -log p(y|x) and accuracy on labelled inputs (batched by length, for speed)."""
    y_all = _check_labelled(inputs, labels)
    was_training = model.training
    model.eval()
    lens = [min(len(s), max_len) if max_len is not None else len(s) for s in inputs]
    order = sorted(range(len(inputs)), key=lambda i: lens[i])  # stable: ties keep input order
    total_loss, correct = 0.0, 0
    for k in range(0, len(order), batch_size):
        pick = order[k: k + batch_size]
        ids, lengths = pad_batch([inputs[i] for i in pick], pad_id, max_len)
        logits = model(ids, lengths)
        total_loss += F.cross_entropy(logits, y_all[pick], reduction="sum").item()
        correct += int((logits.argmax(-1) == y_all[pick]).sum())
    model.train(was_training)
    return total_loss / len(inputs), correct / len(inputs)


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
