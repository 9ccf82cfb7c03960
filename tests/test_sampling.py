"""Tests of llmbook.sampling: logit transformations, batched sampling, metrics, sentiment scorer."""
import math

import pytest
import torch

from llmbook import sampling
from llmbook.gpt import GPT, GPTConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=2, n_embd=16)).eval()


def logits_example():
    return torch.tensor([[2.0, 1.0, 0.0, -1.0, -3.0], [0.5, 0.5, 0.5, 0.5, 0.5]])


def test_temperature_scales_logits_and_sharpens():
    z = logits_example()
    torch.testing.assert_close(sampling.apply_temperature(z, 0.5), 2 * z)
    p_cold = sampling.apply_temperature(z, 0.5).softmax(-1)
    p_hot = sampling.apply_temperature(z, 2.0).softmax(-1)
    assert p_cold[0, 0] > z.softmax(-1)[0, 0] > p_hot[0, 0]
    torch.testing.assert_close(p_cold.sum(-1), torch.ones(2))


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), True, "1"])
def test_temperature_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="temperature must be a positive finite number"):
        sampling.apply_temperature(logits_example(), bad)


def test_logits_must_be_2d_float():
    with pytest.raises(ValueError, match=r"shape \(B, V\).*logits\[None\]"):
        sampling.top_k_filter(torch.zeros(5), 2)
    with pytest.raises(TypeError, match="floating-point"):
        sampling.top_k_filter(torch.zeros(2, 5, dtype=torch.long), 2)


def test_top_k_keeps_exactly_k_even_with_ties():
    out = sampling.top_k_filter(logits_example(), 2)
    assert torch.equal(torch.isfinite(out).sum(-1), torch.tensor([2, 2]))
    assert torch.equal(out[0, :2], torch.tensor([2.0, 1.0]))
    p = out.softmax(-1)
    torch.testing.assert_close(p.sum(-1), torch.ones(2))
    torch.testing.assert_close(p[0, :2], logits_example()[0, :2].softmax(-1))  # renormalised
    torch.testing.assert_close(sampling.top_k_filter(logits_example(), 5), logits_example())


@pytest.mark.parametrize("k, match", [(6, r"k=6 is larger than the vocabulary \(V=5\)"), (0, "positive int"),
                                      (2.0, "positive int")])
def test_top_k_rejects_bad_k(k, match):
    with pytest.raises(ValueError, match=match):
        sampling.top_k_filter(logits_example(), k)


def test_top_p_keeps_smallest_nucleus():
    z = torch.log(torch.tensor([[0.5, 0.3, 0.1, 0.06, 0.04]]))
    for p, size in [(0.3, 1), (0.49, 1), (0.51, 2), (0.79, 2), (0.85, 3), (0.95, 4), (0.99, 5), (1.0, 5)]:
        out = sampling.top_p_filter(z, p)
        assert int(torch.isfinite(out).sum()) == size, p
        q = out.softmax(-1)
        torch.testing.assert_close(q.sum(-1), torch.ones(1))
        kept = torch.isfinite(out)
        torch.testing.assert_close(q[kept], z.exp()[kept] / z.exp()[kept].sum())


def test_top_p_works_on_unsorted_rows():
    z = torch.log(torch.tensor([[0.1, 0.6, 0.3], [0.3, 0.1, 0.6]]))
    kept = torch.isfinite(sampling.top_p_filter(z, 0.8))
    assert kept.tolist() == [[False, True, True], [True, False, True]]


@pytest.mark.parametrize("p", [0, -0.1, 1.5, float("nan"), None])
def test_top_p_rejects_p_outside_unit_interval(p):
    with pytest.raises(ValueError, match=r"top-p must be in \(0, 1\]"):
        sampling.top_p_filter(logits_example(), p)


def test_repetition_penalty_is_asymmetric():
    z = torch.tensor([[2.0, -2.0, 1.0, -1.0]])
    out = sampling.repetition_penalty(z, torch.tensor([[0, 1, 1]]), 2.0)
    assert out.tolist() == [[1.0, -4.0, 1.0, -1.0]]  # positive halved, negative doubled, unseen kept
    torch.testing.assert_close(sampling.repetition_penalty(z, torch.tensor([[0]]), 1.0), z)


def test_repetition_penalty_rejects_bad_input():
    z = logits_example()
    with pytest.raises(ValueError, match="penalty must be a positive finite number"):
        sampling.repetition_penalty(z, torch.zeros(2, 1, dtype=torch.long), 0.0)
    with pytest.raises(ValueError, match=r"previous_ids must be an integer tensor of shape \(B=2, T\)"):
        sampling.repetition_penalty(z, torch.zeros(3, 1, dtype=torch.long), 1.2)


def test_process_logits_chains_in_order():
    z = logits_example()
    prev = torch.tensor([[0], [1]])
    want = sampling.top_p_filter(sampling.top_k_filter(
        sampling.apply_temperature(sampling.repetition_penalty(z, prev, 1.5), 0.7), 3), 0.9)
    got = sampling.process_logits(z, prev, temperature=0.7, top_k=3, top_p=0.9, penalty=1.5)
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="needs previous_ids"):
        sampling.process_logits(z, None, penalty=1.5)


def test_sample_shapes_determinism_and_greedy(model):
    prompt = torch.tensor([[1, 2], [3, 4], [5, 6]])
    a = sampling.sample(model, prompt, 10, generator=torch.Generator().manual_seed(0))
    b = sampling.sample(model, prompt, 10, generator=torch.Generator().manual_seed(0))
    assert a.shape == (3, 12) and torch.equal(a, b) and torch.equal(a[:, :2], prompt)
    greedy = sampling.sample(model, prompt, 10, temperature=0)  # crosses block_size = 8 too
    torch.testing.assert_close(greedy, model.generate(prompt, 10, temperature=0.0))


def test_sample_top_k_one_is_greedy(model):
    prompt = torch.tensor([[1], [2]])
    top1 = sampling.sample(model, prompt, 6, top_k=1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(top1, sampling.sample(model, prompt, 6, temperature=0))


def test_sample_stops_at_eos_and_pads(model):
    prompt = torch.zeros(8, 1, dtype=torch.long)
    out = sampling.sample(model, prompt, 30, temperature=3.0, eos_id=3, generator=torch.Generator().manual_seed(0))
    for row in out.tolist():
        if 3 in row[1:]:
            first = row.index(3, 1)
            assert all(t == 3 for t in row[first:])
    assert out.shape[1] <= 31


def test_sample_rejects_bad_input(model):
    with pytest.raises(ValueError, match=r"prompt_ids must be a \(B, T0\) tensor"):
        sampling.sample(model, torch.tensor([1, 2]), 3)
    with pytest.raises(ValueError, match="max_new_tokens must be a non-negative int"):
        sampling.sample(model, torch.tensor([[1]]), -1)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        sampling.sample(model, torch.tensor([[1]]), 3, temperature=-1)
    with pytest.raises(ValueError, match="larger than the vocabulary"):
        sampling.sample(model, torch.tensor([[1]]), 3, top_k=100)
    with pytest.raises(ValueError, match="top-p must be in"):
        sampling.sample(model, torch.tensor([[1]]), 3, top_p=1.2)


def test_token_logprobs_matches_cross_entropy(model):
    ids = torch.tensor([[1, 2, 3, 4], [4, 3, 2, 1]])
    lp = sampling.token_logprobs(model, ids)
    ce = torch.nn.functional.cross_entropy(model(ids[:, :-1])[0].flatten(0, 1), ids[:, 1:].flatten())
    assert lp.shape == (2, 3)
    assert math.isclose(-lp.mean().item(), ce.item(), rel_tol=1e-5)
    with pytest.raises(ValueError, match="T >= 2"):
        sampling.token_logprobs(model, torch.tensor([[1]]))
    with pytest.raises(ValueError, match="more than block_size"):
        sampling.token_logprobs(model, torch.ones(1, 10, dtype=torch.long))


def test_distinct_n_and_repetition_rate():
    assert sampling.distinct_n(["abab", "abcd"], 1) == 4 / 8
    assert sampling.distinct_n(["abab", "abcd"], 2) == 4 / 6  # ab, ba, bc, cd of ab ba ab ab bc cd
    assert sampling.distinct_n([[1, 2], [1, 2]], 2) == 0.5
    assert sampling.repetition_rate(["abcabc", "abcd"], 3) == pytest.approx((1 - 3 / 4 + 0) / 2)
    assert sampling.repetition_rate(["aaaaa", "x"], 2) == pytest.approx(3 / 4)  # "x" has no 2-gram


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="n must be a positive int"):
        sampling.distinct_n(["ab"], 0)
    with pytest.raises(ValueError, match="no 3-gram"):
        sampling.distinct_n(["ab"], 3)
    with pytest.raises(TypeError, match="not one str"):
        sampling.distinct_n("abc", 1)
    with pytest.raises(ValueError, match="no sequence has 4 or more tokens"):
        sampling.repetition_rate(["abc"], 4)


def test_sentiment_classifier():
    texts = ["很好很好", "好的满意", "非常好", "太差了", "很差", "差劲不满意"] * 3
    labels = [1, 1, 1, 0, 0, 0] * 3
    scorer = sampling.train_sentiment_classifier(texts, labels, min_freq=1, l2=0.1)
    p = scorer.prob_positive(["好", "差"])
    assert p.shape == (2,) and p[0] > 0.5 > p[1]
    assert scorer.predict(["好的", "太差"]).tolist() == [1, 0]
    with pytest.raises(ValueError, match="got 2 texts but 1 labels"):
        sampling.train_sentiment_classifier(["a", "b"], [1])
