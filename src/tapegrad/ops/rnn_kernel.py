"""``rnn_scan`` of an LSTM on numba's kernels (backend/_numba.py), gates-major.

Taken when :func:`takes_kernels` says so: an LSTM without projection, on an unpacked
float32 NumPy batch, with the kernel setting giving a kernel (backend/kernels.py: numba
installed and 2+ threads under ``"auto"``). Everything else runs rnn_forward.py and
rnn_backward.py's NumPy code, which this path matches to float32 rounding (the kernels'
tanh is a rational function, not libm's).

Layout: the batch runs along the last axis. A step's product is W_hh @ h, (4H, H) @ (H,
B) with h contiguous, the form OpenBLAS splits best over threads (0.94x the time of the
NumPy path's W_hh @ h^T from a transposed view; h @ W_hh^T takes 1.6x), and every array a
kernel reads or writes is contiguous along the batch, so its loop vectorises. The input projection arrives as xg (T, B, 4H) viewed over
(4H, T, B) memory: the layers compute it that way (``rnn_cell.project(gates_major=True)``);
any other xg is copied into that layout first. At W8's size (hidden 256, batch 32) a
step's gate maths take ~17 us forward and ~10 us backward alone, ~35 and ~14 us inside a
W8 step (the forward reads its step of xg, 1024 rows of 128 B, from memory), against ~65
and ~60 us of NumPy passes.

Saved for the backward: acts (T + 1, 6H, B), per step the gates i, f, g, o, then c' and
h', and one slot more for the first state (h0, c0), so a step always reads the state it
starts from in the slot before. The backward writes the gradients of the gates per step,
(T, 4H, B) (the step's product reads them as one block), then copies them into xg's
gradient in xg's layout ((4H, T, B) memory), so the input projection's VJP and dW_hh each
read it as one matrix. (Writing them there directly, from the kernel or after it, is
slower: 1.03x a whole scan with the writes scattered over T-strided rows.)
"""
from .. import backend
from ..backend import kernels
from .rnn_backward import _put, _recurrent_grad
from .rnn_steps import time_order


def takes_kernels(mode, x, w_hr=None, batch_sizes=None):
    """Whether a scan (or the projection feeding it) of ``mode`` over the array ``x`` runs
    on the kernels."""
    return (mode == "LSTM" and w_hr is None and batch_sizes is None
            and x.dtype == backend.float32 and x.size > 0
            and kernels.pick("lstm_forward_step", x) is not None)


def is_kernel_acts(acts):
    """Whether the forward's saved activations are this path's (one gates-major array)."""
    return len(acts) == 1


def gates_major(xg):
    """xg (T, B, G) as its (G, T, B) array, copied into that layout if it isn't."""
    x = xg.transpose(2, 0, 1)
    return x if x.flags.c_contiguous else backend.xp.ascontiguousarray(x)


def _slots(t, reverse):
    """(slot, slot before) of step t in the activations: a direction's first state
    (h0, c0) sits in the slot before its first step's."""
    return (t, t + 1) if reverse else (t + 1, t)


def scan_forward(xp, xg, h0, c0, w_hh, reverse):
    """(h of every step then the final c, flat; the saved activations)."""
    steps, batch, gates = xg.shape
    n = gates // 4
    step = kernels.load("lstm_forward_step")
    x = gates_major(xg)
    acts = xp.empty((steps + 1, 6 * n, batch), xg.dtype)
    first = steps if reverse else 0
    acts[first, 4 * n:5 * n] = c0.T
    acts[first, 5 * n:] = h0.T
    pre = xp.empty((gates, batch), xg.dtype)
    for t in time_order(steps, reverse):
        s, p = _slots(t, reverse)
        backend.matmul(w_hh, acts[p, 5 * n:], out=pre)
        step(pre, x, t, acts, s, p)
    split = steps * batch * n
    out = xp.empty(split + batch * n, xg.dtype)
    hs = acts[:steps] if reverse else acts[1:]
    out[:split].reshape(steps, batch, n)[...] = hs[:, 5 * n:].transpose(0, 2, 1)
    out[split:].reshape(batch, n)[...] = acts[steps - first, 4 * n:5 * n].T
    return out, acts


def scan_backward(xp, g, y, h0, c0, w_hh, acts, reverse, out):
    """rnn_backward's LSTM backward for :func:`scan_forward`'s activations: fills ``out``
    (the gradients of xg, h0, c0 and w_hh, None where not needed; out[0] a (T, B, 4H) view
    of (4H, T, B) memory, see :func:`result_layout`)."""
    slots, rows, batch = acts.shape
    steps, n = slots - 1, rows // 6
    split = steps * batch * n
    step = kernels.load("lstm_backward_step")
    g_h = xp.ascontiguousarray(g[:split].reshape(steps, batch, n).transpose(0, 2, 1))
    carry = xp.zeros((2, n, batch), g.dtype)    # reaching h and c
    carry[1] = g[split:].reshape(batch, n).T
    d = xp.empty((steps, 4 * n, batch), g.dtype)
    w_t = xp.ascontiguousarray(w_hh.T)
    for t in time_order(steps, not reverse):
        s, p = _slots(t, reverse)
        step(acts, s, p, carry, g_h, t, d)
        backend.matmul(w_t, d[t], out=carry[0])
    d = d.transpose(0, 2, 1)
    if out[0] is not None:
        out[0][...] = d
        d = out[0]
    _put(out[1], carry[0].T)
    _put(out[2], carry[1].T)
    _recurrent_grad(out[3], d, y[:split].reshape(steps, batch, n), h0, reverse)


def result_layout(shape):
    """(the memory shape, the axes that view it as ``shape``) of xg's gradient: xg's
    gates-major layout."""
    steps, batch, gates = shape
    return (gates, steps, batch), (1, 2, 0)
