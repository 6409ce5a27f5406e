"""Recurrent layers: RNN (tanh or relu), LSTM (with proj_size) and GRU, as PyTorch's.

Same constructor arguments, parameter names (``weight_ih_l{k}[_reverse]``,
``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, ``weight_hr_l{k}``), shapes, gate
orders and initialisation (every parameter U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))), so a
PyTorch ``state_dict`` loads and gives the same outputs. Inputs are (T, B, input_size)
((B, T, ...) with ``batch_first``), unbatched (T, input_size), or a PackedSequence.

Per layer and direction: the input projection of all time steps is one ``linear``; the
recurrence is one ``rnn_scan`` op (ops/rnn_scan.py). A packed batch runs padded, time-major,
with each step applied only to the sequences still running, so every sequence's final state
is its state at its own last step.
"""
import math
import numbers
import warnings

from ..core.errors import ShapeError
from ..core.tensor import Tensor
from ..creation import empty, zeros
from ..ops.index import cat, stack
from ..ops import rnn_kernel
from ..ops.rnn_cell import project, split_lstm
from ..ops.rnn_scan import rnn_scan
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, pack_rows, unpack_rows, _sizes

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def check_sizes(cls, input_size, hidden_size):
    """PyTorch's type and range checks of a recurrent layer's sizes."""
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{cls}: {name} should be of type int, got: {type(v).__name__}")
        if v <= 0:
            raise ValueError(f"{cls}: {name} must be greater than zero, got {v}")


def reset_uniform(module, hidden_size, generator=None):
    """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) (PyTorch's init)."""
    stdv = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0
    for p in module.parameters():
        init.uniform_(p, -stdv, stdv, generator=generator)


def check_dtype(name, input, weight):
    """TypeError naming the layer when ``input``'s dtype is not the weights'."""
    if input.dtype != weight.dtype:
        raise TypeError(f"{name}: input dtype ({input.dtype}) does not match weight dtype "
                        f"({weight.dtype}); convert the input (input.to({weight.dtype})) or "
                        f"the model (model.to({input.dtype}))")


class RNNBase(Module):
    """The machinery of RNN, LSTM and GRU (PyTorch's ``nn.RNNBase``): ``mode`` is
    'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU'.

    Raises TypeError for non-int sizes or non-bool flags, ValueError for sizes <= 0, a
    dropout outside [0, 1], or proj_size < 0 or >= hidden_size (or on a non-LSTM); warns
    when dropout > 0 with one layer (it only acts between layers).
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        cls = type(self).__name__
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError(f"{cls}: dropout should be a number in range [0, 1] representing "
                             f"the probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so "
                          f"non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        for name, v in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(v, bool):
                raise TypeError(f"{cls}: {name} should be of type bool, got: {type(v).__name__}")
        check_sizes(cls, input_size, hidden_size)
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{cls}: num_layers must be greater than zero, got {num_layers}")
        if proj_size < 0:
            raise ValueError(f"{cls}: proj_size should be a positive integer or zero to "
                             f"disable projections, got {proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(f"{cls}: proj_size has to be smaller than hidden_size, got "
                             f"proj_size={proj_size} and hidden_size={hidden_size}")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(num_layers):
            for direction in range(directions):
                fan_in = input_size if layer == 0 else real_hidden * directions
                shapes = [("weight_ih_l{}{}", (gate_size, fan_in)),
                          ("weight_hh_l{}{}", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih_l{}{}", (gate_size,)), ("bias_hh_l{}{}", (gate_size,))]
                if proj_size:
                    shapes.append(("weight_hr_l{}{}", (proj_size, hidden_size)))
                suffix = "_reverse" if direction == 1 else ""
                names = [n.format(layer, suffix) for n, _ in shapes]
                for name, (_, shape) in zip(names, shapes):
                    setattr(self, name, Parameter(empty(*shape, dtype=dtype, device=device)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self, generator=None):
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        reset_uniform(self, self.hidden_size, generator)

    def flatten_parameters(self):
        """A no-op (PyTorch packs the weights for cuDNN here; nothing needs it here)."""

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        """The parameters per layer and direction, as lists (PyTorch's ``all_weights``)."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # -- forward ---------------------------------------------------------------------------
    def _weights(self, layer, direction):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        get = (lambda n: getattr(self, n + suffix) if self.bias or "weight" in n else None)
        w_hr = getattr(self, "weight_hr" + suffix) if self.proj_size else None
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), w_hr

    def _time_major(self, input):
        """(x (T, B, input_size), or (B, T, input_size) for a batched batch_first tensor,
        batch_sizes or None, sorted, unsorted, batched)."""
        cls = type(self).__name__
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_idx, unsorted_idx = input
            if data.ndim != 2:
                raise ShapeError(f"{cls}: packed input data must have 2 dimensions, got shape "
                                 f"{list(data.shape)}")
            self._check_input(data)
            sizes = _sizes(batch_sizes)
            return unpack_rows(data, sizes), sizes, sorted_idx, unsorted_idx, True
        if not isinstance(input, Tensor):
            raise TypeError(f"{cls}: input must be a tg.Tensor or a PackedSequence, got "
                            f"{type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ShapeError(f"{cls}: Expected input to be 2D or 3D, got {input.ndim}D "
                             f"instead (shape {list(input.shape)})")
        self._check_input(input)
        if input.ndim == 2:
            return input.unsqueeze(1), None, None, None, False
        return input, None, None, None, True

    def _check_input(self, x):
        cls = type(self).__name__
        check_dtype(cls, x, self._flat_weights[0])
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{cls}: input.size(-1) must be equal to input_size. Expected "
                             f"{self.input_size}, got {x.shape[-1]} (input shape "
                             f"{list(x.shape)})")
        if x.shape[0] == 0 or any(s == 0 for s in x.shape[1:-1]):
            raise ShapeError(f"{cls}: the input holds no time steps or no sequences (shape "
                             f"{list(x.shape)})")

    def _state(self, hx, x, size, batched, what):
        """An initial state (L * D, B, size): zeros for None, else checked (and given its
        batch dim when the input is unbatched)."""
        cls = type(self).__name__
        want = (self.num_layers * (2 if self.bidirectional else 1), x.shape[1], size)
        if hx is None:
            return zeros(want, dtype=x.dtype, device=x.device)
        if not isinstance(hx, Tensor):
            raise TypeError(f"{cls}: {what} must be a tg.Tensor, got {type(hx).__name__}")
        if hx.ndim != (3 if batched else 2):
            kind = "batched 3-D" if batched else "unbatched 2-D"
            raise ShapeError(f"{cls}: for {kind} input, {what} should also be "
                             f"{3 if batched else 2}-D but got {hx.ndim}-D tensor (shape "
                             f"{list(hx.shape)})")
        if not batched:
            hx = hx.unsqueeze(1)
        if tuple(hx.shape) != want:
            raise ShapeError(f"{cls}: Expected {what} size {want}, got {list(hx.shape)}")
        check_dtype(cls, hx, self._flat_weights[0])
        return hx

    def _run(self, input, hx, cx=None):
        """(output, h_n, c_n or None) for the mode's forward (PyTorch's _VF.rnn_* ops)."""
        x, sizes, sorted_idx, unsorted_idx, batched = self._time_major(input)
        batch_major = batched and sizes is None and self.batch_first
        if batch_major:   # (the shapes the state is checked against)
            x = x.transpose(0, 1)
        lstm = self.mode == "LSTM"
        p = self.proj_size or self.hidden_size
        names = ("hx", None) if not lstm else ("hx[0]", "hx[1]")
        h0 = self._state(hx, x, p, batched, names[0])
        c0 = self._state(cx, x, self.hidden_size, batched, names[1]) if lstm else None
        if sorted_idx is not None and hx is not None:   # to the packed batch's order
            h0 = h0.index_select(1, sorted_idx)
            c0 = c0.index_select(1, sorted_idx) if lstm else None
        out, h_n, c_n = self._layers(x, h0, c0, sizes, batch_major)
        if sizes is not None:
            out = PackedSequence(pack_rows(out, sizes), input.batch_sizes, sorted_idx,
                                 unsorted_idx)
            if unsorted_idx is not None:
                h_n = h_n.index_select(1, unsorted_idx)
                c_n = c_n.index_select(1, unsorted_idx) if lstm else None
        elif not batched:
            out, h_n = out.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, h_n, c_n

    def _layers(self, x, h0, c0, sizes, batch_major):
        """The stacked layers over x (T, B, I) (the first layer's x is a transposed view
        of a (B, T, I) tensor when ``batch_major``: it is projected before the transpose,
        so the product reads contiguous memory)."""
        steps = x.shape[0]
        directions = 2 if self.bidirectional else 1
        lstm = self.mode == "LSTM"
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                k = layer * directions + d
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, d)
                kernel = rnn_kernel.takes_kernels(self.mode, x._data, w_hr, sizes)
                if batch_major and layer == 0 and not kernel:
                    xg, b = project(self.mode, x.transpose(0, 1), w_ih, b_ih, b_hh)
                    xg = xg.transpose(0, 1)
                else:
                    xg, b = project(self.mode, x, w_ih, b_ih, b_hh, gates_major=kernel)
                y = rnn_scan(xg, h0[k], c0[k] if lstm else None, w_hh, b, w_hr, self.mode,
                             reverse=d == 1, batch_sizes=sizes)
                if lstm:
                    y, c_n = split_lstm(y, steps, h0.shape[1:], c0.shape[1:])
                    cs.append(c_n)
                outs.append(y)
                hs.append(y[0 if d == 1 else steps - 1])   # the direction's final step
            x = outs[0] if directions == 1 else cat(outs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, stack(hs), (stack(cs) if lstm else None)


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu.

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None)``
    (``nonlinearity`` may be the 4th positional argument, as in PyTorch).
    ``forward(input, hx=None)`` -> (output (T, B, D * H), h_n (L * D, B, H)); a
    PackedSequence input gives a PackedSequence output. Raises ValueError for an unknown
    nonlinearity or a proj_size, ShapeError for mismatched input or state shapes, TypeError
    for a dtype other than the weights'.
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nonlinearity, args = args[3], args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             f"'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        out, h_n, _ = self._run(input, hx)
        return out, h_n


class LSTM(RNNBase):
    """Long short-term memory: gates (i, f, g, o) = (s, s, tanh, s)(x W_ih^T + b_ih +
    h W_hh^T + b_hh), c' = f c + i g, h' = o tanh(c') (times W_hr^T with ``proj_size``).

    ``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None)``.
    ``forward(input, hx=None)``, hx = (h_0 (L * D, B, P), c_0 (L * D, B, H)) with P =
    proj_size or hidden_size -> (output (T, B, D * P), (h_n, c_n)). Errors as :class:`RNN`;
    TypeError when hx is not a pair.
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTM: hx must be a pair (h_0, c_0) of tensors, got "
                            f"{type(hx).__name__}")
        h0, c0 = (None, None) if hx is None else hx
        out, h_n, c_n = self._run(input, h0, c0)
        return out, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit: r, z = s(x W_ir,iz^T + b + h W_hr,hz^T + b), n = tanh(x W_in^T +
    b_in + r (h W_hn^T + b_hn)), h' = (1 - z) n + z h.

    ``GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, device=None, dtype=None)``; ``forward(input, hx=None)`` ->
    (output, h_n) as :class:`RNN`.
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input, hx=None):
        out, h_n, _ = self._run(input, hx)
        return out, h_n
