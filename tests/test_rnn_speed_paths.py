"""The recurrent layers' speed paths give the values of the plain ones: a sequence projected
as one 2-d product, the per-step product as W_hh @ h^T (NumPy's BLAS) or h @ W_hh^T (MKL),
and the LSTM's gate nonlinearities applied to whole rows (docs/sequence-models.md)."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad import backend
from tapegrad.ops import rnn_forward
from tapegrad.ops.nnfunc import linear
from tapegrad.ops.rnn_cell import project
from tapegrad.ops.rnn_steps import reference


@pytest.fixture
def blas():
    """Restores the BLAS choice a test changes."""
    yield backend
    backend.set_blas("auto")


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_project_of_a_sequence_is_the_3d_linear(mode):
    rng = np.random.default_rng(0)
    gates = 4 if mode == "LSTM" else 3
    x = tg.tensor(rng.standard_normal((5, 3, 4)), requires_grad=True)
    w = tg.tensor(rng.standard_normal((gates * 2, 4)), requires_grad=True)
    b_ih, b_hh = (tg.tensor(rng.standard_normal(gates * 2)) for _ in range(2))
    xg, keep = project(mode, x, w, b_ih, b_hh)
    want = linear(x, w, b_ih if mode == "GRU" else b_ih + b_hh)
    assert xg.shape == (5, 3, gates * 2) and (keep is b_hh) == (mode == "GRU")
    np.testing.assert_allclose(xg.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(xg.shape)
    gx, gw = tg.grad(xg, [x, w], tg.tensor(g))
    wx, ww = tg.grad(want, [x, w], tg.tensor(g))
    np.testing.assert_allclose(gx.numpy(), wx.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw.numpy(), ww.numpy(), rtol=1e-12, atol=1e-12)


def test_recurrent_product_form_follows_the_blas(blas):
    rng = np.random.default_rng(2)
    w, h = rng.standard_normal((8, 3)), rng.standard_normal((5, 3))
    out = np.empty((5, 8))
    blas.set_blas("numpy")      # W_hh @ h^T into a scratch, handed back transposed
    product = rnn_forward._recurrent_product(np, w, 5)
    r = product(h, out)
    assert not np.shares_memory(r, out) and r.flags.f_contiguous
    np.testing.assert_allclose(r, h @ w.T, rtol=1e-14)
    np.testing.assert_allclose(product(h[:2], out[:2]), h[:2] @ w.T, rtol=1e-14)  # packed
    try:
        blas.set_blas("mkl")
    except RuntimeError:
        return      # no mkl package: the other form is only for MKL
    product = rnn_forward._recurrent_product(np, w, 5)
    assert product(h, out) is out
    np.testing.assert_allclose(out, h @ w.T, rtol=1e-14)


@pytest.mark.parametrize("name", ["numpy", "mkl"])
def test_lstm_forward_matches_the_reference_on_either_blas(blas, name):
    try:
        blas.set_blas(name)
    except RuntimeError:
        pytest.skip("mkl is not installed")
    rng = np.random.default_rng(1)
    n, steps, batch = 8, 6, 5
    xg = rng.standard_normal((steps, batch, 4 * n)) * 2     # gates well into saturation too
    h0, c0 = rng.standard_normal((batch, n)), rng.standard_normal((batch, n))
    w_hh = rng.standard_normal((4 * n, n))
    acts = rnn_forward.saved_arrays(np, "LSTM", xg, h0, None)
    out = rnn_forward.array_scan(np, "LSTM", xg, h0, c0, w_hh, None, None, False, None, acts)
    want = reference(*[tg.tensor(a) for a in (xg, h0, c0, w_hh)], None, None, "LSTM", False,
                     None)
    np.testing.assert_allclose(out, want.numpy(), rtol=1e-12, atol=1e-14)
    i, f, g, o = np.split(acts[0], 4, axis=-1)     # kept: sigmoid, sigmoid, tanh, sigmoid
    assert (i > 0).all() and (i < 1).all() and (o > 0).all() and (f < 1).all()
    assert g.min() < -0.9 and g.max() > 0.9
