import math

import pytest
import torch

from llmbook.positional import apply_rope, rope_angles, sinusoidal_encoding


def test_sinusoidal_values_match_definition():
    pe = sinusoidal_encoding(50, 8)
    assert pe.shape == (50, 8)
    p, i = 7, 2
    w = 10000 ** (-2 * i / 8)
    assert pe[p, 2 * i].item() == pytest.approx(math.sin(p * w), abs=1e-6)
    assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(p * w), abs=1e-6)
    assert torch.all(pe[0, 0::2] == 0) and torch.all(pe[0, 1::2] == 1)


def test_sinusoidal_shift_is_a_rotation():
    pe = sinusoidal_encoding(40, 16).double()
    k = 5
    freqs = 10000 ** (-torch.arange(0, 16, 2, dtype=torch.float64) / 16)
    c, s = torch.cos(k * freqs), torch.sin(k * freqs)
    sin_p, cos_p = pe[:-k, 0::2], pe[:-k, 1::2]
    torch.testing.assert_close(pe[k:, 0::2], sin_p * c + cos_p * s, atol=1e-6, rtol=0)
    torch.testing.assert_close(pe[k:, 1::2], cos_p * c - sin_p * s, atol=1e-6, rtol=0)


@pytest.mark.parametrize("bad", [0, -3, 2.0, True])
def test_sinusoidal_rejects_bad_positions(bad):
    with pytest.raises(ValueError, match="num_positions must be a positive int"):
        sinusoidal_encoding(bad, 8)


def test_odd_dimension_rejected():
    with pytest.raises(ValueError, match="even int"):
        sinusoidal_encoding(4, 7)
    with pytest.raises(ValueError, match="even int"):
        apply_rope(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="base must be > 1"):
        rope_angles(torch.arange(3), 4, base=1.0)


def test_rope_preserves_norm_and_position_zero():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 10, 8)
    y = apply_rope(x)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(y[..., 0, :], x[..., 0, :])
    assert not torch.allclose(y[..., 1:, :], x[..., 1:, :])


def test_rope_dot_product_depends_only_on_offset():
    torch.manual_seed(0)
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    def score(m, n):
        qm = apply_rope(q.expand(1, 16), torch.tensor([m]))[0]
        kn = apply_rope(k.expand(1, 16), torch.tensor([n]))[0]
        return (qm @ kn).item()
    assert score(3, 1) == pytest.approx(score(12, 10), abs=1e-12)
    assert score(3, 1) == pytest.approx(score(102, 100), abs=1e-10)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-6)


def test_rope_positions_shape_checked():
    with pytest.raises(ValueError, match=r"positions must have shape \(T,\)"):
        apply_rope(torch.zeros(4, 8), torch.arange(5))
    with pytest.raises(ValueError, match=r"x must have shape"):
        apply_rope(torch.zeros(8))
