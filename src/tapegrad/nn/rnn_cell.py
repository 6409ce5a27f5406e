"""One-step recurrent cells: RNNCell, LSTMCell, GRUCell (PyTorch's names, parameters
``weight_ih`` (gates * H, I), ``weight_hh`` (gates * H, H), ``bias_ih``, ``bias_hh``, and
initialisation U(-1/sqrt(H), 1/sqrt(H))). Each calls its functional cell
(``tg.rnn_tanh_cell``, ``tg.lstm_cell``, ...: ops/rnn_cell.py). Inputs are (B, I) or
unbatched (I,); a missing state is zeros.
"""
from ..core.errors import ShapeError
from ..creation import empty, zeros
from ..ops.rnn_cell import rnn_tanh_cell, rnn_relu_cell, lstm_cell, gru_cell
from .module import Module
from .parameter import Parameter
from .rnn import check_dtype, check_sizes, reset_uniform


class RNNCellBase(Module):
    """The parameters and checks shared by the cells (PyTorch's ``nn.RNNCellBase``)."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        cls = type(self).__name__
        check_sizes(cls, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = num_chunks * hidden_size
        self.weight_ih = Parameter(empty(gates, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(empty(gates, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(empty(gates, dtype=dtype, device=device))
            self.bias_hh = Parameter(empty(gates, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self, generator=None):
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        reset_uniform(self, self.hidden_size, generator)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _batched(self, input, states):
        """(input (B, I), states (B, H) with zeros for None, whether the input had a batch
        dim). Raises ShapeError for inputs or states that are neither 1-D nor 2-D."""
        cls = type(self).__name__
        if input.ndim not in (1, 2):
            raise ShapeError(f"{cls}: Expected input to be 1D or 2D, got {input.ndim}D "
                             f"instead (shape {list(input.shape)})")
        check_dtype(cls, input, self.weight_ih)
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        out = []
        for s in states:
            if s is None:
                s = zeros((x.shape[0], self.hidden_size), dtype=x.dtype, device=x.device)
            elif s.ndim != input.ndim:
                raise ShapeError(f"{cls}: Expected hidden to be {input.ndim}D like the input, "
                                 f"got {s.ndim}D (shape {list(s.shape)})")
            elif not batched:
                s = s.unsqueeze(0)
            out.append(s)
        return x, out, batched

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class RNNCell(RNNCellBase):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act tanh or relu.

    ``RNNCell(input_size, hidden_size, bias=True, nonlinearity='tanh', device=None,
    dtype=None)``; ``forward(input, hx=None)`` -> h' (B, H) (or (H,) unbatched). Raises
    ValueError for an unknown nonlinearity (at construction; PyTorch at the first call),
    ShapeError for mismatched shapes, TypeError for a dtype other than the weights'.
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             f"'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._batched(input, (hx,))
        cell = rnn_tanh_cell if self.nonlinearity == "tanh" else rnn_relu_cell
        out = cell(x, h, *self._weights())
        return out if batched else out.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: (h', c') with c' = f c + i g, h' = o tanh(c'), gates (i, f, g, o).

    ``LSTMCell(input_size, hidden_size, bias=True, device=None, dtype=None)``;
    ``forward(input, hx=None)`` with hx = (h, c) -> (h', c'). Errors as :class:`RNNCell`;
    TypeError when hx is not a pair.
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTMCell: hx must be a pair (h, c) of tensors, got "
                            f"{type(hx).__name__}")
        x, (h, c), batched = self._batched(input, (None, None) if hx is None else hx)
        h, c = lstm_cell(x, (h, c), *self._weights())
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step: r, z = s(...), n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),
    h' = (1 - z) n + z h.

    ``GRUCell(input_size, hidden_size, bias=True, device=None, dtype=None)``;
    ``forward(input, hx=None)`` -> h'. Errors as :class:`RNNCell`.
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._batched(input, (hx,))
        out = gru_cell(x, h, *self._weights())
        return out if batched else out.squeeze(0)
