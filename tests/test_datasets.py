"""Tests of llmbook.datasets: review dataset, padding collate, LM windows, seeded shuffling."""
import pytest
import torch
from torch.utils.data import DataLoader

from llmbook.datasets import LMWindows, PadCollate, ReviewDataset
from llmbook.tokenizers import CharTokenizer

TEXTS = ["很好", "质量太差了", "一般", "还不错吧", "物流很快很满意"]
LABELS = [1, 0, 0, 1, 1]


@pytest.fixture
def tok():
    return CharTokenizer.from_texts(TEXTS)


def test_review_dataset_items(tok):
    ds = ReviewDataset(TEXTS, LABELS, tok)
    assert len(ds) == 5
    ids, y = ds[1]
    assert ids.dtype == torch.long and ids.tolist() == tok.encode("质量太差了", add_bos_eos=True)
    assert y == 0 and ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert len(ReviewDataset(TEXTS, LABELS, tok, max_len=3)[1][0]) == 3


def test_pad_collate(tok):
    ds = ReviewDataset(TEXTS, LABELS, tok)
    ids, lengths, labels = PadCollate(tok.pad_id)([ds[0], ds[4]])
    assert ids.shape == (2, 9) and lengths.tolist() == [4, 9] and labels.tolist() == [1, 1]
    assert (ids[0, 4:] == tok.pad_id).all() and (ids[1] != tok.pad_id).all()


def test_loader_shuffle_is_reproducible(tok):
    ds = ReviewDataset(TEXTS * 4, LABELS * 4, tok)

    def epochs(seed):
        loader = DataLoader(ds, batch_size=3, shuffle=True, collate_fn=PadCollate(tok.pad_id),
                            generator=torch.Generator().manual_seed(seed))
        return [[tuple(r[:n].tolist()) for ids, lens, _ in loader for r, n in zip(ids, lens)]
                for _ in range(2)]

    a, b = epochs(0), epochs(0)
    assert a == b and a[0] != a[1] and epochs(1) != a
    assert sorted(a[0]) == sorted(a[1])  # each epoch is a permutation of the data


def test_lm_windows():
    stream = torch.arange(10)
    w = LMWindows(stream, block_size=4)
    assert len(w) == 2
    x, y = w[1]
    assert x.tolist() == [4, 5, 6, 7] and y.tolist() == [5, 6, 7, 8]
    assert len(LMWindows(stream, 4, stride=1)) == 6 and LMWindows(stream, 4, 1)[-1][1].tolist() == [6, 7, 8, 9]


def test_bad_inputs(tok):
    with pytest.raises(ValueError, match="one label per text"):
        ReviewDataset(TEXTS, LABELS[:2], tok)
    with pytest.raises(TypeError, match="not one str"):
        ReviewDataset("很好", [1], tok)
    with pytest.raises(ValueError, match="max_len"):
        ReviewDataset(TEXTS, LABELS, tok, max_len=0)
    with pytest.raises(ValueError, match="pad_id"):
        PadCollate(None)
    with pytest.raises(ValueError, match="empty batch"):
        PadCollate(0)([])
    with pytest.raises(ValueError, match="at least one token"):
        PadCollate(0)([(torch.tensor([], dtype=torch.long), 1)])
    with pytest.raises(ValueError, match="1-D tensor"):
        LMWindows(torch.zeros(2, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="fewer than block_size"):
        LMWindows(torch.arange(4), 4)
    with pytest.raises(ValueError, match="stride"):
        LMWindows(torch.arange(10), 4, stride=0)
    with pytest.raises(IndexError, match="out of range"):
        LMWindows(torch.arange(10), 4)[2]
