import math

import pytest
import torch

from llmbook.gradients import (clip_by_norm, log_slope, scale_to_spectral_radius, spectral_radius,
                               state_grad_norms, state_jacobian, total_norm)


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_spectral_radius_of_known_matrices():
    assert spectral_radius(torch.diag(torch.tensor([0.5, -2.0, 1.0]))) == pytest.approx(2.0)
    rotation = torch.tensor([[0.0, -3.0], [3.0, 0.0]])  # eigenvalues +-3i
    assert spectral_radius(rotation) == pytest.approx(3.0)


def test_scale_to_spectral_radius_keeps_direction_and_dtype():
    W = _rand(6, 6).float()
    S = scale_to_spectral_radius(W, 0.8)
    assert S.dtype == torch.float32
    assert spectral_radius(S) == pytest.approx(0.8, rel=1e-5)
    torch.testing.assert_close(S / S.norm(), W / W.norm())


def test_spectral_helpers_reject_bad_input():
    with pytest.raises(ValueError, match=r"square matrix \(n, n\), got \(2, 3\)"):
        spectral_radius(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="rho must be a positive number"):
        scale_to_spectral_radius(torch.eye(2), 0.0)
    with pytest.raises(ValueError, match="nilpotent"):
        scale_to_spectral_radius(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), 1.0)


def test_state_jacobian_matches_autograd():
    n, steps = 5, 7
    W, U = 0.6 * _rand(n, n, seed=1), _rand(n, 3, seed=2)
    xs, h_k = _rand(steps, 3, seed=3), _rand(n, seed=4)

    def unroll(h):
        for x in xs:
            h = torch.tanh(W @ h + U @ x)
        return h

    h, fprime = h_k, []
    for x in xs:
        h = torch.tanh(W @ h + U @ x)
        fprime.append(1 - h**2)  # tanh'(a) = 1 - tanh(a)^2
    J = state_jacobian(W, torch.stack(fprime))
    torch.testing.assert_close(J, torch.autograd.functional.jacobian(unroll, h_k))


def test_state_jacobian_identity_and_bad_shape():
    W = _rand(4, 4)
    torch.testing.assert_close(state_jacobian(W, torch.empty(0, 4, dtype=torch.float64)),
                               torch.eye(4, dtype=torch.float64))
    torch.testing.assert_close(state_jacobian(W, torch.ones(3, 4, dtype=torch.float64)),
                               torch.linalg.matrix_power(W, 3))
    with pytest.raises(ValueError, match=r"fprime must have shape \(steps, n\) = \(steps, 4\)"):
        state_jacobian(W, torch.ones(3, 5))


def test_state_grad_norms_linear_rnn_equals_matrix_powers():
    n, T, B = 4, 6, 2
    W = 0.9 * _rand(n, n, seed=5)
    u = _rand(n, seed=6)
    xs, h0 = _rand(T, B, 3, seed=7), _rand(B, n, seed=8)
    norms = state_grad_norms(lambda x, h: h @ W.T + x.sum(-1, keepdim=True), xs, h0,
                             lambda h: (h @ u).sum())
    assert norms.shape == (T + 1, B)
    for k in range(T + 1):  # dL/dh_k = (W^T)^(T-k) u for every example
        expected = (torch.linalg.matrix_power(W.T, T - k) @ u).norm()
        torch.testing.assert_close(norms[k], expected.expand(B))
    assert not h0.requires_grad  # the caller's state is left alone


def test_state_grad_norms_with_lstm_cell_tuple_state():
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(3, 5).double()
    xs = _rand(8, 2, 3)
    state = (torch.zeros(2, 5, dtype=torch.float64), torch.zeros(2, 5, dtype=torch.float64))
    norms = state_grad_norms(cell, xs, state, lambda h: h.sum())
    assert norms.shape == (9, 2)
    assert torch.all(norms > 0) and torch.all(norms[-1] == math.sqrt(5))


def test_state_grad_norms_rejects_bad_input():
    cell = torch.nn.RNNCell(3, 4)
    with pytest.raises(ValueError, match=r"xs must be a \(T, B, d\) tensor"):
        state_grad_norms(cell, torch.zeros(5, 3), torch.zeros(1, 4), lambda h: h.sum())
    with pytest.raises(ValueError, match="the hidden state must be \\(B, n\\) with B = 2"):
        state_grad_norms(cell, torch.zeros(5, 2, 3), torch.zeros(3, 4), lambda h: h.sum())
    with pytest.raises(ValueError, match="loss_fn must return a scalar"):
        state_grad_norms(cell, torch.zeros(5, 2, 3), torch.zeros(2, 4), lambda h: h)


def test_log_slope_recovers_geometric_rate():
    assert log_slope([3 * 0.8**i for i in range(20)]) == pytest.approx(math.log(0.8))
    assert log_slope(torch.tensor([2.0, 2.0, 2.0])) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="at least 2 values"):
        log_slope([1.0])
    with pytest.raises(ValueError, match="positive and finite"):
        log_slope([1.0, 0.0, 2.0])


def test_total_norm_is_norm_of_concatenation():
    a, b = _rand(3, 4, seed=1), _rand(5, seed=2)
    assert total_norm([a, None, b]) == pytest.approx(torch.cat([a.flatten(), b]).norm().item())
    assert total_norm(a) == pytest.approx(a.norm().item())
    assert total_norm([]) == 0.0


@pytest.mark.parametrize("max_norm", [0.5, 1.0, 100.0])
def test_clip_by_norm_matches_torch(max_norm):
    torch.manual_seed(0)
    model = torch.nn.RNN(3, 6)
    model(torch.randn(10, 2, 3))[0].pow(2).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    clipped, norm = clip_by_norm(grads, max_norm)
    returned = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    assert norm == pytest.approx(returned.item(), rel=1e-6)
    for c, p in zip(clipped, model.parameters()):
        torch.testing.assert_close(c, p.grad)


def test_clip_by_norm_exact_formula_direction_and_zero():
    g = [_rand(4, seed=1), _rand(2, 2, seed=2)]
    norm = total_norm(g)
    clipped, returned = clip_by_norm(g, norm / 3, eps=0.0)
    assert returned == pytest.approx(norm)
    assert total_norm(clipped) == pytest.approx(norm / 3)
    for c, t in zip(clipped, g):
        torch.testing.assert_close(c, t / 3)  # same direction, scaled by c/||g||
    unchanged, _ = clip_by_norm(g, 2 * norm, eps=0.0)
    for c, t in zip(unchanged, g):
        assert torch.equal(c, t)
    zeros, zero_norm = clip_by_norm([torch.zeros(3)], 1.0)
    assert zero_norm == 0.0 and torch.equal(zeros[0], torch.zeros(3))


def test_clip_by_norm_rejects_bad_input():
    with pytest.raises(TypeError, match="wrap a single one"):
        clip_by_norm(torch.ones(3), 1.0)
    with pytest.raises(ValueError, match="max_norm must be a positive finite number"):
        clip_by_norm([torch.ones(3)], 0.0)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        clip_by_norm([torch.ones(3)], 1.0, eps=-1.0)
