"""Recurrent networks written from their equations: RNN, LSTM and GRU cells and multi-layer stacks.

Every class keeps PyTorch's parameter names, shapes, gate order and default initialisation, so
``ours.load_state_dict(theirs.state_dict())`` works in both directions and chapter 3 can prove
outputs and gradients equal to ``torch.nn``'s fused implementations. Only matrix products and
elementwise operations are used; no call to PyTorch's recurrent kernels.
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn as nn

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "rnn_update", "lstm_update", "gru_update"]

_NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_nonlinearity(nonlinearity: str) -> None:
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")


def _affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x W^T + b for x (..., in) and W (out, in): the building block of every gate."""
    out = x @ weight.T
    return out if bias is None else out + bias


def _check_shape(t: torch.Tensor, expected: tuple[int, ...], name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape {expected}, got {type(t).__name__}")
    if tuple(t.shape) != expected:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(t.shape)}")


# --- the three update rules: gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh, all gates stacked


def rnn_update(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor, nonlinearity: str = "tanh") -> torch.Tensor:
    """Elman step h' = f(W_ih x + b_ih + W_hh h + b_hh), Eq. (eq-rnn-cell)."""
    return _NONLINEARITIES[nonlinearity](gi + gh)


def lstm_update(
    gi: torch.Tensor, gh: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """LSTM step, gates in PyTorch's order i, f, g, o: Eqs. (eq-rnn-lstm-gates)-(eq-rnn-lstm-hidden)."""
    _, c = state
    i, f, g, o = (gi + gh).chunk(4, dim=-1)  # each (B, H)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g  # the additive path, Eq. (eq-rnn-lstm-cell)
    h_new = o * torch.tanh(c_new)
    return h_new, c_new


def gru_update(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """GRU step, gates r, z, n; r multiplies (W_hn h + b_hn) as in PyTorch: Eq. (eq-rnn-gru)."""
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


# --- single cells


class _Cell(nn.Module):
    """Parameters and input checks shared by the three cells (PyTorch's layout)."""

    num_chunks = 1  # gates stacked in weight_ih / weight_hh

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        _check_positive_int(input_size, "input_size")
        _check_positive_int(hidden_size, "hidden_size")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = self.num_chunks * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size))  # (G*H, I)
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size))  # (G*H, H)
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(G))
            self.bias_hh = nn.Parameter(torch.empty(G))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in PyTorch's order (same seed, same values)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _batch_input(self, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Return x as (B, I) and whether it came batched."""
        if not isinstance(x, torch.Tensor) or x.dim() not in (1, 2):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"input must have shape (B, {self.input_size}) or ({self.input_size},), got {shape}"
            )
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input has {x.shape[-1]} features but input_size is {self.input_size}")
        return (x, True) if x.dim() == 2 else (x.unsqueeze(0), False)

    def _batch_hidden(self, h: torch.Tensor | None, x: torch.Tensor, batched: bool, name: str) -> torch.Tensor:
        """Return the state as (B, H): zeros when h is None, else checked against x's batch."""
        B, H = x.shape[0], self.hidden_size
        if h is None:
            return x.new_zeros(B, H)
        _check_shape(h, (B, H) if batched else (H,), name)
        return h if batched else h.unsqueeze(0)

    def _gates(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _affine(x, self.weight_ih, self.bias_ih), _affine(h, self.weight_hh, self.bias_hh)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_Cell):
    """Elman cell h' = f(W_ih x + b_ih + W_hh h + b_hh), Eq. (eq-rnn-cell); torch.nn.RNNCell's layout."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """One step: x (B, I) or (I,), h (B, H) or (H,) (zeros if None) -> h' of h's shape."""
        xb, batched = self._batch_input(x)
        hb = self._batch_hidden(h, xb, batched, "h")
        h_new = rnn_update(*self._gates(xb, hb), hb, self.nonlinearity)
        return h_new if batched else h_new.squeeze(0)


class LSTMCell(_Cell):
    """LSTM cell (gates i, f, g, o), Eqs. (eq-rnn-lstm-gates)-(eq-rnn-lstm-hidden); torch.nn.LSTMCell's layout."""

    num_chunks = 4

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: x (B, I) or (I,), state (h, c) each (B, H) or (H,) (zeros if None) -> (h', c')."""
        xb, batched = self._batch_input(x)
        if state is None:
            h = c = self._batch_hidden(None, xb, batched, "h")
        else:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError("an LSTM state must be a tuple (h, c) of two tensors")
            h = self._batch_hidden(state[0], xb, batched, "h")
            c = self._batch_hidden(state[1], xb, batched, "c")
        h_new, c_new = lstm_update(*self._gates(xb, h), (h, c))
        return (h_new, c_new) if batched else (h_new.squeeze(0), c_new.squeeze(0))


class GRUCell(_Cell):
    """GRU cell (gates r, z, n), Eq. (eq-rnn-gru); torch.nn.GRUCell's layout."""

    num_chunks = 3

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """One step: x (B, I) or (I,), h (B, H) or (H,) (zeros if None) -> h' of h's shape."""
        xb, batched = self._batch_input(x)
        hb = self._batch_hidden(h, xb, batched, "h")
        h_new = gru_update(*self._gates(xb, hb), hb)
        return h_new if batched else h_new.squeeze(0)


# --- multi-layer sequence modules


class _Recurrent(nn.Module):
    """A stack of unidirectional recurrent layers with torch.nn.RNN/LSTM/GRU's state_dict keys."""

    num_chunks = 1
    is_lstm = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        _check_positive_int(input_size, "input_size")
        _check_positive_int(hidden_size, "hidden_size")
        _check_positive_int(num_layers, "num_layers")
        if bidirectional:
            raise NotImplementedError(
                "llmbook.rnn is unidirectional only; run a second stack on the reversed sequence "
                "(an exercise of chapter 3) or use torch.nn with bidirectional=True"
            )
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} has no effect with num_layers=1: it is applied between layers",
                UserWarning,
                stacklevel=2,
            )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        G = self.num_chunks * hidden_size
        for k in range(num_layers):  # same names and order as torch.nn.RNNBase
            layer_in = input_size if k == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(G, layer_in)))
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(G, hidden_size)))
            if bias:
                self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(G)))
                self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.empty(G)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in PyTorch's order (same seed, same values)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def layer_parameters(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(weight_ih, weight_hh, bias_ih, bias_hh) of layer k (biases None when bias=False)."""
        if not 0 <= k < self.num_layers:
            raise IndexError(f"layer {k} does not exist; this module has {self.num_layers} layers")
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return tuple(getattr(self, f"{n}_l{k}", None) for n in names)  # type: ignore[return-value]

    def _update(self, gi: torch.Tensor, gh: torch.Tensor, state):
        raise NotImplementedError

    def _time_major(self, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Return the input as (T, B, I) and whether it came batched."""
        I = self.input_size
        if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            layout = f"(B, T, {I})" if self.batch_first else f"(T, B, {I})"
            raise ValueError(f"input must have shape {layout} or (T, {I}) unbatched, got {shape}")
        if x.shape[-1] != I:
            raise ValueError(f"input has {x.shape[-1]} features but input_size is {I}")
        if x.dim() == 2:
            x, batched = x.unsqueeze(1), False  # (T, I) -> (T, 1, I)
        else:
            x, batched = (x.transpose(0, 1) if self.batch_first else x), True
        if x.shape[0] == 0:
            raise ValueError("input has no time steps (T = 0)")
        return x, batched

    def _initial(self, h0: torch.Tensor | None, x: torch.Tensor, batched: bool, name: str) -> torch.Tensor:
        """Return an initial state as (L, B, H): zeros when None, else checked."""
        L, B, H = self.num_layers, x.shape[1], self.hidden_size
        if h0 is None:
            return x.new_zeros(L, B, H)
        _check_shape(h0, (L, B, H) if batched else (L, H), name)
        return h0 if batched else h0.unsqueeze(1)

    def _run(self, x: torch.Tensor, states: list) -> tuple[torch.Tensor, list]:
        """Run all layers over x (T, B, I) from per-layer states; return (T, B, H) outputs and final states."""
        finals = []
        for k in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self.layer_parameters(k)
            gi_all = _affine(x, w_ih, b_ih)  # (T, B, G*H): input projections of all steps at once
            state, outputs = states[k], []
            for t in range(x.shape[0]):
                h = state[0] if self.is_lstm else state
                state = self._update(gi_all[t], _affine(h, w_hh, b_hh), state)
                outputs.append(state[0] if self.is_lstm else state)
            x = torch.stack(outputs)  # (T, B, H): the next layer's input
            if self.dropout > 0 and self.training and k < self.num_layers - 1:
                x = nn.functional.dropout(x, self.dropout, training=True)
            finals.append(state)
        return x, finals

    def _output(self, out: torch.Tensor, batched: bool) -> torch.Tensor:
        if not batched:
            return out.squeeze(1)
        return out.transpose(0, 1) if self.batch_first else out

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s


class RNN(_Recurrent):
    """Multi-layer Elman RNN (unidirectional only) with torch.nn.RNN's parameters, inputs and outputs.

    forward(input (T, B, I) | (B, T, I) if batch_first | (T, I), h_0 (L, B, H) | (L, H) | None)
    -> (output (T, B, H) etc., h_n (L, B, H) | (L, H)).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        self.nonlinearity = nonlinearity

    def _update(self, gi, gh, h):
        return rnn_update(gi, gh, h, self.nonlinearity)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the stack over a sequence; see the class docstring for shapes."""
        x, batched = self._time_major(input)
        h0 = self._initial(hx, x, batched, "h_0")
        out, finals = self._run(x, list(h0.unbind(0)))
        h_n = torch.stack(finals)
        return self._output(out, batched), (h_n if batched else h_n.squeeze(1))


class GRU(_Recurrent):
    """Multi-layer GRU (unidirectional only) with torch.nn.GRU's parameters, inputs and outputs.

    forward(input (T, B, I) | (B, T, I) if batch_first | (T, I), h_0 (L, B, H) | (L, H) | None)
    -> (output, h_n), shapes as torch.nn.GRU.
    """

    num_chunks = 3

    def _update(self, gi, gh, h):
        return gru_update(gi, gh, h)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the stack over a sequence; see the class docstring for shapes."""
        x, batched = self._time_major(input)
        h0 = self._initial(hx, x, batched, "h_0")
        out, finals = self._run(x, list(h0.unbind(0)))
        h_n = torch.stack(finals)
        return self._output(out, batched), (h_n if batched else h_n.squeeze(1))


class LSTM(_Recurrent):
    """Multi-layer LSTM (unidirectional only, no proj_size) with torch.nn.LSTM's parameters, inputs and outputs.

    forward(input (T, B, I) | (B, T, I) if batch_first | (T, I), (h_0, c_0) each (L, B, H) | (L, H) | None)
    -> (output, (h_n, c_n)), shapes as torch.nn.LSTM.
    """

    num_chunks = 4
    is_lstm = True

    def _update(self, gi, gh, state):
        return lstm_update(gi, gh, state)

    def forward(
        self, input: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run the stack over a sequence; see the class docstring for shapes."""
        x, batched = self._time_major(input)
        if hx is None:
            h0 = c0 = self._initial(None, x, batched, "h_0")
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("an LSTM state must be a tuple (h_0, c_0) of two tensors")
            h0 = self._initial(hx[0], x, batched, "h_0")
            c0 = self._initial(hx[1], x, batched, "c_0")
        out, finals = self._run(x, list(zip(h0.unbind(0), c0.unbind(0))))
        h_n = torch.stack([h for h, _ in finals])
        c_n = torch.stack([c for _, c in finals])
        if not batched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return self._output(out, batched), (h_n, c_n)
