import pytest
import torch

from llmbook.gpt import GPT, GPTConfig
from llmbook.quantization import QuantizedTensor, quantize, quantize_model, state_dict_nbytes


def tiny_model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=2, n_head=2, n_embd=16)).eval()


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("per_channel", [True, False])
def test_error_bound_and_range(bits, per_channel):
    w = torch.randn(20, 30, generator=torch.Generator().manual_seed(bits)) * torch.linspace(0.01, 3, 20)[:, None]
    qt = quantize(w, bits, per_channel)
    qmax = 2 ** (bits - 1) - 1
    assert qt.q.dtype == torch.int8 and int(qt.q.abs().max()) == qmax  # the largest |w| maps to qmax
    assert qt.scale.shape == ((20, 1) if per_channel else ())
    err = (w.double() - qt.q.double() * qt.scale.double()).abs()
    assert (err <= qt.scale.double() / 2 * (1 + 1e-12)).all()  # Eq. (eq-inf-quant-bound)


def test_per_channel_is_better_on_rows_of_different_sizes():
    w = torch.randn(10, 40, generator=torch.Generator().manual_seed(0)) * torch.logspace(-3, 0, 10)[:, None]
    err_c = quantize(w, 8, True).dequantize() - w
    err_t = quantize(w, 8, False).dequantize() - w
    assert err_c.norm() < err_t.norm()
    small_row = lambda e: e[0].norm() / w[0].norm()  # the row of the smallest weights
    assert small_row(err_c) < 0.01 < 0.1 < small_row(err_t)


def test_known_values_zero_rows_and_nbytes():
    w = torch.tensor([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0]])
    qt = quantize(w, bits=8)
    assert qt.q.tolist() == [[127, -64, 32], [0, 0, 0]]  # round(63.5) = 64 (half to even), round(31.75) = 32
    torch.testing.assert_close(qt.scale, torch.tensor([[1 / 127], [1.0]]))
    assert torch.equal(qt.dequantize()[1], torch.zeros(3))
    assert qt.nbytes == 6 + 4 * 2
    assert QuantizedTensor(qt.q, qt.scale, bits=4).nbytes == 3 + 8  # packed: 6 * 4 bits = 3 bytes


def test_quantize_model_copies_and_reports_every_matrix_once():
    m = tiny_model()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    fq, report = quantize_model(m, bits=8)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # the original is untouched
    names = [r.name for r in report]
    assert names[0] == "wte.weight" and "lm_head.weight" not in names  # tied: quantized once
    assert len(names) == 2 + 4 * 2  # wte, wpe and four Linear layers a block
    assert fq.lm_head.weight is fq.wte.weight
    for r in report:
        assert r.max_error <= r.bound * (1 + 1e-12) and 0 < r.rel_error < 0.02
    torch.testing.assert_close(fq.h[0].mlp.c_fc.bias, m.h[0].mlp.c_fc.bias, rtol=0, atol=0)  # biases kept
    x = torch.randint(0, 50, (2, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (fq(x)[0] - m(x)[0]).abs().max() < 0.05
    _, linear_only = quantize_model(m, bits=4, per_channel=False, include_embeddings=False)
    assert [r.name for r in linear_only][0] == "h.0.attn.c_attn.weight"
    assert "lm_head.weight" in [r.name for r in linear_only]  # the tied output layer is an nn.Linear


def test_state_dict_nbytes():
    m = tiny_model()
    n = state_dict_nbytes(m)
    assert sum(p.numel() for p in m.parameters()) * 4 < n < sum(p.numel() for p in m.parameters()) * 4 + 20_000


def test_bad_inputs():
    with pytest.raises(ValueError, match="2-D float tensor"):
        quantize(torch.zeros(3))
    with pytest.raises(ValueError, match="2-D float tensor"):
        quantize(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"bits must be an int in \[2, 8\]"):
        quantize(torch.zeros(2, 2), bits=16)
    with pytest.raises(ValueError, match="inf or NaN"):
        quantize(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        quantize_model("model")
    with pytest.raises(ValueError, match="no nn.Linear or nn.Embedding"):
        quantize_model(torch.nn.ReLU())
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        state_dict_nbytes(None)
