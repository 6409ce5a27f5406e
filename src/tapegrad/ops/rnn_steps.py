"""The recurrent cells' maths in tapegrad ops: the reference definition of ``rnn_scan``.

A step takes one time step of the input projection ``xg`` (B, gates * H) = x_t @ W_ih^T +
biases, the previous state (h, c) and the recurrent weights, and returns the new state.
:func:`reference` runs a step over time. It is what ``rnn_scan`` computes; the primitive's
forward and first-order VJP are fast array versions of it (rnn_forward.py,
rnn_backward.py), and its second-order VJP and its JVP are this composite's autodiff.

Gate orders and formulas are PyTorch's (W_hh is (gates * H, P)):

- RNN:  h' = act(xg + h W_hh^T),  act = tanh or relu
- LSTM: (i, f, g, o) = (s, s, tanh, s)(xg + h W_hh^T),  s = sigmoid;  c' = f c + i g;
  h' = o tanh(c'), times W_hr^T when the LSTM has a projection (proj_size)
- GRU:  (r, z) = s(xg_rz + hg_rz),  n = tanh(xg_n + r hg_n),  h' = n + z (h - n)
  = (1 - z) n + z h,  with hg = h W_hh^T + b_hh (b_hh stays inside r * (...), so it is
  not folded into xg as it is for the others)

Packed batches (``batch_sizes``): at time t only the first ``batch_sizes[t]`` rows (the
sequences still running, sorted longest first) take a step; the others keep their state.
So the state after the last step holds each sequence's final state, in either direction.
"""
from .index import cat, stack
from .nnfunc import linear


def rnn_step(act, xg, h, c, w_hh, b_hh, w_hr):
    """One Elman step: (act(xg + h W_hh^T), None)."""
    return getattr(xg + linear(h, w_hh), act)(), None


def lstm_step(xg, h, c, w_hh, b_hh, w_hr):
    """One LSTM step: (h', c')."""
    n = c.shape[-1]
    a = xg + linear(h, w_hh)
    i, f = a[:, :n].sigmoid(), a[:, n:2 * n].sigmoid()
    g, o = a[:, 2 * n:3 * n].tanh(), a[:, 3 * n:].sigmoid()
    c = f * c + i * g
    m = o * c.tanh()
    return (m if w_hr is None else linear(m, w_hr)), c


def gru_step(xg, h, c, w_hh, b_hh, w_hr):
    """One GRU step: (h', None)."""
    n = h.shape[-1]
    hg = linear(h, w_hh, b_hh)
    rz = (xg[:, :2 * n] + hg[:, :2 * n]).sigmoid()
    nt = (xg[:, 2 * n:] + rz[:, :n] * hg[:, 2 * n:]).tanh()
    return nt + rz[:, n:] * (h - nt), None


#: mode -> (reference step, gates per hidden unit)
MODES = {
    "RNN_TANH": (lambda *a: rnn_step("tanh", *a), 1),
    "RNN_RELU": (lambda *a: rnn_step("relu", *a), 1),
    "LSTM": (lstm_step, 4),
    "GRU": (gru_step, 3),
}


def time_order(steps, reverse):
    """The time steps in the order a direction visits them."""
    return range(steps - 1, -1, -1) if reverse else range(steps)


def active_rows(batch_sizes, t, batch):
    """How many rows take step t (all of them unless the batch is packed)."""
    return batch if batch_sizes is None else batch_sizes[t]


def reference(xg, h0, c0, w_hh, b_hh, w_hr, mode, reverse, batch_sizes):
    """``rnn_scan`` in tapegrad ops (differentiable to any order in both modes): h after
    each step in time order, (T, B, P); for LSTM flattened and followed by the final c
    flattened, (T * B * P + B * H,)."""
    step = MODES[mode][0]
    steps, batch = xg.shape[0], xg.shape[1]
    h, c = h0, c0
    hs = [None] * steps
    for t in time_order(steps, reverse):
        n = active_rows(batch_sizes, t, batch)
        if n == batch:
            h, c = step(xg[t], h, c, w_hh, b_hh, w_hr)
        else:   # rows n: are past the end (or before the start) of their sequence
            h2, c2 = step(xg[t][:n], h[:n], None if c is None else c[:n], w_hh, b_hh, w_hr)
            h = cat([h2, h[n:]], dim=0)
            c = None if c is None else cat([c2, c[n:]], dim=0)
        hs[t] = h
    out = stack(hs)
    return out if c is None else cat([out.reshape(-1), c.reshape(-1)], dim=0)
