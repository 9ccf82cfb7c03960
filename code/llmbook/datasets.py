"""PyTorch ``Dataset`` classes for the book's corpora, and a padding collate function.

* ``ReviewDataset``: the labelled reviews as (token ids, label) pairs, for classification.
* ``PadCollate``: turns a list of such pairs into right-padded ids (B, T_max), lengths (B,)
  and labels (B,), for ``torch.utils.data.DataLoader(..., collate_fn=PadCollate(pad_id))``.
* ``LMWindows``: fixed-length windows (x, y = x shifted by one) cut from a token stream.

Shuffle with ``DataLoader(..., shuffle=True, generator=torch.Generator().manual_seed(s))``:
the same seed gives the same order, epoch after epoch.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

__all__ = ["ReviewDataset", "PadCollate", "LMWindows"]


class ReviewDataset(Dataset):
    """Reviews as (ids, label): ids a 1-D LongTensor (<bos> ... <eos>, cut to max_len)."""

    def __init__(self, texts: Sequence[str], labels: Sequence[int], tokenizer,
                 max_len: int | None = None, add_bos_eos: bool = True):
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of str, not one str; wrap it: [text]")
        if len(texts) != len(labels):
            raise ValueError(f"need one label per text, got {len(texts)} texts and "
                             f"{len(labels)} labels")
        if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int)
                                    or max_len < 1):
            raise ValueError(f"max_len must be a positive int or None, got {max_len!r}")
        self.texts, self.labels = tuple(texts), tuple(int(y) for y in labels)
        self.tokenizer, self.max_len, self.add_bos_eos = tokenizer, max_len, add_bos_eos

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        ids = self.tokenizer.encode(self.texts[i], add_bos_eos=self.add_bos_eos)[: self.max_len]
        return torch.tensor(ids, dtype=torch.long), self.labels[i]


class PadCollate:
    """Collate (ids, label) pairs into ids (B, T_max) padded with pad_id, lengths, labels."""

    def __init__(self, pad_id: int):
        if isinstance(pad_id, bool) or not isinstance(pad_id, int) or pad_id < 0:
            raise ValueError(f"pad_id must be a non-negative int (tokenizer.pad_id), got {pad_id!r}")
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[tuple[torch.Tensor, int]]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if len(batch) == 0:
            raise ValueError("cannot collate an empty batch")
        seqs = [ids for ids, _ in batch]
        lengths = torch.tensor([len(s) for s in seqs])
        if int(lengths.min()) == 0:
            raise ValueError("every sequence needs at least one token (an empty text?)")
        ids = torch.full((len(seqs), int(lengths.max())), self.pad_id, dtype=torch.long)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = s  # right padding: a causal model never sees it
        labels = torch.tensor([y for _, y in batch], dtype=torch.long)
        return ids, lengths, labels


class LMWindows(Dataset):
    """Windows x = stream[s:s+T], y = stream[s+1:s+T+1] at starts s = 0, stride, 2 stride, ..."""

    def __init__(self, stream: torch.Tensor, block_size: int, stride: int | None = None):
        if not isinstance(stream, torch.Tensor) or stream.dim() != 1:
            raise ValueError("stream must be a 1-D tensor of token ids (see train.encode_stream)")
        stride = block_size if stride is None else stride
        for name, v in (("block_size", block_size), ("stride", stride)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if len(stream) < block_size + 1:
            raise ValueError(f"the stream has {len(stream)} tokens, fewer than block_size + 1 = "
                             f"{block_size + 1}; use a shorter block_size or more text")
        self.stream, self.block_size, self.stride = stream, block_size, stride

    def __len__(self) -> int:
        return (len(self.stream) - self.block_size - 1) // self.stride + 1

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"window {i} out of range for {len(self)} windows")
        s = (i % len(self)) * self.stride
        return self.stream[s: s + self.block_size], self.stream[s + 1: s + self.block_size + 1]
