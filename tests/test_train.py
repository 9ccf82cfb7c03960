import math

import pytest
import torch
import torch.nn.functional as F

from llmbook.gpt import GPT, GPTConfig
from llmbook.tokenizers import CharTokenizer
from llmbook.train import (
    SequenceClassifier, TrainConfig, encode_stream, evaluate_classifier, evaluate_lm,
    lm_batch, lm_eval_batches, lr_multiplier, make_optimizer, pad_batch, train_classifier,
    train_lm, unigram_loss, learning_curve,
)


def tiny_gpt(vocab_size: int = 12, block_size: int = 8, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=1, n_head=2,
                         n_embd=16))


# ------------------------------------------------------------------------------ config
def test_train_config_defaults_and_bad_values():
    cfg = TrainConfig()
    assert cfg.schedule == "cosine" and cfg.steps == 1000
    with pytest.raises(ValueError, match="steps must be a positive int"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        TrainConfig(batch_size=True)
    with pytest.raises(ValueError, match=r"warmup_steps must be an int in \[0, steps=10\]"):
        TrainConfig(steps=10, warmup_steps=11)
    with pytest.raises(ValueError, match="schedule must be one of"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="need lr > 0"):
        TrainConfig(lr=0.0)
    with pytest.raises(ValueError, match="min_lr_ratio must be in"):
        TrainConfig(min_lr_ratio=1.5)
    with pytest.raises(ValueError, match="grad_clip must be positive or None"):
        TrainConfig(grad_clip=0.0)


# ------------------------------------------------------------------------- schedule
def test_lr_multiplier_warmup_then_cosine_and_linear():
    total, warm = 110, 10
    ramp = [lr_multiplier(s, total, warm) for s in range(warm)]
    assert ramp == pytest.approx([(s + 1) / warm for s in range(warm)])
    assert lr_multiplier(warm, total, warm, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_multiplier(total - 1, total, warm, "cosine", 0.1) == pytest.approx(0.1)
    mid = warm + (total - warm - 1) / 2
    assert lr_multiplier(int(mid), total, warm, "linear", 0.0) == pytest.approx(
        1 - (int(mid) - warm) / (total - warm - 1))
    cos = [lr_multiplier(s, total, warm, "cosine") for s in range(warm, total)]
    assert all(a >= b for a, b in zip(cos, cos[1:]))  # never increases after the warmup
    assert lr_multiplier(50, total, warm, "constant") == 1.0
    assert lr_multiplier(500, total, 0, "cosine", 0.2) == pytest.approx(0.2)  # clamps past the end


def test_lr_multiplier_rejects_bad_arguments():
    with pytest.raises(ValueError, match="schedule must be one of"):
        lr_multiplier(0, 10, schedule="exp")
    with pytest.raises(ValueError, match="warmup_steps <= total_steps"):
        lr_multiplier(0, 10, warmup_steps=20)


def test_make_optimizer_decays_matrices_only_and_follows_schedule():
    model = tiny_gpt()
    cfg = TrainConfig(steps=10, lr=0.01, warmup_steps=5, weight_decay=0.3)
    opt, sched = make_optimizer(model, cfg)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])
    n_params = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n_params == sum(p.numel() for p in model.parameters())  # the tied matrix once
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 / 5)  # first warmup step
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 * 2 / 5)


def test_make_optimizer_needs_trainable_parameters():
    model = tiny_gpt().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        make_optimizer(model, TrainConfig(steps=1))


# -------------------------------------------------------------------- streams and batches
def test_encode_stream_wraps_each_text_in_bos_eos():
    tok = CharTokenizer.from_texts(["abc", "ba"])
    stream = encode_stream(tok, ["ab", "c"])
    expected = tok.encode("ab", add_bos_eos=True) + tok.encode("c", add_bos_eos=True)
    assert stream.tolist() == expected and stream.dtype == torch.long
    assert encode_stream(tok, ["ab"], add_bos_eos=False).tolist() == tok.encode("ab")
    with pytest.raises(TypeError, match="not one str"):
        encode_stream(tok, "abc")
    with pytest.raises(ValueError, match="needs at least 2"):
        encode_stream(tok, ["a"], add_bos_eos=False)


def test_lm_batch_targets_are_inputs_shifted_by_one():
    stream = torch.arange(100)
    x, y = lm_batch(stream, 7, 5, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 7)
    assert torch.equal(y, x + 1)  # stream[i] == i
    assert int(y.max()) <= 99
    x2, _ = lm_batch(stream, 7, 5, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)  # the generator makes it reproducible


def test_lm_batch_rejects_bad_input():
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="fewer than block_size"):
        lm_batch(torch.arange(5), 8, 2, gen)
    with pytest.raises(ValueError, match="1-D tensor"):
        lm_batch(torch.zeros(3, 4, dtype=torch.long), 2, 2, gen)
    with pytest.raises(ValueError, match="block_size must be a positive int"):
        lm_batch(torch.arange(10), 0, 2, gen)


def test_lm_eval_batches_predict_every_token_once():
    stream = torch.arange(23)
    pairs = list(lm_eval_batches(stream, block_size=5, batch_size=2))
    xs = torch.cat([x.flatten() for x, _ in pairs])
    ys = torch.cat([y.flatten() for _, y in pairs])
    assert ys.tolist() == list(range(1, 23))
    assert torch.equal(ys, xs + 1)
    assert pairs[-1][0].shape == (1, 2)  # 22 = 4 * 5 + 2: a short last window
    with pytest.raises(ValueError, match="at least 2"):
        list(lm_eval_batches(torch.arange(1), 4))


def test_evaluate_lm_equals_mean_nll_by_hand():
    model = tiny_gpt().eval()
    stream = torch.randint(0, 12, (30,), generator=torch.Generator().manual_seed(1))
    total = 0.0
    for x, y in lm_eval_batches(stream, 8, 64):
        log_p = model(x)[0].log_softmax(-1)
        total -= log_p.gather(-1, y[..., None]).sum().item()
    assert evaluate_lm(model, stream, batch_size=3) == pytest.approx(total / 29, rel=1e-6)


def test_unigram_loss_by_hand_and_errors():
    train, test = torch.tensor([0, 0, 1, 2]), torch.tensor([2, 0, 1])
    p = torch.tensor([3.0, 2.0, 2.0, 1.0]) / 8  # add-one counts over a vocabulary of 4
    expected = -(p[0].log() + p[1].log()).item() / 2  # test[1:] = [0, 1]
    assert unigram_loss(train, test, 4) == pytest.approx(expected)
    with pytest.raises(ValueError, match="outside"):
        unigram_loss(train, test, 2)
    with pytest.raises(ValueError, match="alpha must be positive"):
        unigram_loss(train, test, 4, alpha=0)


def test_train_lm_learns_a_repeating_pattern_and_is_reproducible():
    stream = torch.tensor([1, 2, 3, 4, 5] * 40)
    cfg = TrainConfig(steps=60, batch_size=8, lr=1e-2, warmup_steps=5)
    losses = []
    for _ in range(2):
        model = tiny_gpt(block_size=8)
        logs = []
        history = train_lm(model, stream, cfg, valid_stream=stream, eval_every=30, log=logs.append)
        losses.append(history[-1]["valid_loss"])
        assert not model.training
    assert losses[0] == losses[1]  # same seed, same numbers
    assert losses[0] < 0.2 * math.log(12)  # far below a uniform guess
    assert [r["step"] for r in logs] == [30, 60]
    assert history[0]["lr"] == pytest.approx(1e-2 / 5)


# ------------------------------------------------------------------------ classification
def test_pad_batch_pads_right_and_truncates():
    ids, lengths = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]
    ids, lengths = pad_batch([[5, 6, 7], [8]], pad_id=0, max_len=2)
    assert ids.tolist() == [[5, 6], [8, 0]] and lengths.tolist() == [2, 1]
    with pytest.raises(ValueError, match="empty batch"):
        pad_batch([], 0)
    with pytest.raises(ValueError, match="at least one token"):
        pad_batch([[1], []], 0)


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_classifier_features_ignore_padding(pooling):
    clf = SequenceClassifier(tiny_gpt(), pooling=pooling).eval()
    short, lengths = pad_batch([[3, 4, 5]], 0)
    padded, lengths2 = pad_batch([[3, 4, 5], [1, 2, 3, 4, 5, 6]], 0)
    torch.testing.assert_close(clf(short, lengths)[0], clf(padded, lengths2)[0])
    h = clf.body.hidden_states(short)[0]
    expected = h.mean(0) if pooling == "mean" else h[-1]
    torch.testing.assert_close(clf.features(short, lengths)[0], expected)


def test_classifier_rejects_bad_settings_and_freezes_body():
    with pytest.raises(ValueError, match="pooling must be 'mean' or 'last'"):
        SequenceClassifier(tiny_gpt(), pooling="max")
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"):
        SequenceClassifier(tiny_gpt(), n_classes=1)
    probe = SequenceClassifier(tiny_gpt(), freeze_body=True)
    trainable = {n for n, p in probe.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}


def _toy_classification(n: int = 64):
    gen = torch.Generator().manual_seed(0)
    inputs, labels = [], []
    for i in range(n):
        y = i % 2
        length = int(torch.randint(2, 7, (1,), generator=gen))
        token = 3 if y else 4  # the class shows in which token dominates
        seq = torch.randint(5, 12, (length,), generator=gen).tolist()
        seq[int(torch.randint(0, length, (1,), generator=gen))] = token
        inputs.append(seq + [token])
        labels.append(y)
    return inputs, labels


def test_train_classifier_fits_and_evaluate_matches_by_hand():
    inputs, labels = _toy_classification()
    clf = SequenceClassifier(tiny_gpt())
    cfg = TrainConfig(steps=80, batch_size=16, lr=1e-2, warmup_steps=5)
    history = train_classifier(clf, inputs, labels, cfg, pad_id=0)
    assert len(history) == 80 and not clf.training
    loss, acc = evaluate_classifier(clf, inputs, labels, pad_id=0, batch_size=7)
    assert acc == 1.0
    ids, lengths = pad_batch(inputs, 0)
    log_p = clf(ids, lengths).log_softmax(-1)
    by_hand = -log_p[torch.arange(len(labels)), torch.tensor(labels)].mean().item()
    assert loss == pytest.approx(by_hand, rel=1e-5)
    assert F.cross_entropy(clf(ids, lengths), torch.tensor(labels)).item() == pytest.approx(by_hand)


def test_frozen_probe_leaves_the_body_unchanged():
    inputs, labels = _toy_classification(16)
    probe = SequenceClassifier(tiny_gpt(), freeze_body=True)
    before = {k: v.clone() for k, v in probe.body.state_dict().items()}
    head_before = probe.head.weight.clone()
    train_classifier(probe, inputs, labels, TrainConfig(steps=5, batch_size=4), pad_id=0)
    for k, v in probe.body.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not torch.equal(probe.head.weight, head_before)


def test_classification_rejects_mismatched_labels():
    clf = SequenceClassifier(tiny_gpt())
    with pytest.raises(ValueError, match="need as many labels as inputs"):
        train_classifier(clf, [[1, 2]], [0, 1], TrainConfig(steps=1), pad_id=0)
    with pytest.raises(ValueError, match="need as many labels as inputs"):
        evaluate_classifier(clf, [], [], pad_id=0)


def test_learning_curve_averages_train_losses_between_evaluations():
    history = [{"step": 1, "train_loss": 4.0}, {"step": 2, "train_loss": 2.0, "valid_loss": 3.5},
               {"step": 3, "train_loss": 1.0}, {"step": 4, "train_loss": 0.0, "valid_loss": 0.7},
               {"step": 5, "train_loss": 9.0}]  # no evaluation after step 5: not in the curve
    assert learning_curve(history) == [
        {"step": 2, "train_loss": 3.0, "valid_loss": 3.5},
        {"step": 4, "train_loss": 0.5, "valid_loss": 0.7}]
    assert learning_curve([]) == []
