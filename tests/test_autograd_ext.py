"""Tests of llmbook.autograd_ext: custom Functions against PyTorch and gradcheck."""
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck
from torch.autograd.gradcheck import GradcheckError

from llmbook import autograd_ext as ae


def test_logsumexp_matches_torch_and_is_stable():
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for dim in (0, 1, -1):
        torch.testing.assert_close(ae.logsumexp(x, dim), torch.logsumexp(x, dim))
    big = torch.tensor([1000.0, 1000.0])
    assert torch.isinf(big.exp().sum().log())  # the naive formula overflows
    torch.testing.assert_close(ae.logsumexp(big), torch.tensor(1000.0 + 0.6931471805599453))
    assert ae.logsumexp(torch.full((3,), float("-inf"))).item() == float("-inf")


def test_logsumexp_gradient_is_softmax_and_passes_gradcheck():
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64,
                    requires_grad=True)
    ae.logsumexp(x, dim=1).sum().backward()
    torch.testing.assert_close(x.grad, torch.softmax(x.detach(), dim=1))
    assert gradcheck(lambda t: ae.logsumexp(t, 0), (x,))
    assert gradcheck(lambda t: ae.logsumexp(t, -1), (x,))


def test_gelu_matches_torch_and_passes_gradcheck():
    x = torch.linspace(-5, 5, 41, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(ae.gelu(x), F.gelu(x))
    ae.gelu(x).sum().backward()
    ref = x.detach().clone().requires_grad_(True)
    F.gelu(ref).sum().backward()
    torch.testing.assert_close(x.grad, ref.grad)
    assert gradcheck(ae.gelu, (torch.randn(7, dtype=torch.float64, requires_grad=True),))


def test_gradcheck_catches_a_wrong_backward():
    class Wrong(ae.GELU):
        @staticmethod
        def backward(ctx, grad_y):
            (x,) = ctx.saved_tensors
            return grad_y * 0.5 * (1.0 + torch.erf(x / 2 ** 0.5))  # forgets x * phi(x)

    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert not gradcheck(Wrong.apply, (x,), raise_exception=False)
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        gradcheck(Wrong.apply, (x,))


def test_bad_inputs():
    with pytest.raises(TypeError, match="floating-point"):
        ae.gelu(torch.arange(3))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        ae.logsumexp([1.0, 2.0])
    with pytest.raises(ValueError, match="out of range"):
        ae.logsumexp(torch.zeros(2, 3), dim=2)
    with pytest.raises(ValueError, match="scalar"):
        ae.logsumexp(torch.tensor(1.0))
