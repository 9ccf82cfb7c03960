"""Save and load a model with its config and tokenizer, verified by a SHA-256 checksum.

``save_checkpoint(path, model, tokenizer, meta)`` writes one ``.pt`` file (a plain dict of
tensors, strings and numbers, so that ``torch.load(weights_only=True)`` can read it) and
records its SHA-256 next to it in ``<path>.sha256`` (the format of ``sha256sum``, so
``sha256sum -c`` checks it too). ``load_checkpoint`` refuses a file that is missing or whose
checksum differs, and says which command reproduces it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from llmbook import tokenizers
from llmbook.gpt import GPT, GPTConfig

__all__ = ["FORMAT", "Checkpoint", "ChecksumError", "sha256_file", "checksum_path",
           "save_checkpoint", "load_checkpoint"]

FORMAT = "llmbook-checkpoint-v1"
_MODELS = {"GPT": (GPT, GPTConfig)}  # model classes a checkpoint may hold, by name (see _models)
_TOKENIZERS = {"CharTokenizer": tokenizers.CharTokenizer,
               "WordTokenizer": tokenizers.WordTokenizer}


class ChecksumError(ValueError):
    """A checkpoint file's SHA-256 differs from the recorded one."""


@dataclass
class Checkpoint:
    """What ``load_checkpoint`` returns: the model (in eval mode), tokenizer, metadata, hash."""

    model: nn.Module
    tokenizer: tokenizers.Vocabulary
    meta: dict
    sha256: str
    path: Path


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_path(path: str | os.PathLike) -> Path:
    """Where the SHA-256 of checkpoint ``path`` is recorded: ``<path>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def _models() -> dict[str, tuple[type, type]]:
    """Model classes a checkpoint may hold: the GPT, the recurrent LM (5.1), the QA reader (6.3)."""
    from llmbook.charlm import CharRNNConfig, CharRNNLM  # late imports: both import this module
    from llmbook.qa import ReaderConfig, SpanReader

    return {**_MODELS, "CharRNNLM": (CharRNNLM, CharRNNConfig),
            "SpanReader": (SpanReader, ReaderConfig)}


def save_checkpoint(path: str | os.PathLike, model: nn.Module, tokenizer: tokenizers.Vocabulary,
                    meta: dict | None = None, reproduce: str | None = None) -> str:
    """Write model + config + tokenizer (+ meta) to ``path``, record and return its SHA-256."""
    name, models = type(model).__name__, _models()
    if name not in models or not isinstance(model, models[name][0]):
        raise TypeError(f"cannot checkpoint a {name}; supported models: {sorted(models)}")
    tok_name = type(tokenizer).__name__
    if tok_name not in _TOKENIZERS:
        raise TypeError(f"cannot checkpoint a {tok_name}; supported tokenizers: "
                        f"{sorted(_TOKENIZERS)}")
    n_special = len(tokenizer.specials)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "model_class": name,
        "config": dataclasses.asdict(model.config),
        "state_dict": state,
        "tokenizer": {"class": tok_name, "specials": list(tokenizer.specials),
                      "tokens": list(tokenizer.vocab[n_special:])},
        "meta": dict(meta or {}),
        "reproduce": reproduce or "",
    }
    path = Path(path)
    buffer = io.BytesIO()  # not torch.save(path): the archive inside would be named after path
    torch.save(payload, buffer)
    path.write_bytes(buffer.getvalue())
    digest = sha256_file(path)
    checksum_path(path).write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    return digest


def load_checkpoint(path: str | os.PathLike, sha256: str | None = None,
                    reproduce: str | None = None) -> Checkpoint:
    """Load a checkpoint after checking its SHA-256 (``sha256``, else the recorded one)."""
    path = Path(path)
    how = (f"reproduce it with `{reproduce}` (from the repository root)" if reproduce
           else "re-create it with the script that wrote it")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; {how}")
    expected = sha256 or _recorded_sha256(path, how)
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ChecksumError(
            f"checkpoint {path} has SHA-256 {actual}, but {expected} was expected: the file is "
            f"damaged or from another run; {how}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a checkpoint written by llmbook.checkpoints "
                         f"(format {FORMAT!r}); {how}")
    models = _models()
    if payload["model_class"] not in models or payload["tokenizer"]["class"] not in _TOKENIZERS:
        raise ValueError(f"{path} holds a {payload['model_class']} with a "
                         f"{payload['tokenizer']['class']}; this version of llmbook loads "
                         f"{sorted(models)} with {sorted(_TOKENIZERS)}")
    model_cls, config_cls = models[payload["model_class"]]
    model = model_cls(config_cls(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    tok = payload["tokenizer"]
    tokenizer = _TOKENIZERS[tok["class"]](tok["tokens"], tok["specials"])
    return Checkpoint(model.eval(), tokenizer, payload["meta"], actual, path)


def _recorded_sha256(path: Path, how: str) -> str:
    record = checksum_path(path)
    if not record.is_file():
        raise FileNotFoundError(
            f"no recorded checksum {record} for {path}; pass sha256=... or {how}")
    fields = record.read_text(encoding="utf-8").split()
    if not fields or len(fields[0]) != 64:
        raise ValueError(f"{record} does not hold a SHA-256 (64 hex digits); {how}")
    return fields[0]
