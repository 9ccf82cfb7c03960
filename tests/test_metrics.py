import math

import pytest
import torch

from llmbook import metrics


def _random_probs(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(*shape, generator=g, dtype=dtype), dim=-1)


# ------------------------------------------------------------ entropy, cross-entropy, KL
def test_entropy_of_uniform_and_one_hot():
    uniform = torch.full((8,), 1 / 8, dtype=torch.float64)
    assert metrics.entropy(uniform).item() == pytest.approx(math.log(8))
    assert metrics.entropy(torch.tensor([0.0, 1.0, 0.0])).item() == 0.0  # 0 log 0 = 0, no nan


def test_entropy_matches_formula_along_dim():
    p = _random_probs(3, 5, seed=1)
    expected = -(p * p.log()).sum(-1)
    torch.testing.assert_close(metrics.entropy(p), expected)
    torch.testing.assert_close(metrics.entropy(p.T, dim=0), expected)


def test_cross_entropy_is_entropy_plus_kl():
    p, q = _random_probs(4, 6, seed=2), _random_probs(4, 6, seed=3)
    torch.testing.assert_close(metrics.cross_entropy(p, q),
                               metrics.entropy(p) + metrics.kl_divergence(p, q))
    torch.testing.assert_close(metrics.cross_entropy(p, q), -(p * q.log()).sum(-1))


def test_cross_entropy_with_zero_model_probability_is_infinite():
    p = torch.tensor([0.5, 0.5, 0.0])
    assert metrics.cross_entropy(p, torch.tensor([1.0, 0.0, 0.0])).item() == math.inf
    # outcomes with p = 0 never count, even where q = 0
    q = torch.tensor([0.5, 0.5, 0.0])
    assert metrics.cross_entropy(p, q).item() == pytest.approx(math.log(2))


def test_kl_is_nonnegative_and_zero_only_for_equal_distributions():
    p, q = _random_probs(50, 7, seed=4), _random_probs(50, 7, seed=5)
    assert bool((metrics.kl_divergence(p, q) > 0).all())
    torch.testing.assert_close(metrics.kl_divergence(p, p), torch.zeros(50, dtype=torch.float64))
    # support smaller than q's: finite; q zero where p is not: infinite
    assert metrics.kl_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5])).item() == \
        pytest.approx(math.log(2))
    kl = metrics.kl_divergence(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0]))
    assert kl.item() == math.inf


@pytest.mark.parametrize("fn", [metrics.cross_entropy, metrics.kl_divergence])
def test_bad_probabilities_are_rejected(fn):
    good = torch.tensor([0.25, 0.75])
    with pytest.raises(ValueError, match="does not sum to 1"):
        fn(torch.tensor([0.5, 0.6]), good)
    with pytest.raises(ValueError, match="not logits"):
        fn(good, torch.tensor([1.5, -0.5]))
    with pytest.raises(ValueError, match="same outcomes"):
        fn(good, torch.tensor([0.5, 0.25, 0.25]))
    with pytest.raises(TypeError, match="floating-point tensor"):
        fn([0.25, 0.75], good)
    with pytest.raises(TypeError, match="floating-point tensor"):
        fn(torch.tensor([0, 1]), good)
    with pytest.raises(ValueError, match="scalar"):
        fn(torch.tensor(1.0), torch.tensor(1.0))


def test_entropy_checks_the_dim():
    p = _random_probs(2, 3)
    with pytest.raises(ValueError, match="dim=0"):
        metrics.entropy(p, dim=0)


# ------------------------------------------------------------------- temperature_softmax
def test_temperature_one_is_softmax_and_scaling():
    z = torch.randn(3, 10, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    torch.testing.assert_close(metrics.temperature_softmax(z), torch.softmax(z, -1))
    torch.testing.assert_close(metrics.temperature_softmax(z, 0.5), torch.softmax(2 * z, -1))
    torch.testing.assert_close(metrics.temperature_softmax(z.T, 2, dim=0),
                               torch.softmax(z / 2, -1).T)


def test_temperature_limits():
    z = torch.tensor([[1.0, 3.0, 3.0, -2.0], [0.0, -math.inf, 5.0, 1.0]])
    cold = metrics.temperature_softmax(z, 0)
    torch.testing.assert_close(cold, torch.tensor([[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 1.0, 0.0]]))
    hot = metrics.temperature_softmax(z, math.inf)
    torch.testing.assert_close(hot, torch.tensor([[0.25] * 4, [1 / 3, 0.0, 1 / 3, 1 / 3]]))
    # the limits are approached continuously
    torch.testing.assert_close(metrics.temperature_softmax(z, 1e-3), cold)
    torch.testing.assert_close(metrics.temperature_softmax(z, 1e6), hot, atol=1e-5, rtol=0)


def test_temperature_entropy_increases():
    z = torch.randn(20, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    taus = [0.0, 0.1, 0.3, 1.0, 3.0, 10.0, math.inf]
    h = [metrics.entropy(metrics.temperature_softmax(z, t)).item() for t in taus]
    assert all(a < b for a, b in zip(h, h[1:]))
    assert h[0] == 0.0 and h[-1] == pytest.approx(math.log(20))


def test_masked_logits_get_zero_probability():
    z = torch.tensor([2.0, -math.inf, 0.0])
    for tau in (0.5, 1.0, 4.0):
        assert metrics.temperature_softmax(z, tau)[1].item() == 0.0


@pytest.mark.parametrize("tau", [-1.0, float("nan"), "1", True, None])
def test_temperature_rejects_bad_tau(tau):
    with pytest.raises(ValueError, match="tau must be a number"):
        metrics.temperature_softmax(torch.zeros(3), tau)


def test_temperature_rejects_bad_logits():
    with pytest.raises(ValueError, match="nan or \\+inf"):
        metrics.temperature_softmax(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="nan or \\+inf"):
        metrics.temperature_softmax(torch.tensor([0.0, math.inf]))
    with pytest.raises(ValueError, match="every logit equal to -inf"):
        metrics.temperature_softmax(torch.tensor([[0.0, 1.0], [-math.inf, -math.inf]]))
    with pytest.raises(TypeError, match="floating-point"):
        metrics.temperature_softmax(torch.tensor([1, 2]))


# -------------------------------------------------------------- bits and perplexity
def test_bits_and_perplexity_agree():
    nats = 3.8709
    bits = metrics.nats_to_bits(nats)
    assert bits == pytest.approx(nats / math.log(2))
    assert metrics.perplexity(nats) == pytest.approx(2 ** bits)
    assert metrics.perplexity(math.log(2000)) == pytest.approx(2000)  # uniform over 2000 symbols
    assert metrics.perplexity(0.0) == 1.0
    assert metrics.nats_to_bits(math.inf) == math.inf


def test_perplexity_rejects_bad_input():
    with pytest.raises(ValueError, match="did you pass a log-likelihood"):
        metrics.perplexity(-1.2)
    with pytest.raises(ValueError, match="must be a number"):
        metrics.perplexity(float("nan"))
    with pytest.raises(ValueError, match="must be a number"):
        metrics.perplexity("3.2")
    with pytest.raises(ValueError, match="must be a number"):
        metrics.nats_to_bits(None)
