"""Tests of llmbook.dpo: optimal policy, DPO loss, response masks, pairs, training, KL estimates."""
import math

import pytest
import torch
import torch.nn.functional as F

from llmbook import dpo
from llmbook.gpt import GPT, GPTConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=10, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()


def test_optimal_policy_is_gibbs_and_maximises_objective():
    ref = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    r = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    beta = 0.5
    star = dpo.optimal_policy(ref, r, beta)
    want = ref * torch.exp(r / beta)
    torch.testing.assert_close(star, want / want.sum())
    best = dpo.kl_regularised_objective(star, ref, r, beta)
    # the maximum equals beta log Z
    assert math.isclose(best.item(), beta * math.log(want.sum().item()), rel_tol=1e-12)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        other = torch.softmax(torch.randn(3, generator=g, dtype=torch.float64), 0)
        assert dpo.kl_regularised_objective(other, ref, r, beta) < best


def test_theory_rejects_bad_input():
    ref = torch.tensor([0.5, 0.5])
    with pytest.raises(ValueError, match="beta must be a positive number"):
        dpo.optimal_policy(ref, torch.zeros(2), 0.0)
    with pytest.raises(ValueError, match="one reward per response"):
        dpo.optimal_policy(ref, torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="must have the same shape"):
        dpo.kl_regularised_objective(ref, ref, torch.zeros(3), 1.0)


def test_dpo_loss_by_hand_and_at_init():
    pw, pl = torch.tensor([-3.0, -5.0]), torch.tensor([-4.0, -4.5])
    rw, rl = torch.tensor([-3.5, -5.0]), torch.tensor([-4.0, -4.0])
    beta = 0.2
    margin = beta * ((pw - rw) - (pl - rl))
    want = -torch.log(torch.sigmoid(margin)).mean()
    torch.testing.assert_close(dpo.dpo_loss(pw, pl, rw, rl, beta), want)
    torch.testing.assert_close(dpo.dpo_loss(rw, rl, rw, rl, beta), torch.tensor(math.log(2)))
    torch.testing.assert_close(dpo.implicit_reward(pw, rw, beta), beta * (pw - rw))
    with pytest.raises(ValueError, match="same shape"):
        dpo.dpo_loss(pw, pl, rw, rl[:1], beta)
    with pytest.raises(ValueError, match="beta must be a positive number"):
        dpo.dpo_loss(pw, pl, rw, rl, -1.0)


def test_dpo_gradient_weights_by_sigmoid_of_negative_margin():
    pw, pl = torch.tensor([-3.0], requires_grad=True), torch.tensor([-4.0], requires_grad=True)
    rw, rl, beta = torch.tensor([-3.2]), torch.tensor([-3.9]), 0.5
    dpo.dpo_loss(pw, pl, rw, rl, beta).backward()
    m = beta * ((pw - rw) - (pl - rl)).detach()
    torch.testing.assert_close(pw.grad, -beta * torch.sigmoid(-m))
    torch.testing.assert_close(pl.grad, beta * torch.sigmoid(-m))


def test_response_mask_and_logprob(model):
    ids = torch.tensor([[0, 5, 6, 7, 2, 2], [0, 5, 2, 2, 2, 2]])  # eos_id = 2, prompt <bos> 5
    mask = dpo.response_mask(ids, prompt_len=2, eos_id=2)
    assert mask.tolist() == [[0, 1, 1, 1, 0], [0, 1, 0, 0, 0]]
    lp = dpo.response_logprob(model, ids, mask)
    full = model(ids[:, :-1])[0].log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]
    torch.testing.assert_close(lp, (full * mask).sum(-1))
    with pytest.raises(ValueError, match=r"mask must have shape \(N, T-1\)"):
        dpo.response_logprob(model, ids, mask[:, :-1])


class FirstTokenScorer:
    # prefers texts that contain the character "a"
    def prob_positive(self, texts):
        return torch.tensor([0.9 if "a" in t else 0.1 for t in texts], dtype=torch.float64)


class TinyTok:
    bos_id, eos_id = 0, 1
    chars = "__abcdefgh"

    def encode(self, text):
        return [self.chars.index(c) for c in text]

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids if i > 1)


def test_pairs_training_and_evaluation(model):
    tok, scorer = TinyTok(), FirstTokenScorer()
    pairs = dpo.make_preference_pairs(model, tok, ["bc"] * 16 + ["de"] * 16, scorer, 6, torch.Generator().manual_seed(0))
    assert len(pairs) == 32 and pairs.chosen.shape == pairs.rejected.shape
    assert torch.all(pairs.score_gap >= 0)
    for c, r in zip(pairs.chosen_text, pairs.rejected_text):
        assert ("a" in c) or ("a" not in r)  # the chosen one is never less preferred
    with pytest.raises(ValueError, match="same number of tokens"):
        dpo.make_preference_pairs(model, tok, ["b", "cd"], scorer, 3, torch.Generator())
    cfg = dpo.DPOConfig(beta=0.5, steps=15, batch_size=8, lr=1e-2)
    policy, history = dpo.train_dpo(model, pairs, cfg)
    assert math.isclose(history[0]["loss"], math.log(2), rel_tol=1e-5)  # policy == reference at step 1
    assert history[-1]["loss"] < history[0]["loss"]
    assert policy is not model and not policy.training
    result = dpo.evaluate_policy(policy, model, tok, ["bc"] * 32, scorer, 6, torch.Generator().manual_seed(1))
    assert result["kl_exact"] > 0 and 0 <= result["positive_share"] <= 1
    same = dpo.evaluate_policy(model, model, tok, ["bc"] * 8, scorer, 6, torch.Generator().manual_seed(1))
    assert same["kl_mc"] == 0 and same["kl_exact"] == 0


def test_dpo_config_and_prompts_reject_bad_input():
    with pytest.raises(ValueError, match="beta must be a positive number"):
        dpo.DPOConfig(beta=0)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        dpo.DPOConfig(steps=0)
    with pytest.raises(ValueError, match="lr must be positive"):
        dpo.DPOConfig(lr=0.0)
    assert dpo.prompts_of(["abcdef", "ab", "xyzuvw"], 2, 3) == ["abc", "xyz"]
    with pytest.raises(ValueError, match="only 1 texts have at least 4 characters"):
        dpo.prompts_of(["abcd", "a"], 2, 2)


def test_kl_estimates_agree_in_expectation(model):
    torch.manual_seed(1)
    other = GPT(model.config).eval()
    tok = TinyTok()
    ids = torch.cat([torch.zeros(4000, 1, dtype=torch.long)], 1)
    from llmbook import sampling
    ids = sampling.sample(other, ids, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(ids.shape[0], ids.shape[1] - 1)
    mc, exact = dpo.kl_estimates(other, model, ids, mask)
    assert exact > 0 and abs(mc - exact) < 0.2 * exact
