"""Pretrain the book's small character-level GPT on the review corpus (section 2.3).

Reproduce the shipped checkpoint with one command, from the repository root::

    python -m llmbook.pretrain

It reads the deduplicated reviews (``data.load_reviews(dedupe=True)``), splits them with
``data.split(seed=0)``, builds a character vocabulary from the TRAIN texts only, trains a
GPT on next-character prediction over the train texts (never the test split), measures the
loss on the validation texts, writes ``checkpoints/reviews_char_gpt.pt`` with its SHA-256 in
``checkpoints/reviews_char_gpt.pt.sha256``, and prints the checksum and the time it took
(about 15 minutes on the book's 2-core CPU: 907 s and 916 s measured). Settings can be overridden for experiments,
e.g. ``python -m llmbook.pretrain --steps 500 --out /tmp/small.pt``; the shipped file uses
the defaults of ``PretrainConfig``.

Everything is seeded and runs on the CPU with a fixed number of threads, so the same
machine type and PyTorch version give the same bytes (another CPU or PyTorch version may
change the last bits of the floats, and so the checksum).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from llmbook import checkpoints, data, utils
from llmbook.gpt import GPT, GPTConfig, count_parameters
from llmbook.tokenizers import CharTokenizer
from llmbook.train import (TrainConfig, encode_stream, evaluate_lm, learning_curve, train_lm,
                           unigram_loss)

__all__ = ["PretrainConfig", "DEFAULT_PATH", "COMMAND", "prepare_data", "pretrain",
           "load_pretrained", "main"]

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "checkpoints" / "reviews_char_gpt.pt"
COMMAND = "python -m llmbook.pretrain"


@dataclass
class PretrainConfig:
    """Everything that determines the checkpoint: data, vocabulary, model and optimisation."""

    split_seed: int = 0  # data.split(..., seed=split_seed) of the deduplicated reviews
    vocab_size: int = 2000  # most frequent train characters, specials (<pad> <unk> ...) included
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    steps: int = 6000
    batch_size: int = 64
    lr: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 0.1
    seed: int = 0  # model initialisation and batch sampling
    threads: int = 2  # torch CPU threads: fixed, so that the floats are reproducible
    eval_every: int = 250  # steps between validation losses (for the learning curve)

    def model_config(self) -> GPTConfig:
        """The GPTConfig of the pretrained model."""
        return GPTConfig(vocab_size=self.vocab_size, block_size=self.block_size,
                         n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd)

    def train_config(self) -> TrainConfig:
        """The optimisation settings (AdamW, warmup then cosine decay)."""
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                           warmup_steps=self.warmup_steps, weight_decay=self.weight_decay,
                           schedule="cosine", min_lr_ratio=0.1, seed=self.seed)


def prepare_data(split_seed: int = 0, vocab_size: int = 2000
                 ) -> tuple[CharTokenizer, data.Split, data.Split]:
    """Tokenizer built on the train texts, and the (texts, labels) splits of the reviews."""
    texts, labels = data.load_reviews(dedupe=True)
    text_split = data.split(texts, seed=split_seed)
    label_split = data.split(labels, seed=split_seed)  # same permutation: stays aligned
    tokenizer = CharTokenizer.from_texts(text_split.train, max_size=vocab_size)
    return tokenizer, text_split, label_split


def pretrain(cfg: PretrainConfig, log=print) -> tuple[GPT, CharTokenizer, dict]:
    """Train the GPT of ``cfg`` on the train texts; return it, its tokenizer and its metrics."""
    threads_before = torch.get_num_threads()
    utils.set_seed(cfg.seed, threads=cfg.threads)  # a fixed thread count fixes the float sums
    try:
        return _pretrain(cfg, log)
    finally:
        torch.set_num_threads(threads_before)  # leave the caller's process as it was


def _pretrain(cfg: PretrainConfig, log) -> tuple[GPT, CharTokenizer, dict]:
    tokenizer, texts, _ = prepare_data(cfg.split_seed, cfg.vocab_size)
    train_stream = encode_stream(tokenizer, texts.train)
    valid_stream = encode_stream(tokenizer, texts.valid)
    model = GPT(cfg.model_config())
    log(f"train stream: {len(train_stream):,} tokens, valid stream: {len(valid_stream):,} tokens, "
        f"vocabulary {len(tokenizer)}, model {count_parameters(model):,} parameters")
    history = train_lm(model, train_stream, cfg.train_config(), valid_stream, cfg.eval_every,
                       log=lambda r: log(_format(r)))
    meta = {
        "pretrain_config": dataclasses.asdict(cfg),
        "valid_loss": evaluate_lm(model, valid_stream),
        "unigram_valid_loss": unigram_loss(train_stream, valid_stream, len(tokenizer)),
        "train_tokens": len(train_stream),
        "valid_tokens": len(valid_stream),
        "history": learning_curve(history),
    }
    return model, tokenizer, meta


def load_pretrained(path: str | Path = DEFAULT_PATH) -> checkpoints.Checkpoint:
    """Load the shipped checkpoint, verifying its SHA-256 (reproduce it with COMMAND)."""
    return checkpoints.load_checkpoint(path, reproduce=COMMAND)


def _format(record: dict) -> str:
    text = f"step {record['step']:5d}  lr {record['lr']:.2e}  train loss {record['train_loss']:.4f}"
    if "valid_loss" in record:
        text += f"  valid loss {record['valid_loss']:.4f}"
    return text


def main(argv: list[str] | None = None) -> int:
    """Command line: pretrain, save the checkpoint and its SHA-256, report the time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="checkpoint file to write")
    defaults = PretrainConfig()
    for field in dataclasses.fields(PretrainConfig):  # every setting can be overridden
        value = getattr(defaults, field.name)
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    names = [f.name for f in dataclasses.fields(PretrainConfig)]
    cfg = PretrainConfig(**{name: getattr(args, name) for name in names})
    start = time.perf_counter()
    model, tokenizer, meta = pretrain(cfg)
    elapsed = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = checkpoints.checksum_path(args.out)
    before = (record.read_text(encoding="utf-8").split() or [None])[0] if record.is_file() else None
    digest = checkpoints.save_checkpoint(args.out, model, tokenizer, meta, reproduce=COMMAND)
    print(f"valid loss {meta['valid_loss']:.4f} nats/char "
          f"(unigram baseline {meta['unigram_valid_loss']:.4f})")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    print(f"SHA-256 {digest}")
    if before is not None:
        print("identical to the checksum recorded before" if before == digest else
              f"differs from the checksum recorded before ({before}): another CPU or PyTorch "
              "version, or other settings")
    print(f"pretraining took {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
