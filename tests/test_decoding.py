"""Tests of llmbook.decoding: greedy and beam search on a table and on a Transformer."""
import math

import pytest
import torch

from llmbook import decoding, transformer

BOS, EOS, V = 2, 3, 8  # tokens 4.. are "a", "b", ...


def table_step(table: dict[tuple[int, ...], dict[int, float]]):
    """A step function from next-token probabilities per prefix (without <bos>); one source."""
    def step(prefix, rows):
        out = torch.full((prefix.shape[0], V), -math.inf, dtype=torch.float64)
        for i, row in enumerate(prefix[:, 1:].tolist()):
            key = tuple(t for t in row)
            for tok, p in table.get(key, {EOS: 1.0}).items():
                out[i, tok] = math.log(p)
        return out
    return step


# greedy takes 4 (0.6), then its best continuation has only 0.28; 5 (0.4) has two strong ones
TRAP = {(): {4: 0.6, 5: 0.4},
        (4,): {6: 0.28, 7: 0.24, 5: 0.24, 4: 0.24},
        (5,): {6: 0.55, 7: 0.45}}  # every other prefix ends: <eos> with probability 1


def test_greedy_and_beam_on_a_table():
    step = table_step(TRAP)
    g = decoding.greedy_search(step, 1, BOS, EOS, 5)
    assert g.tokens == [[4, 6]] and g.length.tolist() == [3] and g.finished.tolist() == [True]
    assert math.isclose(g.logprob.item(), math.log(0.6 * 0.28))
    b = decoding.beam_search(step, 1, BOS, EOS, 5, beam_size=2)
    assert b.tokens == [[5, 6]]
    assert math.isclose(b.logprob.item(), math.log(0.4 * 0.55))
    assert b.logprob.item() > g.logprob.item()  # here the beam finds a better translation


# greedy's path 4, 4 scores 0.5 * 0.24 = 0.12; with beam_size 2 it is pruned at step 2 by
# 5, 4 (0.165) and 5, 5 (0.135), whose continuations all end below 0.12
PRUNED = {(): {4: 0.5, 5: 0.3, 6: 0.2},
          (4,): {4: 0.24, 5: 0.19, 6: 0.19, 7: 0.19, EOS: 0.19},
          (5,): {4: 0.55, 5: 0.45},
          (5, 4): {EOS: 0.6, 4: 0.1, 5: 0.1, 6: 0.1, 7: 0.1},
          (5, 5): {EOS: 0.6, 4: 0.1, 5: 0.1, 6: 0.1, 7: 0.1}}


def test_beam_can_score_below_greedy():
    """The pruned beam need not contain greedy's path: a counterexample."""
    step = table_step(PRUNED)
    g = decoding.greedy_search(step, 1, BOS, EOS, 6)
    b = decoding.beam_search(step, 1, BOS, EOS, 6, beam_size=2)
    assert g.tokens == [[4, 4]] and math.isclose(g.logprob.item(), math.log(0.12))
    assert b.tokens == [[5, 4]] and math.isclose(b.logprob.item(), math.log(0.3 * 0.55 * 0.6))
    assert b.logprob.item() < g.logprob.item()
    b3 = decoding.beam_search(step, 1, BOS, EOS, 6, beam_size=3)  # a wider beam keeps it
    assert b3.logprob.item() >= g.logprob.item()


def test_length_penalty_and_selection():
    torch.testing.assert_close(decoding.length_penalty(torch.tensor([0, 1, 4]), 0.5),
                               torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64))
    # a short output (0.3 * 1.0) against a long one (0.7 * 0.6^3): raw log-prob prefers the short
    table = {(): {EOS: 0.3, 4: 0.7}, (4,): {5: 0.6, 6: 0.4}, (4, 5): {6: 0.6, 7: 0.4},
             (4, 5, 6): {EOS: 0.6, 7: 0.4}}
    step = table_step(table)
    raw = decoding.beam_search(step, 1, BOS, EOS, 6, beam_size=2, alpha=0.0)
    normed = decoding.beam_search(step, 1, BOS, EOS, 6, beam_size=2, alpha=1.0)
    assert raw.tokens == [[]] and raw.length.tolist() == [1]
    assert normed.tokens == [[4, 5, 6]] and normed.length.tolist() == [4]
    assert math.isclose(normed.score.item(), math.log(0.7 * 0.6 ** 3) / 4)
    with pytest.raises(ValueError, match="alpha must be a number in"):
        decoding.length_penalty(torch.tensor([1]), -1.0)
    nbest = decoding.beam_search_nbest(step, 1, BOS, EOS, 6, beam_size=2)
    assert len(nbest) == 1 and sorted(nbest[0].tokens) == [[], [4, 5, 6]]
    assert decoding.select_best(nbest, 1.0).tokens == [[4, 5, 6]]
    assert decoding.select_best(nbest, 0.0).tokens == [[]]
    with pytest.raises(ValueError, match="nbest is empty"):
        decoding.select_best([], 0.0)


def test_bad_arguments():
    step = table_step(TRAP)
    with pytest.raises(ValueError, match="beam_size must be a positive int .1 is greedy search., got 0"):
        decoding.beam_search(step, 1, BOS, EOS, 5, beam_size=0)
    with pytest.raises(ValueError, match="max_len must be an int >= 1, got 0"):
        decoding.greedy_search(step, 1, BOS, EOS, 0)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        decoding.beam_search(step, 0, BOS, EOS, 5, beam_size=2)


def test_unfinished_hypotheses_are_cut_at_max_len():
    g = decoding.greedy_search(table_step({(): {4: 1.0}, (4,): {4: 1.0}, (4, 4): {4: 1.0}}),
                               1, BOS, EOS, 2)
    assert g.tokens == [[4, 4]] and g.finished.tolist() == [False] and g.length.tolist() == [2]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = transformer.Transformer(11, 9, d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.0,
                                    max_len=16).eval()
    src = torch.tensor([[4, 5, 6, 3, 0], [7, 8, 9, 10, 3]])
    return model, src


def test_transformer_step_greedy_matches_the_model(tiny):
    model, src = tiny
    step = decoding.transformer_step(model, src)
    g = decoding.greedy_search(step, 2, BOS, EOS, 6)
    ref = model.greedy_decode(src, BOS, EOS, 6)[:, 1:].tolist()
    for toks, row in zip(g.tokens, ref):
        assert row[: len(toks)] == toks
    lp = decoding.sequence_logprob(model, src, g.tokens, BOS, EOS, 0)
    finished = g.finished
    torch.testing.assert_close(g.logprob[finished], lp[finished])


def test_beam_of_one_is_greedy_and_wider_beams_score_consistently(tiny):
    model, src = tiny
    step = decoding.transformer_step(model, src)
    g = decoding.greedy_search(step, 2, BOS, EOS, 8)
    b1 = decoding.beam_search(step, 2, BOS, EOS, 8, beam_size=1)
    assert b1.tokens == g.tokens
    torch.testing.assert_close(b1.logprob, g.logprob)
    for alpha in (0.0, 1.0):
        b = decoding.beam_search(step, 2, BOS, EOS, 8, beam_size=4, alpha=alpha)
        fin = b.finished
        lp = decoding.sequence_logprob(model, src, b.tokens, BOS, EOS, 0)
        torch.testing.assert_close(b.logprob[fin], lp[fin])  # the search's score is log p(y|x)
        torch.testing.assert_close(b.score, b.logprob / decoding.length_penalty(b.length, alpha))


def test_transformer_step_rejects_bad_input(tiny):
    model, src = tiny
    with pytest.raises(ValueError, match="empty source sentence"):
        decoding.transformer_step(model, torch.zeros(2, 0, dtype=torch.long))
    model.train()
    try:
        with pytest.raises(ValueError, match=r"call model.eval\(\) before decoding"):
            decoding.transformer_step(model, src)
    finally:
        model.eval()
    with pytest.raises(ValueError, match="got 1 targets for 2 source sentences"):
        decoding.sequence_logprob(model, src, [[4]], BOS, EOS, 0)
