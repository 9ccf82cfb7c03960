import math

import pytest
import torch
from scipy import stats

from llmbook.gpt import GPT, GPTConfig
from llmbook.speculative import (BigramLM, SpecStats, acceptance_rate, expected_tokens_per_call,
                                 output_distribution, residual_distribution, speculative_generate,
                                 verify)


def dist(v: int, seed: int, zero: int | None = None) -> torch.Tensor:
    d = torch.softmax(torch.randn(v, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), 0)
    if zero is not None:
        d[zero] = 0.0
        d = d / d.sum()
    return d


@pytest.mark.parametrize("seed", range(5))
def test_output_distribution_is_the_target(seed):
    p, q = dist(7, seed), dist(7, 100 + seed, zero=seed % 7)
    torch.testing.assert_close(output_distribution(p, q), p, rtol=0, atol=1e-12)
    torch.testing.assert_close(output_distribution(p, p), p, rtol=0, atol=1e-12)


def test_residual_and_acceptance_rate():
    p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    q = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    torch.testing.assert_close(residual_distribution(p, q), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert acceptance_rate(p, q) == pytest.approx(0.7)  # 1 - TV = 1 - 0.3
    torch.testing.assert_close(residual_distribution(p, p), p)  # never used, but defined


def test_expected_tokens_per_call():
    assert expected_tokens_per_call(0.0, 5) == 1.0
    assert expected_tokens_per_call(1.0, 5) == 6.0
    assert expected_tokens_per_call(0.5, 2) == pytest.approx(1.75)
    assert expected_tokens_per_call(0.5, 0) == pytest.approx(1.0)


def test_verify_single_step_matches_p_by_chi_square():
    p, q = dist(5, 0), dist(5, 1)
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(5)
    for _ in range(3000):
        x = torch.multinomial(q, 1, generator=g)
        tokens, _ = verify(torch.stack([p, p]), q[None], x, g)
        counts[tokens[0]] += 1
    assert stats.chisquare(counts.numpy(), (3000 * p).numpy()).pvalue > 0.01


def test_verify_accepts_everything_when_draft_equals_target():
    p = dist(4, 0)
    tokens, accepted = verify(torch.stack([p] * 4), torch.stack([p] * 3), torch.tensor([0, 1, 2]),
                              torch.Generator().manual_seed(0))
    assert accepted == 3 and tokens[:3] == [0, 1, 2] and len(tokens) == 4


def test_speculative_sequences_have_the_target_distribution():
    g = torch.Generator().manual_seed(0)
    target = BigramLM(torch.randn(2, 2, generator=g, dtype=torch.float64))
    draft = BigramLM(torch.randn(2, 2, generator=g, dtype=torch.float64))
    P = target.table.softmax(1)
    counts = torch.zeros(8)
    for _ in range(800):
        out, st = speculative_generate(target, draft, torch.zeros(1, 1, dtype=torch.long), 3, 2, generator=g)
        a, b, c = out[0, 1:].tolist()
        counts[4 * a + 2 * b + c] += 1
        assert 1 <= st.target_calls <= 3 and st.emitted >= 3
    exact = torch.tensor([P[0, a] * P[a, b] * P[b, c] for a in range(2) for b in range(2) for c in range(2)])
    assert stats.chisquare(counts.numpy(), (800 * exact).numpy()).pvalue > 0.01


def test_greedy_speculative_equals_target_greedy_with_a_gpt():
    torch.manual_seed(0)
    target = GPT(GPTConfig(vocab_size=20, block_size=24, n_layer=1, n_head=2, n_embd=16)).eval()
    stream = torch.randint(0, 20, (500,), generator=torch.Generator().manual_seed(0))
    draft = BigramLM.from_stream(stream, 20)
    start = torch.tensor([[3]])
    out, st = speculative_generate(target, draft, start, 16, gamma=3, temperature=0)
    assert torch.equal(out, target.generate(start, 16, temperature=0))
    assert st.proposed == 3 * st.target_calls and 0 <= st.acceptance <= 1
    assert st.expected_accepted == pytest.approx(st.accepted)  # one-hot p and q: beta is 0 or 1


def test_bigram_from_stream():
    stream = torch.tensor([0, 1, 0, 1, 0, 2])
    bi = BigramLM.from_stream(stream, 3, alpha=1.0)
    probs = bi(torch.tensor([[0]]))[0].softmax(-1)[0, 0]
    torch.testing.assert_close(probs, torch.tensor([1 / 6, 3 / 6, 2 / 6]))  # counts 0, 2, 1 plus 1 each
    uni = BigramLM.from_stream(stream, 3, alpha=1.0, unigram=True)
    rows = uni(torch.tensor([[0, 1, 2]]))[0].softmax(-1)[0]
    torch.testing.assert_close(rows[0], rows[2])
    torch.testing.assert_close(rows[0], torch.tensor([4 / 9, 3 / 9, 2 / 9]))


def test_spec_stats_properties():
    s = SpecStats(target_calls=4, proposed=8, evaluated=6, accepted=3, emitted=7)
    assert s.acceptance == 0.5 and s.tokens_per_call == 1.75
    assert SpecStats().acceptance == 0.0


def test_bad_inputs():
    p = dist(3, 0)
    with pytest.raises(ValueError, match="sum to 1"):
        residual_distribution(p * 2, p)
    with pytest.raises(ValueError, match="same vocabulary"):
        acceptance_rate(p, dist(4, 0))
    with pytest.raises(ValueError, match="1-D float tensor"):
        output_distribution(p[None], p)
    with pytest.raises(ValueError, match=r"alpha is a probability"):
        expected_tokens_per_call(1.5, 2)
    with pytest.raises(ValueError, match="gamma must be a non-negative int"):
        expected_tokens_per_call(0.5, -1)
    with pytest.raises(ValueError, match=r"need p_rows \(gamma\+1, V\)"):
        verify(torch.stack([p]), torch.stack([p]), torch.tensor([0]))
    with pytest.raises(ValueError, match="probability 0 under q_rows"):
        verify(torch.stack([p, p]), torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"square \(V, V\)"):
        BigramLM(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="outside"):
        BigramLM.from_stream(torch.tensor([0, 5]), 3)
    with pytest.raises(ValueError, match="alpha must be positive"):
        BigramLM.from_stream(torch.tensor([0, 1]), 3, alpha=0)
    target = GPT(GPTConfig(vocab_size=3, block_size=8, n_layer=1, n_head=1, n_embd=4))
    draft = BigramLM(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"shape \(1, T\)"):
        speculative_generate(target, draft, torch.zeros(2, 1, dtype=torch.long), 2, 2)
    with pytest.raises(ValueError, match="gamma must be an int >= 1"):
        speculative_generate(target, draft, torch.zeros(1, 1, dtype=torch.long), 2, 0)
    with pytest.raises(ValueError, match="exceeds the target's block_size=8"):
        speculative_generate(target, draft, torch.zeros(1, 1, dtype=torch.long), 6, 4)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        speculative_generate(target, draft, torch.zeros(1, 1, dtype=torch.long), 2, 2, temperature=-1)
