import math

import pytest
import torch
import torch.nn.functional as F

from llmbook.objectives import (
    IGNORE_INDEX, causal_lm_targets, corrupt_spans, lm_loss, mask_tokens, pad_sequences,
    random_spans_mask, reconstruct_spans, span_corruption, span_corruption_batch, span_counts,
)

V, PAD, MASK = 50, 0, 4
SPECIALS = (0, 1, 2, 3, 4)  # pad, unk, bos, eos, mask
SENTINELS = list(range(100, 140))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def within(measured, p, n, sds=4.0):
    """|measured - p| within `sds` binomial standard deviations of n trials."""
    return abs(measured - p) <= sds * math.sqrt(p * (1 - p) / n)


# ------------------------------------------------------------------------------ causal LM
def test_causal_targets_shift_by_one_and_ignore_padding():
    ids = torch.tensor([[2, 7, 8, 9, 3], [2, 5, 3, PAD, PAD]])
    x, y = causal_lm_targets(ids)
    assert x.tolist() == [[2, 7, 8, 9], [2, 5, 3, PAD]]
    assert y.tolist() == [[7, 8, 9, 3], [5, 3, PAD, PAD]]  # without pad_id every position counts
    _, y = causal_lm_targets(ids, pad_id=PAD)
    assert y.tolist() == [[7, 8, 9, 3], [5, 3, IGNORE_INDEX, IGNORE_INDEX]]
    assert ids[1, 3] == PAD  # the input is not modified


def test_causal_targets_bad_input():
    with pytest.raises(TypeError, match="dtype torch.long"):
        causal_lm_targets(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="at least 2 token"):
        causal_lm_targets(torch.tensor([5]))
    with pytest.raises(ValueError, match="is empty"):
        causal_lm_targets(torch.zeros(3, 0, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        causal_lm_targets([1, 2, 3])


# ------------------------------------------------------------------------------ masked LM
def corpus(n_tokens=200_000, seed=1):
    g = gen(seed)
    ids = torch.randint(5, V, (n_tokens,), generator=g)
    ids[torch.rand(n_tokens, generator=g) < 0.2] = PAD  # 20% specials
    return ids


def test_mask_rates_match_bert_rule():
    ids = corpus()
    x, labels = mask_tokens(ids, vocab_size=V, mask_id=MASK, special_ids=SPECIALS, generator=gen())
    ordinary = ids != PAD
    chosen = labels != IGNORE_INDEX
    n_ord, n_ch = int(ordinary.sum()), int(chosen.sum())
    assert within(n_ch / n_ord, 0.15, n_ord)
    assert torch.equal(labels[chosen], ids[chosen])
    masked = (x == MASK) & chosen
    changed = (x != ids) & (x != MASK) & chosen
    kept = (x == ids) & chosen
    V_ord = V - len(SPECIALS)
    assert within(int(masked.sum()) / n_ch, 0.8, n_ch)
    assert within(int(changed.sum()) / n_ch, 0.1 * (1 - 1 / V_ord), n_ch)
    assert within(int(kept.sum()) / n_ch, 0.1 + 0.1 / V_ord, n_ch)
    assert torch.equal(x[~chosen], ids[~chosen])  # unchosen positions untouched
    # random replacements are ordinary tokens, drawn about uniformly
    drawn = x[changed]
    assert int(drawn.min()) >= 5
    counts = torch.bincount(drawn, minlength=V)[5:].double()
    assert counts.min() > 0.5 * counts.mean()


def test_specials_never_chosen_and_batch_padding():
    ids = torch.tensor([[2, 9, 10, 11, 12, 3, PAD, PAD]] * 500)
    x, labels = mask_tokens(ids, vocab_size=V, mask_id=MASK, special_ids=(PAD, 2, 3),
                            mask_prob=0.5, generator=gen())
    assert (labels[:, [0, 5, 6, 7]] == IGNORE_INDEX).all()
    assert torch.equal(x[:, [0, 5, 6, 7]], ids[:, [0, 5, 6, 7]])
    assert (labels[:, 1:5] != IGNORE_INDEX).any()
    # the mask token itself is treated as special even if not listed
    ids = torch.full((1000,), MASK)
    _, labels = mask_tokens(ids, vocab_size=V, mask_id=MASK, generator=gen())
    assert (labels == IGNORE_INDEX).all()


def test_mask_split_variants():
    ids = corpus(50_000)
    x, labels = mask_tokens(ids, vocab_size=V, mask_id=MASK, special_ids=SPECIALS,
                            split=(1.0, 0.0, 0.0), generator=gen())
    chosen = labels != IGNORE_INDEX
    assert (x[chosen] == MASK).all()
    x, labels = mask_tokens(ids, vocab_size=V, mask_id=MASK, special_ids=SPECIALS,
                            split=(0.0, 0.0, 1.0), mask_prob=1.0, generator=gen())
    assert torch.equal(x, ids) and torch.equal(labels[ids != PAD], ids[ids != PAD])


def test_mask_tokens_deterministic_with_generator():
    ids = corpus(5000)
    kw = dict(vocab_size=V, mask_id=MASK, special_ids=SPECIALS)
    a = mask_tokens(ids, generator=gen(3), **kw)
    b = mask_tokens(ids, generator=gen(3), **kw)
    c = mask_tokens(ids, generator=gen(4), **kw)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


@pytest.mark.parametrize("kw, err, match", [
    (dict(mask_prob=1.5), ValueError, "mask_prob must be a probability"),
    (dict(mask_prob=0.0), ValueError, "mask_prob must be > 0"),
    (dict(split=(0.8, 0.1)), ValueError, "3 probabilities"),
    (dict(split=(0.8, 0.1, 0.2)), ValueError, "must sum to 1"),
    (dict(split=(1.2, -0.1, -0.1)), ValueError, r"split\[mask\]"),
    (dict(mask_id=V), ValueError, "mask_id must be an int in"),
    (dict(special_ids=(0, -1)), ValueError, "every special id"),
    (dict(special_ids=0), TypeError, "sequence of ints"),
    (dict(vocab_size=1), ValueError, "vocab_size must be an int >= 2"),
    (dict(generator=None), TypeError, "torch.Generator"),
])
def test_mask_tokens_bad_arguments(kw, err, match):
    args = dict(vocab_size=V, mask_id=MASK, special_ids=SPECIALS, generator=gen())
    args.update(kw)
    with pytest.raises(err, match=match):
        mask_tokens(torch.tensor([5, 6, 7]), **args)


def test_mask_tokens_bad_ids():
    kw = dict(vocab_size=V, mask_id=MASK, generator=gen())
    with pytest.raises(ValueError, match=r"must lie in \[0, vocab_size=50\)"):
        mask_tokens(torch.tensor([5, 60]), **kw)
    with pytest.raises(TypeError, match="dtype torch.long"):
        mask_tokens(torch.tensor([5, 6], dtype=torch.int32), **kw)
    with pytest.raises(ValueError, match="is empty"):
        mask_tokens(torch.tensor([], dtype=torch.long), **kw)
    with pytest.raises(ValueError, match="every id is special"):
        mask_tokens(torch.tensor([0, 1]), vocab_size=2, mask_id=1, special_ids=(0,),
                    generator=gen())


# ------------------------------------------------------------------------------ loss
def test_lm_loss_is_the_mean_over_counted_positions():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, V)
    labels = torch.full((2, 6), IGNORE_INDEX)
    labels[0, 1], labels[0, 4], labels[1, 2] = 7, 9, 11
    log_p = logits.log_softmax(-1)
    by_hand = -(log_p[0, 1, 7] + log_p[0, 4, 9] + log_p[1, 2, 11]) / 3
    torch.testing.assert_close(lm_loss(logits, labels), by_hand)
    # changing the logits at ignored positions changes nothing, also not the gradient
    other = logits.clone()
    other[labels == IGNORE_INDEX] = 100 * torch.randn(9, V)
    torch.testing.assert_close(lm_loss(other, labels), by_hand)
    logits.requires_grad_()
    lm_loss(logits, labels).backward()
    assert (logits.grad[labels == IGNORE_INDEX] == 0).all()
    assert (logits.grad[labels != IGNORE_INDEX].abs().sum(-1) > 0).all()


def test_lm_loss_with_padded_mlm_batch_matches_per_token_mean():
    torch.manual_seed(1)
    ids = torch.tensor([[2, 9, 10, 11, 12, 13, 3], [2, 20, 21, 3, PAD, PAD, PAD]])
    _, labels = mask_tokens(ids, vocab_size=V, mask_id=MASK, special_ids=(PAD, 2, 3),
                            mask_prob=0.6, generator=gen(2))
    logits = torch.randn(2, 7, V)
    nll = F.cross_entropy(logits.reshape(-1, V), ids.reshape(-1), reduction="none").view(2, 7)
    chosen = labels != IGNORE_INDEX
    assert chosen.any() and not chosen[ids == PAD].any()
    torch.testing.assert_close(lm_loss(logits, labels), nll[chosen].mean())


def test_lm_loss_bad_input():
    logits = torch.randn(2, 3, V)
    with pytest.raises(ValueError, match="no position counts"):
        lm_loss(logits, torch.full((2, 3), IGNORE_INDEX))
    with pytest.raises(ValueError, match="logits have shape"):
        lm_loss(logits, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must be IGNORE_INDEX"):
        lm_loss(logits, torch.tensor([[1, 2, V], [1, 1, 1]]))
    with pytest.raises(TypeError, match="floating-point"):
        lm_loss(torch.zeros(2, 3, V, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))


# ------------------------------------------------------------------------------ spans
def test_span_counts():
    assert span_counts(100, 0.15, 3.0) == (15, 5)
    assert span_counts(48, 0.15, 3.0) == (7, 2)
    assert span_counts(2, 0.15, 3.0) == (1, 1)
    assert span_counts(10, 0.5, 1.0) == (5, 5)
    assert span_counts(5, 0.9, 1.0) == (4, 2)  # 4 noise tokens, but only 2 spans fit
    with pytest.raises(ValueError, match="length must be an int >= 2"):
        span_counts(1)
    with pytest.raises(ValueError, match="noise_density must be a probability"):
        span_counts(10, 1.0)
    with pytest.raises(ValueError, match="mean_span_length must be a number >= 1"):
        span_counts(10, 0.15, 0.5)


def runs(mask):
    lengths, cur = [], 0
    for m in mask.tolist() + [False]:
        if m:
            cur += 1
        elif cur:
            lengths.append(cur)
            cur = 0
    return lengths


@pytest.mark.parametrize("length", [2, 7, 48, 200])
def test_random_spans_mask_has_the_promised_counts(length):
    g = gen()
    n, k = span_counts(length)
    for _ in range(50):
        m = random_spans_mask(length, generator=g)
        assert m.dtype == torch.bool and m.shape == (length,)
        assert int(m.sum()) == n and len(runs(m)) == k


def test_random_spans_mask_is_uniform():
    # length 6, n = 3, k = 2: the masks with 3 ones in exactly 2 runs
    g = gen()
    counts = {}
    trials = 12_000
    for _ in range(trials):
        key = tuple(random_spans_mask(6, noise_density=0.5, mean_span_length=1.5,
                                      generator=g).int().tolist())
        counts[key] = counts.get(key, 0) + 1
    # kept tokens: 3 in 3 stretches, inner >= 1: C(4, 2) = 6; noise 3 in 2 runs: 2 ways
    assert len(counts) == 12
    for c in counts.values():
        assert within(c / trials, 1 / 12, trials)


def test_span_corruption_example_and_round_trip():
    ids = torch.tensor([10, 11, 12, 13, 14, 15, 16, 17])
    mask = torch.tensor([0, 1, 1, 0, 0, 1, 0, 1], dtype=torch.bool)
    x, y = corrupt_spans(ids, mask, sentinel_ids=SENTINELS)
    assert x.tolist() == [10, 100, 13, 14, 101, 16, 102]
    assert y.tolist() == [100, 11, 12, 101, 15, 102, 17, 103]
    assert torch.equal(reconstruct_spans(x, y, sentinel_ids=SENTINELS), ids)
    # nothing corrupted: only the final sentinel
    x, y = corrupt_spans(ids, torch.zeros(8, dtype=torch.bool), sentinel_ids=SENTINELS)
    assert torch.equal(x, ids) and y.tolist() == [100]
    assert torch.equal(reconstruct_spans(x, y, sentinel_ids=SENTINELS), ids)


def test_span_corruption_random_round_trip_and_lengths():
    g = gen(5)
    for length in [2, 3, 10, 47, 120]:
        for _ in range(30):
            ids = torch.randint(5, V, (length,), generator=g)
            x, y = span_corruption(ids, sentinel_ids=SENTINELS, generator=g)
            n, k = span_counts(length)
            assert len(x) == length - n + k and len(y) == n + k + 1
            assert torch.equal(reconstruct_spans(x, y, sentinel_ids=SENTINELS), ids)


def test_span_corruption_deterministic():
    ids = torch.arange(5, 45)
    a = span_corruption(ids, sentinel_ids=SENTINELS, generator=gen(1))
    b = span_corruption(ids, sentinel_ids=SENTINELS, generator=gen(1))
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_span_corruption_errors():
    ids = torch.arange(5, 45)
    with pytest.raises(ValueError, match="need 4 sentinels"):
        corrupt_spans(torch.arange(10, 16), torch.tensor([1, 0, 1, 0, 1, 0], dtype=torch.bool),
                      sentinel_ids=[100, 101, 102])
    with pytest.raises(ValueError, match="already contain a sentinel"):
        span_corruption(torch.tensor([5, 100, 7]), sentinel_ids=SENTINELS, generator=gen())
    with pytest.raises(ValueError, match="at least 2 token"):
        span_corruption(torch.tensor([5]), sentinel_ids=SENTINELS, generator=gen())
    with pytest.raises(ValueError, match="span_corruption_batch"):
        span_corruption(ids[None], sentinel_ids=SENTINELS, generator=gen())
    with pytest.raises(TypeError, match="dtype torch.long"):
        span_corruption(ids.float(), sentinel_ids=SENTINELS, generator=gen())
    with pytest.raises(ValueError, match="distinct non-negative"):
        span_corruption(ids, sentinel_ids=[100, 100], generator=gen())
    with pytest.raises(ValueError, match="same shape"):
        corrupt_spans(ids, torch.zeros(3, dtype=torch.bool), sentinel_ids=SENTINELS)


def test_reconstruct_rejects_mismatched_pairs():
    s = SENTINELS
    with pytest.raises(ValueError, match="start with the first sentinel"):
        reconstruct_spans(torch.tensor([5, s[0]]), torch.tensor([6, s[0], 7, s[1]]), sentinel_ids=s)
    with pytest.raises(ValueError, match="in order"):
        reconstruct_spans(torch.tensor([5, s[0]]), torch.tensor([s[1], 7, s[0]]), sentinel_ids=s)
    with pytest.raises(ValueError, match="end with a final sentinel"):
        reconstruct_spans(torch.tensor([5, s[0]]), torch.tensor([s[0], 7]), sentinel_ids=s)
    with pytest.raises(ValueError, match="do not match"):
        reconstruct_spans(torch.tensor([5, 6]), torch.tensor([s[0], 7, s[1]]), sentinel_ids=s)
    with pytest.raises(ValueError, match="do not match"):
        reconstruct_spans(torch.tensor([s[0], s[1]]), torch.tensor([s[0], 7, s[1]]), sentinel_ids=s)


def test_pad_sequences_and_span_batch():
    seqs = [torch.arange(5, 25), torch.arange(5, 9), torch.tensor([7, 8])]
    assert pad_sequences(seqs, PAD).tolist()[2] == [7, 8] + [PAD] * 18
    x, labels = span_corruption_batch(seqs, sentinel_ids=SENTINELS, pad_id=PAD, generator=gen())
    g = gen()
    for i, s in enumerate(seqs):  # same draws as one call at a time
        xi, yi = span_corruption(s, sentinel_ids=SENTINELS, generator=g)
        assert x[i, : len(xi)].tolist() == xi.tolist() and (x[i, len(xi):] == PAD).all()
        assert labels[i, : len(yi)].tolist() == yi.tolist()
        assert (labels[i, len(yi):] == IGNORE_INDEX).all()
    logits = torch.randn(*labels.shape, 200)
    counted = labels != IGNORE_INDEX
    assert int(counted.sum()) == sum(span_counts(len(s))[0] + span_counts(len(s))[1] + 1 for s in seqs)
    torch.testing.assert_close(
        lm_loss(logits, labels),
        F.cross_entropy(logits[counted], labels[counted]))
    with pytest.raises(ValueError, match="non-empty list"):
        pad_sequences([], PAD)
    with pytest.raises(ValueError, match="pad_id must be a non-negative int"):
        span_corruption_batch(seqs, sentinel_ids=SENTINELS, pad_id=-1, generator=gen())
