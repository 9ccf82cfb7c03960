import pytest
import torch

from llmbook.gpt import GPT, GPTConfig, count_parameters, param_count_formula


def small(**kw) -> GPTConfig:
    base = dict(vocab_size=37, block_size=16, n_layer=2, n_head=4, n_embd=32)
    base.update(kw)
    return GPTConfig(**base)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_layer,n_embd", [(1, 8), (3, 32), (2, 64)])
def test_parameter_count_matches_formula(bias, n_layer, n_embd):
    cfg = small(bias=bias, n_layer=n_layer, n_embd=n_embd)
    assert count_parameters(GPT(cfg)) == param_count_formula(cfg)


def test_output_head_is_tied_to_embedding():
    model = GPT(small())
    assert model.lm_head.weight is model.wte.weight


def test_forward_shapes_and_loss():
    torch.manual_seed(0)
    model = GPT(small())
    idx = torch.randint(0, 37, (3, 10))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 10, 37)
    # at initialisation the prediction is close to uniform: loss near log V
    assert abs(loss.item() - torch.log(torch.tensor(37.0)).item()) < 0.5
    assert model(idx)[1] is None


def test_causality_future_tokens_do_not_change_the_past():
    torch.manual_seed(0)
    model = GPT(small()).eval()
    a = torch.randint(0, 37, (1, 12))
    b = a.clone()
    b[0, 7:] = (b[0, 7:] + 1) % 37
    la, lb = model(a)[0], model(b)[0]
    torch.testing.assert_close(la[:, :7], lb[:, :7])
    assert not torch.allclose(la[:, 7:], lb[:, 7:])


def test_generate_is_deterministic_with_a_generator():
    torch.manual_seed(0)
    model = GPT(small()).eval()
    start = torch.zeros(1, 1, dtype=torch.long)
    g1 = model.generate(start, 20, generator=torch.Generator().manual_seed(1))
    g2 = model.generate(start, 20, generator=torch.Generator().manual_seed(1))
    assert g1.shape == (1, 21) and torch.equal(g1, g2)
    greedy = model.generate(start, 5, temperature=0)
    assert torch.equal(greedy, model.generate(start, 5, temperature=0))


def test_bad_inputs():
    model = GPT(small())
    with pytest.raises(ValueError, match="exceeds block_size=16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"must have shape \(B, T\)"):
        model(torch.zeros(17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 37\)"):
        model(torch.full((1, 4), 37))
    with pytest.raises(ValueError, match="targets have shape"):
        model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        model.generate(torch.zeros(1, 1, dtype=torch.long), 1, temperature=-1)


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(n_embd=30, n_head=4), "not divisible by n_head"),
        (dict(n_layer=0), "n_layer must be a positive int"),
        (dict(vocab_size=2.5), "vocab_size must be a positive int"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
    ],
)
def test_config_errors(kw, msg):
    with pytest.raises(ValueError, match=msg):
        small(**kw)
