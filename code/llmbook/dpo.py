"""Direct preference optimisation (DPO) of the book's small GPT (section 8.4).

* ``optimal_policy`` and ``kl_regularised_objective``: the KL-regularised reward objective and
  its closed-form maximiser pi* = pi_ref exp(r / beta) / Z (Eq. eq-dpo-optimal).
* ``dpo_loss`` (Eq. eq-dpo-loss) and ``implicit_reward`` (Eq. eq-dpo-implicit) from summed
  log-probabilities of chosen and rejected responses; ``response_logprob`` computes those sums.
* ``make_preference_pairs``: sample two continuations of each prompt from the reference model and
  prefer the one the sentiment classifier finds more positive.
* ``train_dpo``, ``evaluate_policy`` (share of positive continuations, KL per token to the
  reference, Eq. eq-dpo-kl-mc and eq-dpo-kl-exact).
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmbook import sampling

__all__ = ["optimal_policy", "kl_regularised_objective", "implicit_reward", "dpo_loss",
           "response_logprob", "PreferencePairs", "make_preference_pairs", "DPOConfig", "train_dpo",
           "response_mask", "kl_estimates", "evaluate_policy", "prompts_of"]


def _check_beta(beta: float) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
        raise ValueError(f"beta must be a positive number (the strength of the KL penalty), got {beta!r}")
    return float(beta)


# ---------------------------------------------------------------------------- theory
def optimal_policy(ref_probs: torch.Tensor, rewards: torch.Tensor, beta: float) -> torch.Tensor:
    """pi*(y) = pi_ref(y) exp(r(y) / beta) / Z along the last dim: Eq. (eq-dpo-optimal)."""
    beta = _check_beta(beta)
    if ref_probs.shape != rewards.shape:
        raise ValueError(f"ref_probs has shape {tuple(ref_probs.shape)} but rewards has "
                         f"{tuple(rewards.shape)}; pass one reward per response")
    return torch.softmax(torch.log(ref_probs) + rewards / beta, dim=-1)


def kl_regularised_objective(probs: torch.Tensor, ref_probs: torch.Tensor, rewards: torch.Tensor,
                             beta: float) -> torch.Tensor:
    """E_pi[r] - beta KL(pi || pi_ref) along the last dim: Eq. (eq-dpo-objective)."""
    beta = _check_beta(beta)
    if not probs.shape == ref_probs.shape == rewards.shape:
        raise ValueError(f"probs {tuple(probs.shape)}, ref_probs {tuple(ref_probs.shape)} and rewards "
                         f"{tuple(rewards.shape)} must have the same shape")
    safe = torch.where(probs > 0, probs, torch.ones_like(probs))
    kl = (probs * (torch.log(safe) - torch.log(ref_probs))).sum(-1)  # 0 log 0 = 0
    return (probs * rewards).sum(-1) - beta * kl


def implicit_reward(policy_logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """beta log pi(y|x) / pi_ref(y|x), the reward a policy defines up to beta log Z(x): Eq. (eq-dpo-implicit)."""
    return _check_beta(beta) * (policy_logp - ref_logp)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean of -log sigmoid(beta [(log pi_w - log ref_w) - (log pi_l - log ref_l)]): Eq. (eq-dpo-loss)."""
    shapes = {tuple(t.shape) for t in (policy_chosen, policy_rejected, ref_chosen, ref_rejected)}
    if len(shapes) != 1:
        raise ValueError(f"the four log-probability tensors must have the same shape (N,), got {sorted(shapes)}")
    margin = implicit_reward(policy_chosen, ref_chosen, beta) - implicit_reward(policy_rejected, ref_rejected, beta)
    return -F.logsigmoid(margin).mean()


def response_logprob(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum_t mask[:, t] log p(ids[:, t+1] | ids[:, :t+1]): log pi(y|x) of each response, shape (N,)."""
    if mask.shape != (ids.shape[0], ids.shape[1] - 1):
        raise ValueError(f"mask must have shape (N, T-1) = {(ids.shape[0], ids.shape[1] - 1)} (one flag per "
                         f"target position), got {tuple(mask.shape)}")
    logits = model(ids[:, :-1])[0]  # (N, T-1, V)
    logp = logits.log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]  # (N, T-1)
    return (logp * mask).sum(-1)


# ---------------------------------------------------------------------------- preference data
@dataclass
class PreferencePairs:
    """Prompts with a chosen and a rejected continuation, as padded id tensors and response masks."""

    prompts: list[str]
    chosen: torch.Tensor  # (N, T) ids: <bos>, prompt, response (<eos>-padded)
    rejected: torch.Tensor  # (N, T)
    chosen_mask: torch.Tensor  # (N, T-1) float: 1 where the target is a response token
    rejected_mask: torch.Tensor  # (N, T-1)
    chosen_text: list[str]
    rejected_text: list[str]
    score_gap: torch.Tensor  # (N,) p(positive | chosen) - p(positive | rejected) >= 0

    def __len__(self) -> int:
        return len(self.prompts)


def response_mask(ids: torch.Tensor, prompt_len: int, eos_id: int) -> torch.Tensor:
    """(N, T-1) float mask of the targets from position prompt_len up to the first <eos> included."""
    pos = torch.arange(1, ids.shape[1])  # position of each target
    is_eos = (ids[:, 1:] == eos_id) & (pos >= prompt_len)
    after_eos = (is_eos.cumsum(-1) - is_eos.long()) > 0  # strictly after the first <eos>
    return ((pos >= prompt_len) & ~after_eos).float()


def _texts(tokenizer, ids: torch.Tensor, start: int) -> list[str]:
    return [tokenizer.decode(row[start:]) for row in ids.tolist()]  # decode drops <eos>/<pad>


def make_preference_pairs(model: nn.Module, tokenizer, prompts: Sequence[str], scorer: sampling.SentimentScorer,
                          max_new_tokens: int, generator: torch.Generator) -> PreferencePairs:
    """Two samples (temperature 1) of each prompt from ``model``; the more positive one is chosen."""
    prompts = list(prompts)
    lengths = {len(tokenizer.encode(p)) for p in prompts}
    if len(lengths) != 1:
        raise ValueError(f"all prompts must encode to the same number of tokens, got lengths {sorted(lengths)}")
    prompt_ids = torch.tensor([[tokenizer.bos_id] + tokenizer.encode(p) for p in prompts])
    P = prompt_ids.shape[1]
    both = sampling.sample(model, prompt_ids.repeat_interleave(2, 0), max_new_tokens,
                           generator=generator, eos_id=tokenizer.eos_id)  # rows 2i, 2i+1: prompt i
    pad = max_new_tokens + P - both.shape[1]  # sample stops early when every row has ended
    both = F.pad(both, (0, pad), value=tokenizer.eos_id)
    scores = scorer.prob_positive([p + c for p, c in zip(sum(([p, p] for p in prompts), []),
                                                          _texts(tokenizer, both, P))]).view(-1, 2)
    first_wins = scores[:, 0] >= scores[:, 1]  # (N,)
    a, b = both[0::2], both[1::2]
    chosen = torch.where(first_wins[:, None], a, b)
    rejected = torch.where(first_wins[:, None], b, a)
    return PreferencePairs(
        prompts, chosen, rejected, response_mask(chosen, P, tokenizer.eos_id),
        response_mask(rejected, P, tokenizer.eos_id), _texts(tokenizer, chosen, P), _texts(tokenizer, rejected, P),
        (scores[:, 0] - scores[:, 1]).abs().float())


# ---------------------------------------------------------------------------- training
@dataclass
class DPOConfig:
    """Settings of one DPO run: the KL strength beta and AdamW on mini-batches of pairs."""

    beta: float = 0.1
    steps: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0  # seeds the order of the pairs

    def __post_init__(self) -> None:
        _check_beta(self.beta)
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")


def train_dpo(reference: nn.Module, pairs: PreferencePairs, cfg: DPOConfig) -> tuple[nn.Module, list[dict]]:
    """A copy of ``reference`` trained with Eq. (eq-dpo-loss); returns it (eval mode) and the history."""
    policy = copy.deepcopy(reference).train()
    for p in policy.parameters():
        p.requires_grad_(True)
    with torch.no_grad():
        ref_w = response_logprob(reference, pairs.chosen, pairs.chosen_mask)
        ref_l = response_logprob(reference, pairs.rejected, pairs.rejected_mask)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    order, history = torch.empty(0, dtype=torch.long), []
    for step in range(cfg.steps):
        if len(order) < cfg.batch_size:  # walk through shuffled epochs
            order = torch.cat([order, torch.randperm(len(pairs), generator=gen)])
        batch, order = order[:cfg.batch_size], order[cfg.batch_size:]
        pi_w = response_logprob(policy, pairs.chosen[batch], pairs.chosen_mask[batch])
        pi_l = response_logprob(policy, pairs.rejected[batch], pairs.rejected_mask[batch])
        loss = dpo_loss(pi_w, pi_l, ref_w[batch], ref_l[batch], cfg.beta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        margin = (implicit_reward(pi_w, ref_w[batch], cfg.beta) - implicit_reward(pi_l, ref_l[batch], cfg.beta)).detach()
        history.append({"step": step + 1, "loss": loss.item(), "margin": margin.mean().item(),
                        "accuracy": (margin > 0).float().mean().item()})
    return policy.eval(), history


# ---------------------------------------------------------------------------- evaluation
@torch.no_grad()
def kl_estimates(policy: nn.Module, reference: nn.Module, ids: torch.Tensor, mask: torch.Tensor
                 ) -> tuple[float, float]:
    """KL(pi || pi_ref) per response token from samples y ~ pi: (Monte Carlo Eq. eq-dpo-kl-mc, exact-step Eq. eq-dpo-kl-exact)."""
    lp = policy(ids[:, :-1])[0].log_softmax(-1)  # (N, T-1, V)
    lq = reference(ids[:, :-1])[0].log_softmax(-1)
    target = ids[:, 1:, None]
    log_ratio = (lp.gather(-1, target) - lq.gather(-1, target))[..., 0]  # (N, T-1)
    step_kl = (lp.exp() * (lp - lq)).sum(-1)  # KL of the next-token distributions, (N, T-1)
    n = mask.sum()
    return ((log_ratio * mask).sum() / n).item(), ((step_kl * mask).sum() / n).item()


@torch.no_grad()
def evaluate_policy(policy: nn.Module, reference: nn.Module, tokenizer, prompts: Sequence[str],
                    scorer: sampling.SentimentScorer, max_new_tokens: int, generator: torch.Generator) -> dict:
    """Sample one continuation per prompt from ``policy``; positive share and KL per token to ``reference``."""
    prompt_ids = torch.tensor([[tokenizer.bos_id] + tokenizer.encode(p) for p in prompts])
    P = prompt_ids.shape[1]
    ids = sampling.sample(policy, prompt_ids, max_new_tokens, generator=generator, eos_id=tokenizer.eos_id)
    mask = response_mask(ids, P, tokenizer.eos_id)
    texts = _texts(tokenizer, ids, P)
    p_pos = scorer.prob_positive([p + c for p, c in zip(prompts, texts)])
    kl_mc, kl_exact = kl_estimates(policy, reference, ids, mask)
    return {"positive_share": (p_pos > 0.5).double().mean().item(), "mean_p_positive": p_pos.mean().item(),
            "kl_mc": kl_mc, "kl_exact": kl_exact, "tokens_per_response": (mask.sum() / len(prompts)).item(),
            "texts": [p + c for p, c in zip(prompts, texts)]}


def prompts_of(texts: Sequence[str], n: int, chars: int) -> list[str]:
    """The first ``chars`` characters of the first ``n`` texts that have at least 2 * chars characters."""
    out = [t[:chars] for t in texts if len(t) >= 2 * chars][:n]
    if len(out) < n:
        raise ValueError(f"only {len(out)} texts have at least {2 * chars} characters, but n={n} prompts "
                         "were asked for; pass a smaller n or more texts")
    return out
