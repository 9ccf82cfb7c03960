import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from llmbook.attention import (MultiHeadAttention, causal_mask, combine_masks, masked_softmax,
                               padding_mask, scaled_dot_product_attention)


def qkv(B=2, h=3, T_q=4, T_k=5, d_k=8, d_v=6, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, h, T_q, d_k, generator=g, dtype=dtype),
            torch.randn(B, h, T_k, d_k, generator=g, dtype=dtype),
            torch.randn(B, h, T_k, d_v, generator=g, dtype=dtype))


# ------------------------------------------------------------------------------ masked_softmax
def test_masked_softmax_without_mask_is_softmax():
    s = torch.randn(3, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(masked_softmax(s), torch.softmax(s, -1))


def test_masked_softmax_with_mask_and_fully_masked_row():
    s = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(4, 5, generator=torch.Generator().manual_seed(1)) > 0.4
    mask[0, 0] = True
    mask[2] = False  # a fully masked row
    p = masked_softmax(s, mask)
    rows = [0, 1, 3]
    torch.testing.assert_close(p[rows], torch.softmax(s.masked_fill(~mask, float("-inf")), -1)[rows])
    assert torch.equal(p[2], torch.zeros(5, dtype=torch.float64))
    assert torch.all(p[~mask] == 0)
    p.square().sum().backward()
    assert torch.isfinite(s.grad).all() and torch.all(s.grad[2] == 0)


def test_masked_softmax_is_stable_for_large_scores():
    s = torch.tensor([[1000.0, 1001.0, -1000.0]])
    assert torch.isfinite(masked_softmax(s)).all()
    torch.testing.assert_close(masked_softmax(s), torch.softmax(s, -1))


def test_masked_softmax_bad_mask():
    with pytest.raises(TypeError, match="dtype torch.bool"):
        masked_softmax(torch.zeros(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"mask has shape \(2, 4\)"):
        masked_softmax(torch.zeros(2, 3), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool torch.Tensor"):
        masked_softmax(torch.zeros(2, 3), [[True] * 3] * 2)


# ----------------------------------------------------------------- scaled_dot_product_attention
def test_sdpa_equals_formula_and_torch_without_mask():
    q, k, v = qkv()
    out, w = scaled_dot_product_attention(q, k, v, return_weights=True)
    ref_w = torch.softmax(q @ k.transpose(-2, -1) / 8 ** 0.5, -1)
    torch.testing.assert_close(w, ref_w)
    torch.testing.assert_close(out, ref_w @ v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 4, dtype=torch.float64))


@pytest.mark.parametrize("shape", [(4, 5), (2, 1, 1, 5), (2, 3, 4, 5), (1, 4, 5)])
def test_sdpa_equals_torch_with_bool_mask(shape):
    q, k, v = qkv()
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(2)) > 0.3
    mask[..., 0] = True
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_sdpa_causal_equals_torch_is_causal():
    q, k, v = qkv(T_q=5, T_k=5)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, causal_mask(5)),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True))


def test_sdpa_fully_masked_row_gives_zeros_like_torch():
    q, k, v = qkv(dtype=torch.float32)
    mask = torch.ones(4, 5, dtype=torch.bool)
    mask[1] = False
    out, w = scaled_dot_product_attention(q, k, v, mask, return_weights=True)
    assert not torch.isnan(out).any()
    assert torch.all(out[:, :, 1] == 0) and torch.all(w[:, :, 1] == 0)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_sdpa_custom_scale_matches_torch():
    q, k, v = qkv()
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, scale=0.3),
                               F.scaled_dot_product_attention(q, k, v, scale=0.3))


def test_sdpa_dropout_zeroes_and_rescales_weights():
    q, k, _ = qkv(T_k=6, d_v=6)
    v = torch.eye(6, dtype=torch.float64).expand(2, 3, 6, 6)  # out = dropped weights exactly
    w = scaled_dot_product_attention(q, k, v, return_weights=True)[1]
    out = scaled_dot_product_attention(q, k, v, dropout_p=0.5, generator=torch.Generator().manual_seed(0))
    kept = out != 0
    assert 0.3 < kept.double().mean() < 0.7
    torch.testing.assert_close(out[kept], w[kept] / 0.5)
    again = scaled_dot_product_attention(q, k, v, dropout_p=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_sdpa_bad_inputs():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="same last dimension d_k"):
        scaled_dot_product_attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="same number of positions T_k"):
        scaled_dot_product_attention(q, k, v[..., :3, :])
    with pytest.raises(ValueError, match="same batch dimensions"):
        scaled_dot_product_attention(q, k[:1], v[:1])
    with pytest.raises(ValueError, match="at least 2 dims"):
        scaled_dot_product_attention(torch.zeros(3), k, v)
    with pytest.raises(ValueError, match=r"dropout_p must be in \[0, 1\)"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    with pytest.raises(TypeError, match="dtype torch.bool"):
        scaled_dot_product_attention(q, k, v, torch.zeros(4, 5))
    with pytest.raises(ValueError, match=r"mask has shape \(5, 4\)"):
        scaled_dot_product_attention(q, k, v, torch.ones(5, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask has shape"):
        scaled_dot_product_attention(q, k, v, torch.ones(1, 2, 3, 4, 5, dtype=torch.bool))


# -------------------------------------------------------------------------------------- masks
def test_causal_mask():
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    assert m.tolist() == [[j <= i for j in range(4)] for i in range(4)]
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="T must be a positive int"):
            causal_mask(bad)


def test_padding_mask_from_ids_and_lengths():
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    m = padding_mask(ids, pad_id=0)
    assert m.shape == (2, 1, 4) and m.dtype == torch.bool
    assert m[:, 0].tolist() == [[True, True, True, False], [True, True, False, False]]
    assert torch.equal(padding_mask(torch.tensor([3, 2])), m[:, :, :3])
    assert torch.equal(padding_mask(torch.tensor([3, 2]), max_len=4), m)


def test_padding_mask_errors():
    with pytest.raises(TypeError, match="integer tensor"):
        padding_mask(torch.zeros(2, 3), pad_id=0)
    with pytest.raises(ValueError, match=r"token ids of shape \(B, T\)"):
        padding_mask(torch.tensor([3, 2]), pad_id=0)
    with pytest.raises(ValueError, match=r"lengths of shape \(B,\)"):
        padding_mask(torch.tensor([[3, 2]]))
    with pytest.raises(ValueError, match="lengths must be >= 0"):
        padding_mask(torch.tensor([3, -1]))
    with pytest.raises(ValueError, match="max_len must be an int >= the longest length 3"):
        padding_mask(torch.tensor([3, 1]), max_len=2)


def test_combine_masks():
    c = causal_mask(3)
    p = padding_mask(torch.tensor([2, 3]))  # (2, 1, 3)
    m = combine_masks(c, None, p)
    assert m.shape == (2, 3, 3)
    assert torch.equal(m, c & p)
    assert not m[0, :, 2].any()  # the padded key is hidden from every query
    assert combine_masks(None, None) is None
    assert combine_masks(c) is c
    with pytest.raises(TypeError, match="masks must be bool tensors"):
        combine_masks(c, torch.ones(3, 3))
    with pytest.raises(ValueError, match="do not broadcast"):
        combine_masks(c, torch.ones(4, 4, dtype=torch.bool))


# ------------------------------------------------------------------------- MultiHeadAttention
def pair(d=12, h=3, bias=True, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(d, h, dropout=dropout, bias=bias, batch_first=True)
    if bias:  # torch initialises the biases to zero: make the test see them
        with torch.no_grad():
            theirs.in_proj_bias.normal_()
            theirs.out_proj.bias.normal_()
    return MultiHeadAttention.from_torch(theirs), theirs


@pytest.mark.parametrize("bias", [True, False])
def test_mha_equals_torch_self_attention(bias):
    ours, theirs = pair(bias=bias)
    x = torch.randn(2, 5, 12)
    out, w = ours(x, x, x, need_weights=True)
    ref, ref_w = theirs(x, x, x, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(w, ref_w)
    assert ours(x, x, x)[1] is None


def test_mha_equals_torch_cross_attention_with_masks_and_gradients():
    ours, theirs = pair()
    x, mem = torch.randn(2, 4, 12, requires_grad=True), torch.randn(2, 6, 12)
    keep = padding_mask(torch.tensor([6, 3]))  # (B, 1, T_k), True = may attend
    attn = torch.rand(4, 6, generator=torch.Generator().manual_seed(3)) > 0.3
    attn[:, 0] = True
    out, _ = ours(x, mem, mem, combine_masks(attn, keep))
    # torch's bool masks mean the opposite: True = NOT allowed
    ref, _ = theirs(x, mem, mem, attn_mask=~attn, key_padding_mask=~keep[:, 0])
    torch.testing.assert_close(out, ref)
    g_ours = torch.autograd.grad(out.sum(), [x, ours.in_proj_weight])
    g_ref = torch.autograd.grad(ref.sum(), [x, theirs.in_proj_weight])
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b)


def test_mha_mask_convention_pitfall():
    ours, theirs = pair()
    x = torch.randn(1, 4, 12)
    mask = causal_mask(4)
    ref_wrong, _ = theirs(x, x, x, attn_mask=mask)  # our mask passed as is: keeps the future
    ours_out, _ = ours(x, x, x, mask)
    assert not torch.allclose(ours_out[:, 1:], ref_wrong[:, 1:], atol=1e-3)
    torch.testing.assert_close(ours_out, theirs(x, x, x, attn_mask=~mask)[0])


def test_mha_state_dict_layout_is_torchs():
    ours, theirs = pair()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    fresh = MultiHeadAttention(12, 3)
    fresh.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 12)
    torch.testing.assert_close(fresh(x, x, x)[0], theirs(x, x, x)[0])


def test_mha_fully_masked_row_is_finite():
    ours, _ = pair()
    x = torch.randn(1, 3, 12, requires_grad=True)
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[1] = False
    out, w = ours(x, x, x, mask, need_weights=True)
    assert torch.isfinite(out).all() and torch.all(w[0, :, 1] == 0)
    torch.testing.assert_close(out[0, 1], ours.out_proj.bias)  # zero attention output + bias
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_mha_dropout_only_in_training():
    ours, _ = pair(dropout=0.5)
    x = torch.randn(2, 5, 12)
    ours.eval()
    torch.testing.assert_close(ours(x, x, x)[0], ours(x, x, x)[0])
    ours.train()
    torch.manual_seed(0)
    a = ours(x, x, x)[0]
    assert not torch.allclose(a, ours.eval()(x, x, x)[0])


def test_mha_bad_construction():
    with pytest.raises(ValueError, match="d_model=10 is not divisible by n_heads=4"):
        MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match="n_heads must be a positive int"):
        MultiHeadAttention(8, 0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        MultiHeadAttention(8, 2, dropout=1.5)
    with pytest.raises(TypeError, match="expected torch.nn.MultiheadAttention"):
        MultiHeadAttention.from_torch(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="kdim = vdim = embed_dim"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, kdim=4, vdim=4))


def test_mha_bad_inputs():
    ours = MultiHeadAttention(12, 3)
    x = torch.randn(2, 5, 12)
    with pytest.raises(ValueError, match=r"query must have shape \(B, T, d_model=12\)"):
        ours(torch.randn(5, 12), x, x)
    with pytest.raises(ValueError, match=r"key must have shape \(B, T, d_model=12\)"):
        ours(x, torch.randn(2, 5, 8), x)
    with pytest.raises(ValueError, match="same batch size"):
        ours(x, x[:1], x[:1])
    with pytest.raises(ValueError, match="same length T_k"):
        ours(x, x, x[:, :3])
    with pytest.raises(TypeError, match="dtype torch.bool"):
        ours(x, x, x, torch.zeros(5, 5))
    with pytest.raises(ValueError, match=r"scores \(B, T_q, T_k\) have shape \(2, 5, 5\)"):
        ours(x, x, x, torch.ones(2, 3, 5, 5, dtype=torch.bool))
