"""Tests of llmbook.hf: the book's GPT <-> transformers' GPT2LMHeadModel."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the network

import pytest
import torch
import transformers

from llmbook import hf
from llmbook.gpt import GPT, GPTConfig

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16)).eval()
    with torch.no_grad():  # non-zero biases and LayerNorm parameters, so that all are checked
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


def _ids(n=3, t=16):
    return torch.randint(0, 50, (n, t), generator=torch.Generator().manual_seed(1))


def test_gpt2_config_uses_exact_gelu_and_the_book_sizes(model):
    c = hf.gpt2_config(model.config, bos_token_id=2)
    assert c.activation_function == "gelu" and c.layer_norm_epsilon == 1e-5
    assert (c.vocab_size, c.n_positions, c.n_layer, c.n_head, c.n_embd, c.n_inner) == (50, 16, 2, 2, 16, 64)
    assert c.tie_word_embeddings and c.bos_token_id == 2
    with pytest.raises(ValueError, match="bias=False"):
        hf.gpt2_config(GPTConfig(vocab_size=5, n_embd=8, n_head=2, bias=False))
    with pytest.raises(TypeError, match="GPTConfig"):
        hf.gpt2_config({"vocab_size": 5})


def test_to_gpt2_gives_the_same_logits_and_ties_the_head(model):
    g = hf.to_gpt2(model)
    assert not g.training and g.lm_head.weight is g.transformer.wte.weight
    assert sum(p.numel() for p in g.parameters()) == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        torch.testing.assert_close(g(_ids()).logits, model(_ids())[0], rtol=0, atol=1e-5)
    with pytest.raises(TypeError, match="llmbook.gpt.GPT"):
        hf.to_gpt2(g)


def test_tanh_gelu_would_not_match(model):
    g = hf.to_gpt2(model)
    c = hf.gpt2_config(model.config)
    c.activation_function = "gelu_new"
    approx = transformers.GPT2LMHeadModel(c).eval()
    approx.load_state_dict(g.state_dict())
    with torch.no_grad():
        assert (approx(_ids()).logits - model(_ids())[0]).abs().max() > 1e-5


def test_round_trip_and_greedy_generation(model, tmp_path):
    g = hf.to_gpt2(model)
    g.save_pretrained(tmp_path)
    back = hf.from_gpt2(transformers.GPT2LMHeadModel.from_pretrained(tmp_path))
    assert not back.training and back.config == model.config
    for (name, p), (_, q) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(p, q), name
    prompt = _ids(2, 4)
    cfg = transformers.GenerationConfig(max_new_tokens=8, do_sample=False, eos_token_id=None, pad_token_id=0)
    out = g.generate(prompt, generation_config=cfg, attention_mask=torch.ones_like(prompt))
    assert torch.equal(out, model.generate(prompt, 8, temperature=0))


def test_from_gpt2_refuses_what_it_cannot_convert_exactly():
    default = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2))
    with pytest.raises(ValueError, match="gelu_new.*exact GELU"):
        hf.from_gpt2(default)
    with pytest.raises(TypeError, match="GPT2LMHeadModel"):
        hf.from_gpt2(torch.nn.Linear(2, 2))
