"""One step of a recurrent cell, with PyTorch's functional names and signatures:
``rnn_tanh_cell``, ``rnn_relu_cell``, ``gru_cell`` (input, hx, w_ih, w_hh, b_ih, b_hh) and
``lstm_cell`` (input, (hx, cx), ...). Each is the input projection (one ``linear``) and a
one-step ``rnn_scan`` (ops/rnn_scan.py), so a cell and a layer share every line of maths.
"""
from ..core.errors import ShapeError
from ..core.registry import composite
from ..core.tensor import Tensor
from ._util import Sample
from .nnfunc import Linear, linear
from .rnn_scan import rnn_scan
from .rnn_steps import MODES


def fold_biases(b_ih, b_hh):
    """b_ih + b_hh (either may be None): the biases that add before the nonlinearity."""
    if b_ih is None or b_hh is None:
        return b_ih if b_hh is None else b_hh
    return b_ih + b_hh


def project(mode, x, w_ih, b_ih, b_hh, gates_major=False):
    """(x @ W_ih^T + biases, the bias left for the scan): a GRU keeps b_hh apart (it sits
    inside r * (W_hn h + b_hn)); the other cells add both biases up front.

    A whole sequence (T, B, I) is projected as one (T * B, I) matrix: NumPy's matmul runs
    a 3-d @ 2-d product as one small GEMM per time step (the W8 LSTM's projection took
    10.3 ms that way at two threads, 5.8 ms as one product), and so would its VJP.
    ``gates_major``: laid out in memory as (gates, T, B), what the LSTM kernels read
    (ops/rnn_kernel.py; the caller asks ``rnn_kernel.takes_kernels``)."""
    b, keep = (b_ih, b_hh) if mode == "GRU" else (fold_biases(b_ih, b_hh), None)
    if gates_major and x.ndim == 3 and w_ih.dtype == x.dtype and (b is None or
                                                                  b.dtype == x.dtype):
        return Linear.apply(x, w_ih, b, features_first=True), keep
    if x.ndim <= 2:
        return linear(x, w_ih, b), keep
    xg = linear(x.reshape(-1, x.shape[-1]), w_ih, b)
    return xg.reshape(tuple(x.shape[:-1]) + (w_ih.shape[0],)), keep


def split_lstm(out, steps, h_shape, c_shape):
    """(h of every step (T, B, P), final c (B, H)) from an LSTM rnn_scan's output."""
    split = steps * h_shape[0] * h_shape[1]
    return (out[:split].reshape((steps,) + tuple(h_shape)),
            out[split:].reshape(tuple(c_shape)))


def check_cell(op, input, hx, w_ih, w_hh):
    """PyTorch's checks of a cell's input and state against its weights (ShapeError)."""
    if input.ndim != 2:
        raise ShapeError(f"{op}: expected input to be 2-D (batch, input_size), got shape "
                         f"{list(input.shape)}")
    if input.shape[1] != w_ih.shape[1]:
        raise ShapeError(f"{op}: input has inconsistent input_size: got {input.shape[1]}, "
                         f"expected {w_ih.shape[1]} (input {list(input.shape)}, w_ih "
                         f"{list(w_ih.shape)})")
    for k, h in enumerate(hx):
        if h.ndim != 2 or h.shape[0] != input.shape[0]:
            raise ShapeError(f"{op}: input batch size {input.shape[0]} doesn't match hidden{k} "
                             f"batch size (hidden{k} has shape {list(h.shape)}, expected 2-D)")
    if hx[0].shape[1] != w_hh.shape[1]:
        raise ShapeError(f"{op}: hidden0 has inconsistent hidden_size: got {hx[0].shape[1]}, "
                         f"expected {w_hh.shape[1]} (w_hh {list(w_hh.shape)})")


def _cell(mode, op, input, hx, w_ih, w_hh, b_ih, b_hh):
    check_cell(op, input, (hx,), w_ih, w_hh)
    gates = MODES[mode][1]
    if w_ih.shape[0] != gates * hx.shape[1]:
        raise ShapeError(f"{op}: w_ih has {w_ih.shape[0]} rows; expected {gates} x hidden_size "
                         f"= {gates * hx.shape[1]}")
    xg, b = project(mode, input, w_ih, b_ih, b_hh)
    return rnn_scan(xg.unsqueeze(0), hx, None, w_hh, b, None, mode)[0]


def _cell_samples(gates):
    def gen(rng):
        r = rng.standard_normal
        return [Sample([r((3, 4)), r((3, 5)), r((gates * 5, 4)), r((gates * 5, 5)),
                        r((gates * 5,)), r((gates * 5,))]),
                Sample([r((2, 3)), r((2, 2)), r((gates * 2, 3)), r((gates * 2, 2))],
                       name="no bias")]
    return gen


@composite("rnn_tanh_cell", samples=_cell_samples(1))
def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One tanh RNN step: h' = tanh(input @ w_ih^T + b_ih + hx @ w_hh^T + b_hh).

    input (B, I), hx (B, H), w_ih (H, I), w_hh (H, H), biases (H,) or None -> (B, H).
    Raises ShapeError on mismatched shapes."""
    return _cell("RNN_TANH", "rnn_tanh_cell", input, hx, w_ih, w_hh, b_ih, b_hh)


@composite("rnn_relu_cell", samples=_cell_samples(1))
def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One relu RNN step: h' = relu(input @ w_ih^T + b_ih + hx @ w_hh^T + b_hh).

    Shapes and errors as rnn_tanh_cell."""
    return _cell("RNN_RELU", "rnn_relu_cell", input, hx, w_ih, w_hh, b_ih, b_hh)


@composite("gru_cell", samples=_cell_samples(3))
def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: h' = (1 - z) n + z h, gates (r, z, n) in PyTorch's order.

    r, z = sigmoid(x W_ir,z^T + b_ir,z + h W_hr,z^T + b_hr,z),
    n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)); input (B, I), hx (B, H), w_ih (3H, I),
    w_hh (3H, H), biases (3H,) or None -> (B, H). Raises ShapeError on mismatched shapes."""
    return _cell("GRU", "gru_cell", input, hx, w_ih, w_hh, b_ih, b_hh)


@composite("lstm_cell")  # (no registry samples: hx is a pair, tests/test_rnn.py checks it)
def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: (h', c') with c' = f c + i g, h' = o tanh(c'), gates (i, f, g, o).

    input (B, I), hx = (h, c) each (B, H), w_ih (4H, I), w_hh (4H, H), biases (4H,) or
    None. Raises ShapeError on mismatched shapes, TypeError when hx is not a pair."""
    if not isinstance(hx, (tuple, list)) or len(hx) != 2 or \
            not all(isinstance(v, Tensor) for v in hx):
        raise TypeError(f"lstm_cell: hx must be a pair (h, c) of tensors, got "
                        f"{type(hx).__name__}")
    h, c = hx
    check_cell("lstm_cell", input, (h, c), w_ih, w_hh)
    if c.shape != h.shape or w_ih.shape[0] != 4 * h.shape[1]:
        raise ShapeError(f"lstm_cell: expected c {list(h.shape)} and w_ih with 4 x "
                         f"hidden_size = {4 * h.shape[1]} rows, got c {list(c.shape)} and w_ih "
                         f"{list(w_ih.shape)}")
    xg, _ = project("LSTM", input, w_ih, b_ih, b_hh)
    out = rnn_scan(xg.unsqueeze(0), h, c, w_hh, None, None, "LSTM")
    h_all, c = split_lstm(out, 1, h.shape, c.shape)
    return h_all[0], c
