"""Decoding a language model: transformations of the next-token distribution (section 6.2).

* Pure functions on logits of shape (B, V): ``apply_temperature`` (Eq. eq-gen-temp),
  ``top_k_filter`` (Eq. eq-gen-topk), ``top_p_filter`` (nucleus, Eq. eq-gen-topp) and
  ``repetition_penalty`` (CTRL-style, Eq. eq-gen-rep); ``process_logits`` chains them.
* ``sample``: batched autoregressive sampling from a GPT with any of these settings.
* Metrics of samples: ``distinct_n`` (Eq. eq-gen-distinct), ``repetition_rate``
  (Eq. eq-gen-rep-rate), ``token_logprobs`` (the model's log-probability of each token).
* ``train_sentiment_classifier``: the chapter 2 classifier (bag of characters + logistic
  regression), used to judge the sentiment of generated text here and in section 8.4.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmbook import classifiers

__all__ = ["apply_temperature", "top_k_filter", "top_p_filter", "repetition_penalty",
           "process_logits", "sample", "token_logprobs", "distinct_n", "repetition_rate",
           "SentimentScorer", "train_sentiment_classifier"]


# ---------------------------------------------------------------------------- checks
def _check_logits(logits: torch.Tensor) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        got = logits.dtype if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise TypeError(f"logits must be a floating-point tensor of shape (B, V), got {got}")
    if logits.dim() != 2:
        hint = "; for one distribution use logits[None]" if logits.dim() == 1 else ""
        raise ValueError(f"logits must have shape (B, V), got {tuple(logits.shape)}{hint}")
    return logits


def _is_real(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# ---------------------------------------------------------------------------- transformations
def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """z / tau: softmax of the result is the tempered distribution, Eq. (eq-gen-temp)."""
    _check_logits(logits)
    if not _is_real(temperature) or not temperature > 0 or math.isinf(temperature):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}; "
                         "for greedy decoding take the arg-max instead (sample(..., temperature=0))")
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row, set the rest to -inf: Eq. (eq-gen-topk)."""
    _check_logits(logits)
    V = logits.shape[-1]
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if k > V:
        raise ValueError(f"k={k} is larger than the vocabulary (V={V}); pass k <= {V} "
                         "(k = V keeps every token, i.e. no filtering)")
    keep = logits.topk(k, dim=-1).indices  # (B, k); exactly k even with ties
    mask = torch.ones_like(logits, dtype=torch.bool).scatter_(-1, keep, False)
    return logits.masked_fill(mask, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most probable tokens with mass >= p (nucleus): Eq. (eq-gen-topp)."""
    _check_logits(logits)
    if not _is_real(p) or not 0 < p <= 1:
        raise ValueError(f"top-p must be in (0, 1], got {p!r}; p = 1 keeps every token, "
                         "small p keeps only the most probable ones")
    if p == 1:
        return logits.clone()
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # mass of the tokens ranked above each one
    drop_sorted = mass_before >= p  # the top token always stays (mass_before = 0 < p)
    drop = torch.zeros_like(drop_sorted).scatter_(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def repetition_penalty(logits: torch.Tensor, previous_ids: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL-style penalty on tokens already in ``previous_ids``: z / theta if z > 0 else z * theta, Eq. (eq-gen-rep)."""
    _check_logits(logits)
    if not _is_real(penalty) or not penalty > 0 or math.isinf(penalty):
        raise ValueError(f"penalty must be a positive finite number (1 = no penalty, > 1 "
                         f"discourages repeats), got {penalty!r}")
    if not isinstance(previous_ids, torch.Tensor) or previous_ids.dim() != 2 \
            or previous_ids.shape[0] != logits.shape[0] or previous_ids.is_floating_point():
        got = tuple(previous_ids.shape) if isinstance(previous_ids, torch.Tensor) else type(previous_ids).__name__
        raise ValueError(f"previous_ids must be an integer tensor of shape (B={logits.shape[0]}, T), "
                         f"got {got}")
    if penalty == 1 or previous_ids.numel() == 0:
        return logits.clone()
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, previous_ids.long(), True)
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def process_logits(logits: torch.Tensor, previous_ids: torch.Tensor | None = None,
                   temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                   penalty: float = 1.0) -> torch.Tensor:
    """Penalty, then temperature, then top-k, then top-p: the logits ``sample`` draws from."""
    if penalty != 1.0:
        if previous_ids is None:
            raise ValueError("a repetition penalty needs previous_ids, the tokens generated so far")
        logits = repetition_penalty(logits, previous_ids, penalty)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits


# ---------------------------------------------------------------------------- sampling
@torch.no_grad()
def sample(model: nn.Module, prompt_ids: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None, repetition_penalty: float = 1.0,
           generator: torch.Generator | None = None, eos_id: int | None = None) -> torch.Tensor:
    """Continue each prompt of ``prompt_ids`` (B, T0) by up to max_new_tokens tokens -> (B, T0 + n).

    temperature = 0 is greedy decoding (arg-max after the repetition penalty). The penalty looks at
    the whole sequence so far, prompt included. After a row emits ``eos_id`` it is padded with
    ``eos_id``; generation stops early once every row has ended.
    """
    if not isinstance(prompt_ids, torch.Tensor) or prompt_ids.dim() != 2 or prompt_ids.shape[1] == 0:
        got = tuple(prompt_ids.shape) if isinstance(prompt_ids, torch.Tensor) else type(prompt_ids).__name__
        raise ValueError(f"prompt_ids must be a (B, T0) tensor with T0 >= 1, got {got}; start from "
                         "<bos>, e.g. torch.full((B, 1), tokenizer.bos_id)")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    if not _is_real(temperature) or temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature!r}")
    block = model.config.block_size
    idx = prompt_ids.long()
    done = torch.zeros(idx.shape[0], dtype=torch.bool)
    for _ in range(max_new_tokens):
        logits = _last_logits(model, idx[:, -block:])  # (B, V)
        if repetition_penalty != 1.0:
            logits = _penalty(logits, idx, repetition_penalty)
        if temperature == 0:
            if top_k is not None or top_p is not None:  # validate even though arg-max ignores them
                process_logits(logits, temperature=1.0, top_k=top_k, top_p=top_p)
            nxt = logits.argmax(dim=-1)
        else:
            probs = process_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p).softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
        if eos_id is not None:
            nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)
            done |= nxt == eos_id
        idx = torch.cat([idx, nxt[:, None]], dim=1)
        if eos_id is not None and bool(done.all()):
            break
    return idx


_penalty = repetition_penalty  # the parameter of `sample` shadows the function's name


def _last_logits(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """Logits (B, V) at the last position; the output layer only there when the model allows."""
    if hasattr(model, "hidden_states") and hasattr(model, "lm_head"):
        return model.lm_head(model.hidden_states(idx)[:, -1]).float()
    return model(idx)[0][:, -1, :].float()


@torch.no_grad()
def token_logprobs(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """log p(ids[:, t] | ids[:, :t]) for t = 1 .. T-1 under the model (no transformation): (B, T-1)."""
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.shape[1] < 2:
        got = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"ids must be a (B, T) tensor with T >= 2 (a context and a target), got {got}")
    if ids.shape[1] - 1 > model.config.block_size:
        raise ValueError(f"ids has {ids.shape[1]} tokens, more than block_size + 1 = "
                         f"{model.config.block_size + 1}; score shorter sequences")
    logits = model(ids[:, :-1])[0]  # (B, T-1, V)
    return logits.log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]


# ---------------------------------------------------------------------------- metrics
def _ngrams(seq: Sequence, n: int) -> list[tuple]:
    return [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")


def _check_sequences(sequences) -> list:
    if isinstance(sequences, str):
        raise TypeError("sequences must be a list of texts (or token lists), not one str; wrap it: [text]")
    return list(sequences)


def distinct_n(sequences: Sequence[Sequence], n: int) -> float:
    """Distinct n-grams / all n-grams over all sequences (corpus level): Eq. (eq-gen-distinct)."""
    _check_n(n)
    grams = [g for s in _check_sequences(sequences) for g in _ngrams(s, n)]
    if not grams:
        raise ValueError(f"the sequences contain no {n}-gram; pass longer sequences or a smaller n")
    return len(set(grams)) / len(grams)


def repetition_rate(sequences: Sequence[Sequence], n: int = 4) -> float:
    """Mean over sequences of the share of n-grams that repeat an earlier one in the same sequence, Eq. (eq-gen-rep-rate)."""
    _check_n(n)
    rates = []
    for s in _check_sequences(sequences):
        grams = _ngrams(s, n)
        if grams:
            rates.append(1 - len(set(grams)) / len(grams))
    if not rates:
        raise ValueError(f"no sequence has {n} or more tokens; pass longer sequences or a smaller n")
    return sum(rates) / len(rates)


# ---------------------------------------------------------------------------- sentiment
@dataclass
class SentimentScorer:
    """The chapter 2 classifier: bag of characters + logistic regression, p(positive | text)."""

    features: classifiers.BagOfChars
    model: classifiers.LogisticRegression

    def prob_positive(self, texts: Sequence[str]) -> torch.Tensor:
        """p(y = 1 | text) for each text, float64 of shape (N,)."""
        return self.model.predict_proba(self.features.transform(texts))

    def predict(self, texts: Sequence[str]) -> torch.Tensor:
        """1 (positive) where p(y = 1 | text) > 1/2, else 0."""
        return self.model.predict(self.features.transform(texts))


def train_sentiment_classifier(texts: Sequence[str], labels: Sequence[int], l2: float = 10.0,
                               min_freq: int = 5, tol: float = 1e-5) -> SentimentScorer:
    """Fit BagOfChars(min_freq) + LogisticRegression(l2, tol) on training texts, as in chapter 2."""
    texts = list(texts)
    if len(texts) != len(labels):
        raise ValueError(f"got {len(texts)} texts but {len(labels)} labels; pass one label per text")
    features = classifiers.BagOfChars(min_freq=min_freq).fit(texts)
    model = classifiers.LogisticRegression(l2=l2, tol=tol).fit(features.transform(texts), torch.as_tensor(list(labels)))
    return SentimentScorer(features, model)
