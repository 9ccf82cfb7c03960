"""Tests of llmbook.charlm: the character RNN language model, review_nll and the checkpoint."""
import math

import pytest
import torch
import torch.nn.functional as F

from llmbook import charlm, checkpoints, rnn, train
from llmbook.gpt import GPT, GPTConfig
from llmbook.tokenizers import CharTokenizer

TEXTS = ["这本书很好", "质量太差了，不推荐", "不错", "物流很快，包装也好"]


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer.from_texts(TEXTS)


def small(V, cell="lstm", **kw):
    torch.manual_seed(0)
    return charlm.CharRNNLM(V, emb=8, hidden=12, layers=2, cell=cell, **kw).eval()


@pytest.mark.parametrize("cell", charlm.CELLS)
def test_shapes_and_loss_is_cross_entropy(cell):
    m = small(30, cell)
    x, y = torch.randint(0, 30, (3, 7)), torch.randint(0, 30, (3, 7))
    logits, loss = m(x, y)
    assert logits.shape == (3, 7, 30) and m.hidden_states(x).shape == (3, 7, 12)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(-1, 30), y.reshape(-1)))
    assert m(x)[1] is None
    y[0, :3] = -100  # ignored targets, as GPT
    manual = F.cross_entropy(logits.reshape(-1, 30), y.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(m(x, y)[1], manual)


def test_constructor_accepts_config_and_checks_it():
    cfg = charlm.CharRNNConfig(50, emb=4, hidden=6, layers=1, cell="gru", block_size=16)
    m = charlm.CharRNNLM(cfg)
    assert m.config is cfg and m.config.n_embd == 6 and isinstance(m.rnn, torch.nn.GRU)
    with pytest.raises(ValueError, match="cell must be one of"):
        charlm.CharRNNLM(50, cell="transformer")
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        charlm.CharRNNLM(50, hidden=0)
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        charlm.CharRNNConfig(True)


def test_causal_bit_for_bit():
    m = small(40)
    x = torch.randint(0, 40, (2, 10))
    x2 = x.clone()
    x2[:, 6] = (x2[:, 6] + 1) % 40
    a, b = m(x)[0], m(x2)[0]
    assert torch.equal(a[:, :6], b[:, :6])
    assert not torch.equal(a[:, 6], b[:, 6])


def test_lstm_equals_llmbook_rnn_with_copied_weights():
    m = small(20)
    ours = rnn.LSTM(8, 12, num_layers=2, batch_first=True)
    ours.load_state_dict(m.rnn.state_dict())
    x = torch.randint(0, 20, (3, 9))
    with torch.no_grad():
        torch.testing.assert_close(ours(m.wte(x))[0], m.hidden_states(x), rtol=1e-5, atol=1e-6)


def test_bad_input():
    m = small(10)
    with pytest.raises(TypeError, match="integer token ids"):
        m(torch.zeros(1, 3))
    with pytest.raises(TypeError, match="tensor of token ids"):
        m([[1, 2]])
    with pytest.raises(ValueError, match=r"shape \(B, T\).*idx\[None\]"):
        m(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 10\)"):
        m(torch.tensor([[1, 10]]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 10\)"):
        m(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="empty"):
        m(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="targets have shape"):
        m(torch.tensor([[1, 2]]), torch.tensor([[1]]))
    with pytest.raises(TypeError, match=r"targets must be a tensor of token ids"):
        m(torch.tensor([[1, 2]]), [[2, 3]])


def test_generate_carries_the_state_and_matches_greedy_recomputation():
    m = small(15)
    prompt = torch.tensor([[1, 2, 3]])
    out = m.generate(prompt, 6, temperature=0)
    assert out.shape == (1, 9) and torch.equal(out[:, :3], prompt)
    for t in range(3, 9):  # each greedy token is the argmax of a full forward pass
        assert out[0, t] == m(out[:, :t])[0][0, -1].argmax()
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(m.generate(prompt, 5, 1.0, g1), m.generate(prompt, 5, 1.0, g2))
    with pytest.raises(ValueError, match="temperature"):
        m.generate(prompt, 2, temperature=-1.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        m.generate(prompt, -1)
    with pytest.raises(ValueError, match="empty"):
        m.generate(torch.zeros(1, 0, dtype=torch.long), 2)


def test_train_lm_trains_it():
    stream = torch.tensor([1, 2, 3, 4] * 50)
    torch.manual_seed(0)
    m = charlm.CharRNNLM(6, emb=8, hidden=16, block_size=8)
    assert train.evaluate_lm(m, stream) > 1.5  # about ln 6 before training
    train.train_lm(m, stream, train.TrainConfig(steps=100, batch_size=8, lr=3e-2))
    assert train.evaluate_lm(m, stream) < 0.1  # each token determines the next one


def test_review_nll_whole_reviews(tok):
    m = small(len(tok))
    total, count = charlm.review_nll(m, tok, TEXTS, batch_size=2)
    assert count == sum(len(t) + 1 for t in TEXTS)
    expected = 0.0
    for t in TEXTS:  # one forward pass per review
        ids = torch.tensor(tok.encode(t, add_bos_eos=True))
        with torch.no_grad():
            expected += F.cross_entropy(m(ids[None, :-1])[0][0], ids[1:], reduction="sum").item()
    assert math.isclose(total, expected, rel_tol=1e-5)


def test_review_nll_windows_score_each_target_once(tok):
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(len(tok), block_size=4, n_layer=1, n_head=2, n_embd=8)).eval()
    total, count = charlm.review_nll(gpt, tok, TEXTS)  # windows of 4, stride 2
    assert count == sum(len(t) + 1 for t in TEXTS)
    short = ["不错"]  # fits in one window: equals one forward pass
    ids = torch.tensor(tok.encode(short[0], add_bos_eos=True))
    with torch.no_grad():
        one = F.cross_entropy(gpt(ids[None, :-1])[0][0], ids[1:], reduction="sum").item()
    assert math.isclose(charlm.review_nll(gpt, tok, short)[0], one, rel_tol=1e-5)
    # a recurrent model scored with windows sees less context than with whole reviews
    m = small(len(tok))
    assert charlm.review_nll(m, tok, TEXTS, window=4)[1] == count
    with pytest.raises(ValueError, match="non-empty sequence of str"):
        charlm.review_nll(m, tok, "不错")
    with pytest.raises(ValueError, match="non-empty sequence of str"):
        charlm.review_nll(m, tok, [])
    with pytest.raises(ValueError, match="0 < stride <= window"):
        charlm.review_nll(m, tok, TEXTS, window=4, stride=5)


def test_checkpoint_round_trip_and_checksum_failure(tmp_path, tok):
    m = small(len(tok), cell="gru")
    path = tmp_path / "lm.pt"
    with pytest.raises(TypeError, match=r"cannot checkpoint a Linear; supported models: \['CharRNNLM', 'GPT', 'SpanReader'\]"):
        checkpoints.save_checkpoint(path, torch.nn.Linear(2, 2), tok)
    with pytest.raises(TypeError, match="save_charlm saves a CharRNNLM"):
        charlm.save_charlm(path, torch.nn.Linear(2, 2), tok)
    digest = charlm.save_charlm(path, m, tok, {"note": "test"})
    assert checkpoints.load_checkpoint(path).sha256 == digest  # the generic loader knows it too
    ck = charlm.load_charlm(path)
    assert ck.sha256 == digest and ck.meta == {"note": "test"}
    assert isinstance(ck.model, charlm.CharRNNLM) and ck.model.config == m.config
    assert not ck.model.training and ck.tokenizer.vocab == tok.vocab
    x = torch.tensor([tok.encode("这本书", add_bos_eos=True)])
    torch.testing.assert_close(ck.model(x)[0], m(x)[0], rtol=0, atol=0)
    data = bytearray(path.read_bytes())
    data[-10] ^= 1  # flip one bit
    path.write_bytes(bytes(data))
    with pytest.raises(checkpoints.ChecksumError, match="python -m llmbook.charlm"):
        charlm.load_charlm(path)
    with pytest.raises(FileNotFoundError, match="python -m llmbook.charlm"):
        charlm.load_charlm(tmp_path / "missing.pt")


def test_train_config_defaults_are_consistent():
    cfg = charlm.CharLMTrainConfig()
    assert cfg.model_config().vocab_size == cfg.vocab_size
    tc = cfg.train_config()
    assert (tc.steps, tc.batch_size, tc.lr) == (cfg.steps, cfg.batch_size, cfg.lr)


@pytest.mark.skipif(not charlm.DEFAULT_PATH.is_file(), reason="shipped checkpoint missing")
def test_shipped_checkpoint_loads():
    ck = charlm.load_charlm()
    assert isinstance(ck.model, charlm.CharRNNLM) and ck.model.config.vocab_size == len(ck.tokenizer)
    assert ck.meta["valid_loss"] < ck.meta["unigram_valid_loss"]


def test_the_one_command_writes_a_loadable_checkpoint(tmp_path):
    """`python -m llmbook.charlm` end to end, on a tiny model (the shipped one takes minutes)."""
    import subprocess
    import sys

    out = tmp_path / "lm.pt"
    run = subprocess.run([sys.executable, "-m", "llmbook.charlm", "--out", str(out), "--steps", "3",
                          "--hidden", "8", "--emb", "4", "--batch-size", "2", "--block-size", "8",
                          "--warmup-steps", "1", "--eval-every", "3"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    ck = charlm.load_charlm(out)
    assert isinstance(ck.model, charlm.CharRNNLM) and ck.model.config.hidden == 8
