import pytest
import torch
import torch.nn as nn

from llmbook.gpt import GPT, GPTConfig
from llmbook.lora import LoRALinear, apply_lora, count_trainable, lora_param_count, merge_lora


def tiny_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16))


def test_lora_linear_starts_equal_to_base_and_freezes_it():
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    layer = LoRALinear(base, r=2, alpha=4.0)
    x = torch.randn(3, 4, 6)
    torch.testing.assert_close(layer(x), base(x), rtol=0, atol=0)  # B = 0 at init
    assert not base.weight.requires_grad and not base.bias.requires_grad
    assert layer.lora_A.shape == (2, 6) and layer.lora_B.shape == (5, 2)
    assert layer.scaling == 2.0 and (layer.in_features, layer.out_features) == (6, 5)
    assert torch.count_nonzero(layer.lora_A) == 12 and "r=2, alpha=4" in repr(layer)
    assert count_trainable(layer) == lora_param_count(6, 5, 2) == 22


def test_lora_linear_forward_is_base_plus_scaled_low_rank_update():
    torch.manual_seed(1)
    base = nn.Linear(6, 5)
    layer = LoRALinear(base, r=3, alpha=1.5)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(4, 6)
    delta = 0.5 * layer.lora_B @ layer.lora_A  # alpha / r = 0.5
    torch.testing.assert_close(layer.delta_weight(), delta)
    assert torch.linalg.matrix_rank(delta) == 3
    torch.testing.assert_close(layer(x), x @ (base.weight + delta).T + base.bias)
    merged = layer.merge()
    assert type(merged) is nn.Linear
    torch.testing.assert_close(merged(x), layer(x))


def test_lora_linear_gradients_reach_only_a_and_b():
    torch.manual_seed(2)
    layer = LoRALinear(nn.Linear(4, 4, bias=False), r=2)
    with torch.no_grad():
        layer.lora_B.fill_(0.1)
    layer(torch.randn(5, 4)).pow(2).sum().backward()
    assert layer.base.weight.grad is None
    assert layer.lora_A.grad is not None and layer.lora_B.grad is not None
    assert layer.merge().bias is None


def test_lora_linear_generator_makes_init_reproducible():
    base = nn.Linear(8, 8)
    a1 = LoRALinear(base, 2, generator=torch.Generator().manual_seed(5)).lora_A
    a2 = LoRALinear(base, 2, generator=torch.Generator().manual_seed(5)).lora_A
    torch.testing.assert_close(a1, a2, rtol=0, atol=0)


def test_lora_linear_bad_input():
    with pytest.raises(TypeError, match="wraps an nn.Linear, got Conv1d"):
        LoRALinear(nn.Conv1d(2, 2, 1), r=1)
    with pytest.raises(ValueError, match="rank r must be a positive int"):
        LoRALinear(nn.Linear(4, 4), r=0)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        LoRALinear(nn.Linear(4, 4), r=1, alpha=0)
    with pytest.raises(ValueError, match=r"exceeds min\(d_in, d_out\) = 3"):
        LoRALinear(nn.Linear(4, 3), r=4)


def test_lora_param_count_and_bad_input():
    assert lora_param_count(64, 192, 4) == 1024
    with pytest.raises(ValueError, match="r must be a positive int"):
        lora_param_count(4, 4, 0)
    with pytest.raises(ValueError, match="d_in must be a positive int"):
        lora_param_count(True, 4, 1)


def test_apply_lora_wraps_targets_freezes_rest_and_keeps_function():
    model = tiny_gpt()
    idx = torch.randint(0, 11, (2, 8), generator=torch.Generator().manual_seed(0))
    before, _ = model(idx)
    names = apply_lora(model, targets=("c_attn", "c_fc"), r=2, alpha=2.0)
    assert names == ["h.0.attn.c_attn", "h.0.mlp.c_fc", "h.1.attn.c_attn", "h.1.mlp.c_fc"]
    assert isinstance(model.h[0].attn.c_attn, LoRALinear)
    assert isinstance(model.h[0].attn.c_proj, nn.Linear)
    expected = 2 * (lora_param_count(16, 48, 2) + lora_param_count(16, 64, 2))
    assert count_trainable(model) == expected
    after, _ = model(idx)
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_merge_lora_restores_plain_linears_with_the_same_outputs():
    model = tiny_gpt()
    apply_lora(model, targets=("c_attn", "c_proj"), r=2, alpha=4.0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.normal_(std=0.1)
    idx = torch.randint(0, 11, (2, 8), generator=torch.Generator().manual_seed(1))
    with_lora, _ = model(idx)
    assert merge_lora(model) == 6  # c_attn, attn.c_proj, mlp.c_proj in 2 blocks
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    merged, _ = model(idx)
    torch.testing.assert_close(merged, with_lora, rtol=1e-5, atol=1e-5)
    assert merge_lora(model) == 0


def test_apply_lora_bad_input():
    with pytest.raises(ValueError, match=r"no nn.Linear named \('q_proj',\).*c_attn"):
        apply_lora(tiny_gpt(), targets=("q_proj",))
    with pytest.raises(TypeError, match="not one str"):
        apply_lora(tiny_gpt(), targets="c_attn")
    with pytest.raises(ValueError, match="rank r must be a positive int"):
        apply_lora(tiny_gpt(), r=1.5)


def test_count_trainable_counts_tied_matrix_once():
    model = tiny_gpt()
    V, T, d, L = 11, 8, 16, 2
    assert count_trainable(model) == V * d + T * d + L * (12 * d * d + 13 * d) + 2 * d
    model.requires_grad_(False)
    assert count_trainable(model) == 0
