"""The LSTM's numba kernels (ops/rnn_kernel.py, backend/_numba.py): taken when they
should be, and equal to the NumPy path (to float32 rounding) and to PyTorch in the
outputs, the final states, every gradient, a Hessian-vector product and a compiled
training step; special values; the kernels' tanh; the gates-major projection."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad.backend import kernels
from tapegrad.ops import rnn_kernel
from tapegrad.ops.nnfunc import Linear
from tapegrad.nn.utils.rnn import pack_padded_sequence

try:
    import numba  # noqa: F401
    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False
pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")

ATOL, RTOL = 2e-6, 1e-5


@pytest.fixture
def loads(monkeypatch):
    """The names of the kernels loaded (the kernel path ran when they are)."""
    names, load = [], kernels.load
    monkeypatch.setattr(kernels, "load", lambda name: names.append(name) or load(name))
    return names


def _with_kernels(on, fn, monkeypatch):
    monkeypatch.setattr(kernels, "MIN_BYTES", 0)
    kernels.set_kernels("numba" if on else "numpy")
    try:
        return fn()
    finally:
        kernels.set_kernels("auto")


def _lstm_run(kw, shape, seed=0, state=False, dtype=np.float32, special=False):
    """Outputs, final states and the gradients of the input, the states and every
    parameter of a fixed LSTM and loss, as NumPy arrays."""
    tg.manual_seed(seed)
    m = tg.nn.LSTM(6, 5, **kw).to(getattr(tg, np.dtype(dtype).name))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    if special:
        x.reshape(-1)[:3] = [np.nan, np.inf, -np.inf]
    xt = tg.tensor(x, requires_grad=True)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    batch = shape[0] if kw.get("batch_first") else shape[1]
    args = ()
    if state:
        h0 = tg.tensor(rng.standard_normal((layers, batch, 5)).astype(dtype),
                       requires_grad=True)
        c0 = tg.tensor(rng.standard_normal((layers, batch, 5)).astype(dtype),
                       requires_grad=True)
        args = ((h0, c0),)
    out, (h, c) = m(xt, *args)
    w = tg.tensor(rng.standard_normal(out.shape).astype(dtype))
    ((out * w).sum() + (h * h).sum() + c.sum()).backward()
    res = [out.detach().numpy(), h.detach().numpy(), c.detach().numpy(), xt.grad.numpy()]
    res += [a.grad.numpy() for a in args[0]] if state else []
    return res + [p.grad.numpy() for p in m.parameters()]


def _close(want, got):
    assert len(want) == len(got)
    for a, b in zip(want, got):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL)


CASES = {
    "one layer": (dict(), (7, 3, 6), False),
    "two layers, states": (dict(num_layers=2), (7, 3, 6), True),
    "bidirectional": (dict(bidirectional=True), (7, 3, 6), False),
    "batch_first, 2 layers, bidirectional": (
        dict(batch_first=True, num_layers=2, bidirectional=True), (3, 7, 6), True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_kernel_path_equals_the_numpy_path(case, monkeypatch, loads):
    kw, shape, state = CASES[case]
    want = _with_kernels(False, lambda: _lstm_run(kw, shape, state=state), monkeypatch)
    assert loads == []
    got = _with_kernels(True, lambda: _lstm_run(kw, shape, state=state), monkeypatch)
    assert "lstm_forward_step" in loads and "lstm_backward_step" in loads
    _close(want, got)


def test_the_kernel_path_matches_torch(monkeypatch):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
    m = tg.nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
    m.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((3, 9, 6)).astype(np.float32)

    def ours():
        xt = tg.tensor(x, requires_grad=True)
        out, (h, c) = m(xt)
        (out.square().sum() + c.sum()).backward()
        return [out.detach().numpy(), h.detach().numpy(), c.detach().numpy(),
                xt.grad.numpy()] + [p.grad.numpy() for p in m.parameters()]
    got = _with_kernels(True, ours, monkeypatch)
    xt = torch.tensor(x, requires_grad=True)
    out, (h, c) = ref(xt)
    (out.square().sum() + c.sum()).backward()
    want = [out.detach().numpy(), h.detach().numpy(), c.detach().numpy(), xt.grad.numpy()]
    _close(want + [p.grad.numpy() for p in ref.parameters()], got)


def test_special_values_give_what_the_numpy_path_gives(monkeypatch):
    """NaN spreads through the same entries; +-inf saturates the gates to the same
    finite values."""
    run = lambda: _lstm_run(dict(), (4, 3, 6), special=True)   # noqa: E731
    want = _with_kernels(False, run, monkeypatch)
    got = _with_kernels(True, run, monkeypatch)
    for a, b in zip(want, got):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(np.nan_to_num(b), np.nan_to_num(a), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", ["packed", "proj_size", "float64", "GRU"])
def test_other_scans_keep_the_numpy_path(case, monkeypatch, loads):
    def run():
        tg.manual_seed(0)
        x = tg.tensor(np.random.default_rng(0).standard_normal((5, 3, 6)),
                      dtype=tg.float64 if case == "float64" else tg.float32)
        cls = tg.nn.GRU if case == "GRU" else tg.nn.LSTM
        m = cls(6, 4, proj_size=2) if case == "proj_size" else cls(6, 4)
        m = m.to(x.dtype)
        if case == "packed":
            x = pack_padded_sequence(x, [5, 3, 2])
        out = m(x)[0]
        out = out.data if case == "packed" else out
        out.sum().backward()
        return out.detach().numpy()
    _with_kernels(True, run, monkeypatch)
    assert loads == []


def test_second_order_equals_the_numpy_path(monkeypatch):
    """A Hessian-vector product (the backward recorded: the reference composite's VJP)
    over the kernels' forward."""
    def hvp():
        tg.manual_seed(0)
        m = tg.nn.LSTM(4, 3)
        x = tg.tensor(np.random.default_rng(2).standard_normal((5, 2, 4)).astype(np.float32),
                      requires_grad=True)
        out, _ = m(x)
        (g,) = tg.autograd.grad((out * out).sum(), [x], create_graph=True)
        (h,) = tg.autograd.grad((g * g).sum(), [x])
        return [g.detach().numpy(), h.numpy()]
    _close(_with_kernels(False, hvp, monkeypatch), _with_kernels(True, hvp, monkeypatch))


def test_a_compiled_training_step_equals_eager(monkeypatch, loads):
    def train(compiled):
        tg.manual_seed(0)
        m = tg.nn.LSTM(6, 5, num_layers=2)
        opt = tg.optim.SGD(m.parameters(), lr=0.1)
        rng = np.random.default_rng(3)
        x = tg.tensor(rng.standard_normal((6, 4, 6)).astype(np.float32))
        y = tg.tensor(rng.standard_normal((6, 4, 5)).astype(np.float32))

        def step(x, y):
            opt.zero_grad()
            loss = tg.nn.functional.mse_loss(m(x)[0], y)
            loss.backward()
            opt.step()
            return loss
        run = tg.compile(step) if compiled else step
        losses = [float(run(x, y)) for _ in range(4)]
        return [np.array(losses)] + [p.detach().numpy() for p in m.parameters()]
    eager = _with_kernels(True, lambda: train(False), monkeypatch)
    assert "lstm_backward_step" in loads
    _close(eager, _with_kernels(True, lambda: train(True), monkeypatch))


def test_a_row_major_projection_is_copied_into_the_kernels_layout(monkeypatch, loads):
    """rnn_scan called with an xg of any layout (here row-major) gives the NumPy path's
    values and gradients."""
    from tapegrad.ops.rnn_scan import rnn_scan
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s).astype(np.float32)
              for s in [(5, 3, 8), (3, 2), (3, 2), (8, 2)]]

    def run():
        xg, h0, c0, w = [tg.tensor(a, requires_grad=True) for a in arrays]
        y = rnn_scan(xg, h0, c0, w, None, None, "LSTM", reverse=True)
        (y * y).sum().backward()
        return [y.detach().numpy()] + [t.grad.numpy() for t in (xg, h0, c0, w)]
    want = _with_kernels(False, run, monkeypatch)
    got = _with_kernels(True, run, monkeypatch)
    assert "lstm_forward_step" in loads
    _close(want, got)


def test_kernel_tanh_and_sigmoid_are_within_a_few_ulps():
    from numba import njit
    from tapegrad.backend import _numba

    @njit
    def both(x, t, s):
        for i in range(x.shape[0]):
            t[i] = _numba._tanh32(x[i])
            s[i] = _numba._sigmoid32(x[i])
    x = np.concatenate([np.linspace(-20, 20, 200001, dtype=np.float32),
                        np.array([0.0, -0.0, np.inf, -np.inf, np.nan], np.float32)])
    t, s = np.empty_like(x), np.empty_like(x)
    both(x, t, s)
    exact = x[:-1].astype(np.float64)
    assert np.abs(t[:-1] - np.tanh(exact)).max() < 4e-7
    assert np.abs(s[:-1] - 1 / (1 + np.exp(-exact))).max() < 3e-7
    assert list(t[-5:-1]) == [0.0, 0.0, 1.0, -1.0] and np.signbit(t[-4])
    assert list(s[-3:-1]) == [1.0, 0.0] and np.isnan(t[-1]) and np.isnan(s[-1])
    assert np.nanmax(t) == 1 and np.nanmin(t) == -1 and np.nanmin(s) == 0 and np.nanmax(s) == 1


def test_takes_kernels_asks_the_kernel_setting(monkeypatch):
    x = np.zeros((4, 2, 8), np.float32)
    monkeypatch.setattr(kernels, "MIN_BYTES", 0)
    kernels.set_kernels("numpy")
    try:
        assert not rnn_kernel.takes_kernels("LSTM", x)
        kernels.set_kernels("numba")
        assert rnn_kernel.takes_kernels("LSTM", x)
        assert not rnn_kernel.takes_kernels("GRU", x)
        assert not rnn_kernel.takes_kernels("LSTM", x.astype(np.float64))
        assert not rnn_kernel.takes_kernels("LSTM", x, w_hr=x)
        assert not rnn_kernel.takes_kernels("LSTM", x, batch_sizes=(2, 2, 1, 1))
    finally:
        kernels.set_kernels("auto")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_features_first_linear_is_linear_in_another_layout(dtype):
    rng = np.random.default_rng(5)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in [(4, 3, 6), (5, 6), (5,)])
    g = rng.standard_normal((4, 3, 5)).astype(dtype)
    results = []
    for first in (False, True):
        xt, wt, bt = (tg.tensor(a, requires_grad=True) for a in (x, w, b))
        y = Linear.apply(xt, wt, bt, features_first=first)
        y.backward(tg.tensor(g))
        results.append([y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(),
                        bt.grad.numpy()])
        if first:   # (out_features, 4, 3) memory
            assert y.numpy().transpose(2, 0, 1).flags.c_contiguous
    for a, b_ in zip(*results):
        np.testing.assert_allclose(b_, a, rtol=1e-6 if dtype == np.float32 else 1e-12)
