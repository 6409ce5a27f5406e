"""The first-order backward recursions of ``rnn_scan`` on arrays (used by ``ScanGrad``),
from the activations its forward kept (rnn_forward.py).

Each walks the steps in the opposite order to the forward, carrying the gradient that
reaches the state (``carry_h``, and ``carry_c`` for LSTM) from the later steps. At a step
the upstream gradient of that step's output is added to the carry first, then the active
rows go back through the cell (rows of a packed batch that did not take the step pass
their carry through unchanged, as their state did). The weight gradients are one product
over all steps at the end: dW_hh = dG^T @ H_prev, with dG the gradients of the recurrent
pre-activations (zero for rows that did not take a step) and H_prev the state each step
started from.

Derivatives (s = sigmoid, s' = s (1 - s), tanh' = 1 - tanh^2; notation of rnn_steps.py):

- RNN: dpre = dh * act'(h'), act' = 1 - h'^2 (tanh) or [h' > 0] (relu); dh_prev = dpre W_hh
- LSTM: dm = dh (dh W_hr with a projection; dW_hr = sum_t dh_t^T m_t);
  dc = carry_c + dm o tanh'(c'); d(i, f, g, o) = (dc g i', dc c f', dc i g', dm tanh(c') o');
  dh_prev = dG W_hh, dc_prev = dc f
- GRU: dn = dh (1 - z), dz = dh (h - n), dpre_n = dn (1 - n^2), dr = dpre_n hg_n;
  dxg = (dr r', dz z', dpre_n), dhg = (dr r', dz z', dpre_n r);
  dh_prev = dh z + dhg W_hh, db_hh = sum dhg
"""
from .. import backend
from .rnn_steps import MODES, active_rows, time_order


def _previous(y, s0, t, reverse):
    """The state step t started from: s0 at the direction's first step, else the state
    after the step before it."""
    if reverse:
        return s0 if t == y.shape[0] - 1 else y[t + 1]
    return s0 if t == 0 else y[t - 1]


def _recurrent_grad(dst, d, y, s0, reverse):
    """dst = sum over (t, b) of d[t, b]^T prev[t, b] with prev the state each step started
    from: one product over all steps but the first, plus the first step's with s0 (no
    shifted copy of y is made)."""
    if dst is None:
        return
    first, rest_d, rest_y = (d[-1], d[:-1], y[1:]) if reverse else (d[0], d[1:], y[:-1])
    backend.matmul(first.T, s0, out=dst)
    if rest_d.shape[0]:
        dst += backend.matmul(rest_d.reshape(-1, d.shape[-1]).T,
                              rest_y.reshape(-1, y.shape[-1]))


def _buffer(xp, dst, shape, dtype, masked):
    """Where the loop writes a (T, B, ...) gradient: its place in the result (``dst``) or
    a new array; zeroed for a packed batch (rows that skip a step get no gradient)."""
    buf = dst if dst is not None else xp.empty(shape, dtype)
    if masked:
        buf[...] = 0
    return buf


def _put(dst, value):
    if dst is not None:
        dst[...] = value


def _weight_grad(dst, d, x):
    """dst = sum over (t, b) of d[t, b]^T x[t, b]: one product over all steps."""
    if dst is not None:
        backend.matmul(d.reshape(-1, d.shape[-1]).T, x.reshape(-1, x.shape[-1]), out=dst)


def _steps_back(batch_sizes, steps, batch, reverse):
    """(t, active rows) in the order the backward visits the steps."""
    for t in time_order(steps, not reverse):
        yield t, active_rows(batch_sizes, t, batch)


def _rnn_backward(act, xp, g, y, h0, c0, w_hh, b_hh, w_hr, acts, reverse, bs, out):
    steps, batch = g.shape[:2]
    deriv = 1 - y * y if act == "tanh" else (y > 0).astype(y.dtype)
    dpre = _buffer(xp, out[0], y.shape, g.dtype, bs is not None)
    carry = xp.zeros(h0.shape, g.dtype)
    for t, n in _steps_back(bs, steps, batch, reverse):
        carry += g[t]
        d = dpre[t, :n]
        xp.multiply(carry[:n], deriv[t, :n], out=d)
        backend.matmul(d, w_hh, out=carry[:n])
    _put(out[1], carry)
    _recurrent_grad(out[3], dpre, y, h0, reverse)


def _lstm_backward(xp, g, y, h0, c0, w_hh, b_hh, w_hr, acts, reverse, bs, out):
    a_all, tc_all, c_all = acts
    steps, batch, n = c_all.shape
    p = h0.shape[-1]
    split = steps * batch * p       # y and g: h of every step, then the final c
    g_h = g[:split].reshape(steps, batch, p)
    dgates = _buffer(xp, out[0], a_all.shape, g.dtype, bs is not None)
    dh_all = None
    if w_hr is not None:
        dh_all = _buffer(xp, None, (steps, batch, p), g.dtype, bs is not None)
    carry_h = xp.zeros((batch, p), g.dtype)
    carry_c = g[split:].reshape(batch, n).copy()
    dc_buf, tmp_buf = xp.empty((2, batch, n), g.dtype)
    for t, k in _steps_back(bs, steps, batch, reverse):
        carry_h += g_h[t]
        a, tc = a_all[t, :k], tc_all[t, :k]
        i, f, gg, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
        dm = carry_h[:k]
        if dh_all is not None:
            dh_all[t, :k] = dm
            dm = backend.matmul(dm, w_hr)
        dc, tmp = dc_buf[:k], tmp_buf[:k]
        xp.multiply(tc, tc, out=dc)              # dc = carry_c + dm o (1 - tc^2)
        xp.subtract(1, dc, out=dc)
        dc *= o
        dc *= dm
        dc += carry_c[:k]
        d = dgates[t, :k]
        xp.subtract(1, a, out=d)                 # s (1 - s): the sigmoid gates' slopes
        d *= a
        # each gate's factors multiplied in the contiguous scratch first: one pass per gate
        # writes the strided gate slice (a strided write costs ~3x a contiguous one here)
        di, df, dg, do = d[:, :n], d[:, n:2 * n], d[:, 2 * n:3 * n], d[:, 3 * n:]
        di *= xp.multiply(gg, dc, out=tmp)
        df *= xp.multiply(_previous(c_all, c0, t, reverse)[:k], dc, out=tmp)
        do *= xp.multiply(tc, dm, out=tmp)
        xp.multiply(gg, gg, out=tmp)             # tanh' = 1 - g^2
        xp.subtract(1, tmp, out=tmp)
        tmp *= i
        xp.multiply(tmp, dc, out=dg)
        backend.matmul(d, w_hh, out=carry_h[:k])
        xp.multiply(dc, f, out=carry_c[:k])
    _put(out[1], carry_h)
    _put(out[2], carry_c)
    _recurrent_grad(out[3], dgates, y[:split].reshape(steps, batch, p), h0, reverse)
    if dh_all is not None and out[5] is not None:
        _weight_grad(out[5], dh_all, a_all[..., 3 * n:] * tc_all)


def _gru_backward(xp, g, y, h0, c0, w_hh, b_hh, w_hr, acts, reverse, bs, out):
    rz_all, n_all, hn_all = acts
    steps, batch = g.shape[:2]
    n = h0.shape[-1]
    dxg = _buffer(xp, out[0], (steps, batch, 3 * n), g.dtype, bs is not None)
    dhg = _buffer(xp, None, (steps, batch, 3 * n), g.dtype, bs is not None)
    carry = xp.zeros((batch, n), g.dtype)
    for t, k in _steps_back(bs, steps, batch, reverse):
        carry += g[t]
        dh = carry[:k]
        r, z = rz_all[t, :k, :n], rz_all[t, :k, n:]
        nt, hn = n_all[t, :k], hn_all[t, :k]
        dpre_n = dh * (1 - z) * (1 - nt * nt)
        dx, dhh = dxg[t, :k], dhg[t, :k]
        xp.multiply(dpre_n * hn, r * (1 - r), out=dx[:, :n])
        xp.multiply(dh * (_previous(y, h0, t, reverse)[:k] - nt), z * (1 - z),
                    out=dx[:, n:2 * n])
        dx[:, 2 * n:] = dpre_n
        dhh[:, :2 * n] = dx[:, :2 * n]
        xp.multiply(dpre_n, r, out=dhh[:, 2 * n:])
        carry[:k] = dh * z + backend.matmul(dhh, w_hh)
    _put(out[1], carry)
    _recurrent_grad(out[3], dhg, y, h0, reverse)
    if out[4] is not None:
        dhg.sum(axis=(0, 1), out=out[4])


BACKWARD = {
    "RNN_TANH": lambda *a: _rnn_backward("tanh", *a),
    "RNN_RELU": lambda *a: _rnn_backward("relu", *a),
    "LSTM": _lstm_backward,
    "GRU": _gru_backward,
}
assert set(BACKWARD) == set(MODES)
