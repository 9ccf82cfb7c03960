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


@pytest.mark.parametrize("targets", [[[1, 2, 3, 4]], (1, 2, 3, 4), 3])
def test_forward_rejects_targets_that_are_not_tensors(targets):
    # a clear TypeError (not an AttributeError on .shape), as CharRNNLM gives
    model = GPT(small())
    with pytest.raises(TypeError, match=r"targets must be a tensor of token ids of shape \(B, T\)"):
        model(torch.zeros(1, 4, dtype=torch.long), targets)


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


def test_forward_accepts_block_size_and_rejects_longer_sequences():
    model = GPT(small()).eval()
    logits, _ = model(torch.zeros(2, 16, dtype=torch.long))
    assert logits.shape == (2, 16, 37)
    with pytest.raises(ValueError, match="sequence length 40 exceeds block_size=16; crop"):
        model(torch.zeros(2, 40, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds block_size=16"):
        model.hidden_states(torch.zeros(1, 17, dtype=torch.long))


def test_generate_crops_a_long_prompt_to_the_last_block():
    torch.manual_seed(0)
    model = GPT(small()).eval()
    prompt = torch.randint(0, 37, (2, 40))  # longer than block_size = 16
    out = model.generate(prompt, 5, temperature=0)
    assert out.shape == (2, 45) and torch.equal(out[:, :40], prompt)
    cropped = model.generate(prompt[:, -16:], 1, temperature=0)
    assert torch.equal(out[:, 40], cropped[:, -1])  # the first new token sees the last 16 only


def test_generate_zero_new_tokens_returns_the_prompt():
    model = GPT(small()).eval()
    prompt = torch.tensor([[1, 2, 3]])
    assert torch.equal(model.generate(prompt, 0), prompt)


@pytest.mark.parametrize(
    "prompt,msg",
    [
        (torch.zeros(1, 0, dtype=torch.long), r"the prompt is empty \(shape \(1, 0\)\).*<bos>"),
        (torch.zeros(3, dtype=torch.long), r"prompt must have shape \(B, T\), got \(3,\); .*idx\[None\]"),
        (torch.zeros(1, 2, 3, dtype=torch.long), r"prompt must have shape \(B, T\), got \(1, 2, 3\)"),
        (torch.tensor([[1, 37]]), r"prompt: token ids must lie in \[0, 37\), got min 1 and max 37; .*<unk>"),
        (torch.tensor([[-1, 2]]), r"token ids must lie in \[0, 37\), got min -1"),
    ],
)
def test_generate_rejects_bad_prompts(prompt, msg):
    with pytest.raises(ValueError, match=msg):
        GPT(small()).generate(prompt, 3)


def test_generate_rejects_prompts_of_the_wrong_type():
    model = GPT(small())
    with pytest.raises(TypeError, match=r"prompt must hold integer token ids.*\.long\(\)"):
        model.generate(torch.zeros(1, 2), 3)
    with pytest.raises(TypeError, match=r"prompt must be a tensor.*torch.tensor\(\[ids\]\)"):
        model.generate([[1, 2]], 3)
    with pytest.raises(TypeError, match="idx must hold integer token ids"):
        model(torch.zeros(1, 2))


@pytest.mark.parametrize("n", [-1, 2.0, True, None])
def test_generate_rejects_bad_max_new_tokens(n):
    with pytest.raises(ValueError, match="max_new_tokens must be a non-negative int"):
        GPT(small()).generate(torch.zeros(1, 1, dtype=torch.long), n)


@pytest.mark.parametrize("t", [float("nan"), float("inf"), -0.5, "1"])
def test_generate_rejects_bad_temperatures(t):
    with pytest.raises(ValueError, match="temperature must be >= 0 and finite"):
        GPT(small()).generate(torch.zeros(1, 1, dtype=torch.long), 2, temperature=t)


def test_unknown_characters_become_unk_and_the_model_accepts_them():
    from llmbook.tokenizers import CharTokenizer

    tok = CharTokenizer.from_texts(["好评好评", "差评"])  # vocabulary: specials + 好 评 差
    ids = tok.encode("好货！", add_bos_eos=True)  # 货 and ！ were never seen
    assert ids == [tok.bos_id, tok.token_to_id("好"), tok.unk_id, tok.unk_id, tok.eos_id]
    assert tok.decode(ids, skip_specials=False) == "<bos>好<unk><unk><eos>"
    torch.manual_seed(0)
    model = GPT(small(vocab_size=len(tok))).eval()
    out = model.generate(torch.tensor([ids]), 4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, len(ids) + 4) and int(out.max()) < len(tok)
