"""The forward of ``rnn_scan`` on arrays: the steps of rnn_steps.py, written in place.

Each step makes one product with W_hh (on NumPy's BLAS into a small scratch, which the add
of the input projection reads) into the array that keeps that step's gate activations for
the backward (rnn_backward.py), applies the nonlinearities there in place,
and writes the new state into the output, so a step allocates almost nothing and nothing
is copied afterwards. Rows of a packed batch that skip a step copy their state forward.
"""
from .. import backend
from .rnn_steps import active_rows, time_order


def saved_arrays(xp, mode, xg, h0, batch_sizes):
    """The (T, B, ...) arrays the forward fills with each step's activations, which the
    backward reads: LSTM (i, f, g, o), tanh(c), c; GRU (r, z), n, hg_n; RNN nothing
    (zeros where a packed batch leaves rows out, so no stale memory reaches a product)."""
    steps, batch = xg.shape[0], xg.shape[1]
    n = h0.shape[-1] if mode != "LSTM" else xg.shape[-1] // 4
    widths = {"LSTM": (4 * n, n, n), "GRU": (2 * n, n, n)}.get(mode, ())
    alloc = xp.empty if batch_sizes is None else xp.zeros
    return tuple(alloc((steps, batch, w), xg.dtype) for w in widths)


def _sigmoid(xp, x):
    """x = sigmoid(x) = (1 + tanh(x / 2)) / 2 in place: never overflows, and four cheap
    passes (tanh is one vectorised pass; 1 / (1 + exp(-x)) costs a third more here). Its
    error is absolute (half an ulp of 1), as large relative to the result only where the
    gate is under ~1e-7, where it multiplies to nothing."""
    x *= 0.5
    xp.tanh(x, out=x)
    x *= 0.5
    x += 0.5


def _lstm_gates(xp, n, dtype):
    """(scale, shift) over an LSTM's 4 n gate columns: a = tanh(a scale) scale + shift is
    _sigmoid's (1 + tanh(a / 2)) / 2 on i, f and o and tanh on g (scale 1, shift 0), the
    same values in four passes over whole rows instead of eleven over gate slices (a pass
    over a strided slice costs 2-4x one over contiguous memory at W8's size)."""
    scale = xp.full(4 * n, 0.5, dtype)
    shift = xp.full(4 * n, 0.5, dtype)
    scale[2 * n:3 * n] = 1
    shift[2 * n:3 * n] = 0
    return scale, shift


def _recurrent_product(xp, w_hh, batch):
    """A function ``product(h, out)`` returning h @ W_hh^T for the per-step products, in
    the form the BLAS computes fastest (measured on the W8 LSTM's (32, 256) @ (256, 1024)).
    MKL (tapegrad's BLAS on one thread): h @ W_hh^T from the transposed view, written into
    ``out`` (1.5x faster than from a row-major copy). NumPy's BLAS (OpenBLAS, the default on
    more threads): W_hh @ h^T into a (gates * H, rows) scratch, returned as its transposed
    view (OpenBLAS splits its 1024 rows over the threads far better than h's 32: with the
    add of xg that reads the view, 0.855x the time of h @ W_hh^T from a row-major copy,
    itself 0.86x of the view); callers add xg into ``out`` from it."""
    if type(w_hh) is not backend.ndarray or backend.blas() != "numpy":
        w_t = w_hh.T

        def product(h, out):
            return backend.matmul(h, w_t, out=out)
        return product
    scratch = xp.empty(w_hh.shape[0] * batch, w_hh.dtype)

    def product(h, out):
        s = scratch[:w_hh.shape[0] * h.shape[0]].reshape(w_hh.shape[0], h.shape[0])
        return backend.matmul(w_hh, h.T, out=s).T
    return product


def _carry(new, old, k):
    """Rows k: (sequences not taking this step) keep their state."""
    if k < new.shape[0]:
        new[k:] = old[k:]


def _rnn_forward(act, xp, xg, h0, c0, product, b_hh, w_hr, reverse, bs, saved):
    steps, batch = xg.shape[0], xg.shape[1]
    out = xp.empty((steps, batch, h0.shape[-1]), xg.dtype)
    h = h0
    for t in time_order(steps, reverse):
        k = active_rows(bs, t, batch)
        pre = out[t, :k]
        xp.add(product(h[:k], pre), xg[t, :k], out=pre)
        if act == "tanh":
            xp.tanh(pre, out=pre)
        else:
            xp.maximum(pre, 0, out=pre)
        _carry(out[t], h, k)
        h = out[t]
    return out


def _lstm_forward(xp, xg, h0, c0, product, b_hh, w_hr, reverse, bs, saved):
    a_all, tc_all, c_all = saved
    steps, batch, n = c_all.shape
    p = h0.shape[-1]
    split = steps * batch * p
    out = xp.empty(split + batch * n, xg.dtype)   # h of every step, then the final c
    h_all = out[:split].reshape(steps, batch, p)
    scale, shift = _lstm_gates(xp, n, xg.dtype)
    h, c = h0, c0
    for t in time_order(steps, reverse):
        k = active_rows(bs, t, batch)
        a = a_all[t, :k]
        xp.add(product(h[:k], a), xg[t, :k], out=a)
        a *= scale
        xp.tanh(a, out=a)
        a *= scale
        a += shift
        i, f, g, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
        c_new, h_new, tc = c_all[t], h_all[t], tc_all[t, :k]
        xp.multiply(f, c[:k], out=c_new[:k])
        xp.multiply(i, g, out=tc)                # (tc as scratch: no temporary)
        c_new[:k] += tc
        xp.tanh(c_new[:k], out=tc)
        if w_hr is None:
            xp.multiply(o, tc, out=h_new[:k])
        else:
            backend.matmul(o * tc, w_hr.T, out=h_new[:k])
        _carry(c_new, c, k)
        _carry(h_new, h, k)
        h, c = h_new, c_new
    out[split:] = c.reshape(-1)
    return out


def _gru_forward(xp, xg, h0, c0, product, b_hh, w_hr, reverse, bs, saved):
    rz_all, n_all, hn_all = saved
    steps, batch, n = n_all.shape
    out = xp.empty((steps, batch, n), xg.dtype)
    hg = xp.empty((batch, 3 * n), xg.dtype)
    h = h0
    for t in time_order(steps, reverse):
        k = active_rows(bs, t, batch)
        hgk = product(h[:k], hg[:k])
        if b_hh is not None:
            hgk += b_hh
        rz, nt = rz_all[t, :k], n_all[t, :k]
        xp.add(xg[t, :k, :2 * n], hgk[:, :2 * n], out=rz)
        _sigmoid(xp, rz)
        hn_all[t, :k] = hgk[:, 2 * n:]
        xp.multiply(rz[:, :n], hgk[:, 2 * n:], out=nt)
        nt += xg[t, :k, 2 * n:]
        xp.tanh(nt, out=nt)
        h_new = out[t, :k]                     # n + z (h - n)
        xp.subtract(h[:k], nt, out=h_new)
        h_new *= rz[:, n:]
        h_new += nt
        _carry(out[t], h, k)
        h = out[t]
    return out


FORWARD = {
    "RNN_TANH": lambda *a: _rnn_forward("tanh", *a),
    "RNN_RELU": lambda *a: _rnn_forward("relu", *a),
    "LSTM": _lstm_forward,
    "GRU": _gru_forward,
}


def array_scan(xp, mode, xg, h0, c0, w_hh, b_hh, w_hr, reverse, batch_sizes, saved):
    """``rnn_scan``'s output on arrays of module ``xp``, filling ``saved``."""
    product = _recurrent_product(xp, w_hh, xg.shape[1])
    return FORWARD[mode](xp, xg, h0, c0, product, b_hh, w_hr, reverse, batch_sizes, saved)
