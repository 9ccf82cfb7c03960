import pytest
import torch
import torch.nn as nn

from llmbook import rnn

CELLS = {"rnn": (rnn.RNNCell, nn.RNNCell), "lstm": (rnn.LSTMCell, nn.LSTMCell), "gru": (rnn.GRUCell, nn.GRUCell)}
STACKS = {"rnn": (rnn.RNN, nn.RNN), "lstm": (rnn.LSTM, nn.LSTM), "gru": (rnn.GRU, nn.GRU)}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
I, H = 5, 7


def _pair(classes, *args, dtype=torch.float64, **kwargs):
    """Our module and torch's, ours loaded with torch's weights."""
    ours_cls, torch_cls = classes
    theirs = torch_cls(*args, **kwargs).to(dtype)
    ours = ours_cls(*args, **kwargs).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _flatten(out):
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for part in out for t in _flatten(part)]


def _leaves(tensors):
    """Independent leaf copies (requiring grad) of a nested structure of tensors (or None)."""
    if tensors is None:
        return None
    if isinstance(tensors, torch.Tensor):
        return tensors.detach().clone().requires_grad_()
    return tuple(_leaves(t) for t in tensors)


def _run_and_grad(module, x, state):
    """Outputs of module(x, state) and the gradients of a fixed random projection of all outputs."""
    x, state = _leaves(x), _leaves(state)
    module.zero_grad()
    out = _flatten(module(x, state))
    g = torch.Generator().manual_seed(123)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in out)
    loss.backward()
    inputs = [x] + ([] if state is None else _flatten(state))
    grads = [t.grad for t in inputs] + [p.grad for p in module.parameters()]
    return out, grads


def _assert_same(ours, theirs, x, state, atol):
    out_a, grad_a = _run_and_grad(ours, x, state)
    out_b, grad_b = _run_and_grad(theirs, x, state)
    assert len(out_a) == len(out_b) and len(grad_a) == len(grad_b)
    for a, b in zip(out_a, out_b):
        torch.testing.assert_close(a, b, atol=atol, rtol=0)
    for a, b in zip(grad_a, grad_b):
        assert a is not None and b is not None
        torch.testing.assert_close(a, b, atol=atol, rtol=0)


def _state(kind, shape, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    make = lambda: torch.randn(shape, generator=g, dtype=dtype)  # noqa: E731
    return (make(), make()) if kind == "lstm" else make()


# --- cells


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cell_default_init_and_names_match_torch(kind):
    torch.manual_seed(0)
    ours = CELLS[kind][0](I, H)
    torch.manual_seed(0)
    theirs = CELLS[kind][1](I, H)
    sd_a, sd_b = ours.state_dict(), theirs.state_dict()
    assert list(sd_a) == list(sd_b) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    for k in sd_a:
        assert sd_a[k].shape == sd_b[k].shape
        assert torch.equal(sd_a[k], sd_b[k])  # same draws in the same order
    bound = 1 / H**0.5
    assert all(p.abs().max() <= bound for p in ours.parameters())


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cell_outputs_and_gradients_match_torch(kind, bias, with_state):
    ours, theirs = _pair(CELLS[kind], I, H, bias=bias)
    x = torch.randn(4, I, dtype=torch.float64)
    state = _state(kind, (4, H)) if with_state else None
    _assert_same(ours, theirs, x, state, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("with_state", [True, False])
def test_cell_unbatched_input(kind, with_state):
    ours, theirs = _pair(CELLS[kind], I, H)
    x = torch.randn(I, dtype=torch.float64)
    state = _state(kind, (H,)) if with_state else None
    out = _flatten(ours(x, state))
    assert all(o.shape == (H,) for o in out)
    _assert_same(ours, theirs, x, state, atol=1e-12)


def test_relu_rnn_cell_matches_torch():
    ours, theirs = _pair(CELLS["rnn"], I, H, nonlinearity="relu")
    assert ours.nonlinearity == "relu"
    _assert_same(ours, theirs, torch.randn(3, I, dtype=torch.float64), _state("rnn", (3, H)), atol=1e-12)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cell_float32_matches_torch(kind):
    ours, theirs = _pair(CELLS[kind], I, H, dtype=torch.float32)
    x = torch.randn(6, I)
    _assert_same(ours, theirs, x, _state(kind, (6, H), dtype=torch.float32), atol=1e-6)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cell_state_dict_round_trip_both_ways(kind):
    ours_cls, torch_cls = CELLS[kind]
    ours, theirs = ours_cls(I, H).double(), torch_cls(I, H).double()
    theirs.load_state_dict(ours.state_dict())  # ours -> torch
    _assert_same(ours, theirs, torch.randn(2, I, dtype=torch.float64), None, atol=1e-12)
    fresh = ours_cls(I, H).double()
    fresh.load_state_dict(theirs.state_dict())  # torch -> ours
    for k, v in theirs.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)


def test_cell_parameter_counts_are_gates_times_rnn():
    counts = {kind: sum(p.numel() for p in CELLS[kind][0](I, H).parameters()) for kind in CELLS}
    for kind, n in counts.items():
        assert n == GATES[kind] * (H * I + H * H + 2 * H)
        assert n == sum(p.numel() for p in CELLS[kind][1](I, H).parameters())
    assert counts["lstm"] == 4 * counts["rnn"] and counts["gru"] == 3 * counts["rnn"]


# --- update rules


def test_lstm_update_copies_cell_when_forget_open_and_input_closed():
    B = 2
    c = torch.randn(B, H, dtype=torch.float64)
    gh = torch.zeros(B, 4 * H, dtype=torch.float64)
    gi = torch.cat([torch.full((B, H), -50.0), torch.full((B, H), 50.0), torch.randn(B, H), torch.zeros(B, H)], 1)
    h_new, c_new = rnn.lstm_update(gi.double(), gh, (torch.zeros_like(c), c))
    torch.testing.assert_close(c_new, c)  # i = 0, f = 1: c passes unchanged
    torch.testing.assert_close(h_new, 0.5 * torch.tanh(c))  # o = sigmoid(0) = 1/2


def test_gru_update_copies_state_when_update_gate_is_one():
    B = 3
    h = torch.randn(B, H, dtype=torch.float64)
    gi = torch.randn(B, 3 * H, dtype=torch.float64)
    gi[:, H : 2 * H] = 50.0  # z = 1
    torch.testing.assert_close(rnn.gru_update(gi, torch.randn(B, 3 * H, dtype=torch.float64), h), h)


def test_gru_reset_gate_multiplies_hidden_projection_including_bias():
    # r = 0 removes W_hn h + b_hn entirely (PyTorch's placement), leaving tanh(i_n) when z = 0
    B = 2
    gi = torch.randn(B, 3 * H, dtype=torch.float64)
    gi[:, :H], gi[:, H : 2 * H] = -50.0, -50.0  # r = 0, z = 0
    gh = torch.randn(B, 3 * H, dtype=torch.float64)
    out = rnn.gru_update(gi, gh, torch.randn(B, H, dtype=torch.float64))
    torch.testing.assert_close(out, torch.tanh(gi[:, 2 * H :]))


def test_rnn_update_nonlinearities():
    gi, gh = torch.randn(4, H), torch.randn(4, H)
    torch.testing.assert_close(rnn.rnn_update(gi, gh, None), torch.tanh(gi + gh))
    torch.testing.assert_close(rnn.rnn_update(gi, gh, None, "relu"), torch.relu(gi + gh))


# --- multi-layer stacks


@pytest.mark.parametrize("kind", sorted(STACKS))
def test_stack_default_init_and_keys_match_torch(kind):
    torch.manual_seed(1)
    ours = STACKS[kind][0](I, H, num_layers=3)
    torch.manual_seed(1)
    theirs = STACKS[kind][1](I, H, num_layers=3)
    sd_a, sd_b = ours.state_dict(), theirs.state_dict()
    assert list(sd_a) == list(sd_b)
    assert "weight_ih_l2" in sd_a and sd_a["weight_ih_l1"].shape == (GATES[kind] * H, H)
    for k in sd_a:
        assert torch.equal(sd_a[k], sd_b[k])
    assert ours.layer_parameters(1)[0] is ours.weight_ih_l1


@pytest.mark.parametrize("kind", sorted(STACKS))
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_stack_outputs_and_gradients_match_torch(kind, num_layers, batch_first, with_state):
    ours, theirs = _pair(STACKS[kind], I, H, num_layers=num_layers, batch_first=batch_first)
    T, B = 6, 3
    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=torch.float64)
    state = _state(kind, (num_layers, B, H)) if with_state else None
    out = ours(x, state)[0]
    assert out.shape == ((B, T, H) if batch_first else (T, B, H))
    _assert_same(ours, theirs, x, state, atol=1e-10)


@pytest.mark.parametrize("kind", sorted(STACKS))
@pytest.mark.parametrize("with_state", [False, True])
def test_stack_unbatched_input(kind, with_state):
    ours, theirs = _pair(STACKS[kind], I, H, num_layers=2)
    x = torch.randn(5, I, dtype=torch.float64)
    state = _state(kind, (2, H)) if with_state else None
    out = _flatten(ours(x, state))
    assert out[0].shape == (5, H) and all(o.shape == (2, H) for o in out[1:])
    _assert_same(ours, theirs, x, state, atol=1e-10)


@pytest.mark.parametrize("kind", sorted(STACKS))
def test_stack_without_bias_and_relu_match_torch(kind):
    kwargs = {"nonlinearity": "relu"} if kind == "rnn" else {}
    ours, theirs = _pair(STACKS[kind], I, H, num_layers=2, bias=False, **kwargs)
    assert not any("bias" in k for k in ours.state_dict())
    x = torch.randn(4, 2, I, dtype=torch.float64)
    _assert_same(ours, theirs, x, None, atol=1e-10)


@pytest.mark.parametrize("kind", sorted(STACKS))
def test_stack_float32_matches_torch(kind):
    ours, theirs = _pair(STACKS[kind], I, H, num_layers=2, batch_first=True, dtype=torch.float32)
    x = torch.randn(4, 20, I)
    _assert_same(ours, theirs, x, None, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(STACKS))
def test_stack_state_dict_round_trip_both_ways(kind):
    ours_cls, torch_cls = STACKS[kind]
    ours, theirs = ours_cls(I, H, num_layers=2).double(), torch_cls(I, H, num_layers=2).double()
    theirs.load_state_dict(ours.state_dict())
    _assert_same(ours, theirs, torch.randn(3, 2, I, dtype=torch.float64), None, atol=1e-10)
    fresh = ours_cls(I, H, num_layers=2).double()
    fresh.load_state_dict(theirs.state_dict())
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in theirs.state_dict().items())


def test_stack_final_state_equals_last_output_of_top_layer():
    lstm = rnn.LSTM(I, H, num_layers=2, batch_first=True)
    out, (h_n, c_n) = lstm(torch.randn(3, 8, I))
    torch.testing.assert_close(out[:, -1], h_n[-1])
    assert c_n.shape == (2, 3, H)


def test_stack_equals_stepping_its_cells():
    gru = rnn.GRU(I, H, num_layers=2).double()
    cells = [rnn.GRUCell(I, H).double(), rnn.GRUCell(H, H).double()]
    for k, cell in enumerate(cells):
        cell.load_state_dict({n: getattr(gru, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    x = torch.randn(5, 2, I, dtype=torch.float64)
    hs = [None, None]
    for t in range(5):
        hs[0] = cells[0](x[t], hs[0])
        hs[1] = cells[1](hs[0], hs[1])
    out, h_n = gru(x)
    torch.testing.assert_close(out[-1], hs[1])
    torch.testing.assert_close(h_n, torch.stack(hs))


def test_dropout_only_between_layers_and_only_in_training():
    ours, theirs = _pair(STACKS["lstm"], I, H, num_layers=3, dropout=0.5)
    x = torch.randn(4, 2, I, dtype=torch.float64)
    ours.eval(), theirs.eval()
    _assert_same(ours, theirs, x, None, atol=1e-10)  # eval: no dropout in either
    ours.train()
    torch.manual_seed(0)
    a = ours(x)[0]
    torch.manual_seed(0)
    b = ours(x)[0]
    torch.testing.assert_close(a, b)  # seeded: reproducible
    assert not torch.allclose(a, ours.eval()(x)[0])  # training mode drops units
    one = rnn.RNN(I, H, num_layers=2, dropout=1.0).train().double()
    out, _ = one(x)
    # dropout = 1 zeroes the first layer's outputs, so the top layer runs on zero inputs
    h, expected = torch.zeros(2, H, dtype=torch.float64), []
    for _ in range(4):
        h = torch.tanh(one.bias_ih_l1 + one.bias_hh_l1 + h @ one.weight_hh_l1.T)
        expected.append(h)
    torch.testing.assert_close(out, torch.stack(expected))


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="no effect with num_layers=1"):
        rnn.GRU(I, H, dropout=0.2)


# --- bad input


@pytest.mark.parametrize("cls", [rnn.RNNCell, rnn.LSTMCell, rnn.GRUCell, rnn.RNN, rnn.LSTM, rnn.GRU])
@pytest.mark.parametrize("bad", [0, -2, 3.0, True])
def test_non_positive_sizes_rejected(cls, bad):
    with pytest.raises(ValueError, match="input_size must be a positive int"):
        cls(bad, H)
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        cls(I, bad)


@pytest.mark.parametrize("cls", [rnn.RNN, rnn.LSTM, rnn.GRU])
def test_bad_num_layers_dropout_and_bidirectional_rejected(cls):
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        cls(I, H, num_layers=0)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\]"):
        cls(I, H, num_layers=2, dropout=1.5)
    with pytest.raises(NotImplementedError, match="unidirectional only"):
        cls(I, H, bidirectional=True)
    with pytest.raises(IndexError, match="layer 1 does not exist"):
        cls(I, H).layer_parameters(1)


def test_unknown_nonlinearity_rejected():
    with pytest.raises(ValueError, match="unknown nonlinearity 'sigmoid'; use 'tanh' or 'relu'"):
        rnn.RNNCell(I, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        rnn.RNN(I, H, nonlinearity="gelu")


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cell_bad_input_rejected(kind):
    cell = CELLS[kind][0](I, H)
    with pytest.raises(ValueError, match=r"input must have shape \(B, 5\) or \(5,\), got \(2, 3, 5\)"):
        cell(torch.randn(2, 3, I))
    with pytest.raises(ValueError, match="input has 4 features but input_size is 5"):
        cell(torch.randn(2, 4))
    wrong = torch.randn(3, H)  # batch 3 for an input of batch 2
    state = (wrong, wrong) if kind == "lstm" else wrong
    with pytest.raises(ValueError, match=r"h must have shape \(2, 7\), got \(3, 7\)"):
        cell(torch.randn(2, I), state)
    unbatched_state = (torch.randn(1, H),) * 2 if kind == "lstm" else torch.randn(1, H)
    with pytest.raises(ValueError, match=r"must have shape \(7,\)"):
        cell(torch.randn(I), unbatched_state)


def test_lstm_cell_bad_state_rejected():
    cell = rnn.LSTMCell(I, H)
    with pytest.raises(TypeError, match=r"tuple \(h, c\)"):
        cell(torch.randn(2, I), torch.randn(2, H))
    with pytest.raises(ValueError, match=r"c must have shape \(2, 7\), got \(2, 6\)"):
        cell(torch.randn(2, I), (torch.randn(2, H), torch.randn(2, 6)))


@pytest.mark.parametrize("kind", sorted(STACKS))
def test_stack_bad_input_rejected(kind):
    m = STACKS[kind][0](I, H, num_layers=2)
    with pytest.raises(ValueError, match=r"input must have shape \(T, B, 5\) or \(T, 5\) unbatched, got \(5,\)"):
        m(torch.randn(I))
    with pytest.raises(ValueError, match=r"\(B, T, 5\)"):
        STACKS[kind][0](I, H, batch_first=True)(torch.randn(1, 2, 3, I))
    with pytest.raises(ValueError, match="input has 3 features but input_size is 5"):
        m(torch.randn(4, 2, 3))
    with pytest.raises(ValueError, match=r"no time steps"):
        m(torch.randn(0, 2, I))
    bad = torch.randn(1, 2, H)  # one layer's state for a two-layer stack
    state = (bad, bad) if kind == "lstm" else bad
    with pytest.raises(ValueError, match=r"h_0 must have shape \(2, 2, 7\), got \(1, 2, 7\)"):
        m(torch.randn(4, 2, I), state)
    with pytest.raises(ValueError, match=r"h_0 must have shape \(2, 7\)"):
        m(torch.randn(4, I), torch.randn(2, 1, H) if kind != "lstm" else (torch.randn(2, 1, H),) * 2)


def test_lstm_stack_bad_state_rejected():
    m = rnn.LSTM(I, H)
    with pytest.raises(TypeError, match=r"tuple \(h_0, c_0\)"):
        m(torch.randn(3, 2, I), torch.randn(1, 2, H))
    with pytest.raises(ValueError, match=r"c_0 must have shape \(1, 2, 7\)"):
        m(torch.randn(3, 2, I), (torch.randn(1, 2, H), torch.randn(2, 2, H)))


def test_non_tensor_state_rejected():
    with pytest.raises(TypeError, match="h must be a tensor"):
        rnn.GRUCell(I, H)(torch.randn(2, I), [[0.0] * H] * 2)
