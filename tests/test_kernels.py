"""numba's kernels (backend/kernels.py, backend/_numba.py): the same values as the
NumPy path bit for bit (NaN, -0.0, both float dtypes, a convolution's channel-major
layout), torch's values and finite differences through a conv -> relu -> pool net with
the kernels on, when they are picked, the TAPEGRAD_KERNELS switch, and numba imported
only at first use (never without it)."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad.backend import kernels

try:
    import numba  # noqa: F401
    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")


@pytest.fixture
def kernels_on(monkeypatch):
    """numba's kernels for every pass, small arrays included."""
    monkeypatch.setattr(kernels, "MIN_BYTES", 0)
    kernels.set_kernels("numba")
    yield
    kernels.set_kernels("auto")


@pytest.fixture
def kernels_off():
    kernels.set_kernels("numpy")
    yield
    kernels.set_kernels("auto")


def _special(shape, dtype, seed=0):
    """Random values with NaN, -NaN, +-0.0 and +-inf among them."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    flat[:6] = [np.nan, -np.nan, 0.0, -0.0, np.inf, -np.inf]
    return x


def _channel_major(x):
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


def _relu_pair(x, g):
    """(relu(x), relu's VJP of g) through tapegrad."""
    xt = tg.tensor(x, requires_grad=True)
    y = tg.relu(xt)
    y.backward(tg.tensor(g))
    return y.numpy(), xt.grad.numpy()


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "channel-major", "mixed"])
def test_relu_kernels_equal_the_numpy_path_bit_for_bit(dtype, layout, monkeypatch):
    x, g = _special((3, 5, 7, 11), dtype), _special((3, 5, 7, 11), dtype, seed=1)
    if layout != "contiguous":
        x = _channel_major(x)
    if layout == "channel-major":
        g = _channel_major(g)   # "mixed": g's layout differs from y's (NumPy path)
    kernels.set_kernels("numpy")
    want = _relu_pair(x, g)
    monkeypatch.setattr(kernels, "MIN_BYTES", 0)
    kernels.set_kernels("numba")
    try:
        got = _relu_pair(x, g)
    finally:
        kernels.set_kernels("auto")
    for a, b in zip(want, got):
        assert a.dtype == b.dtype and a.strides == b.strides
        np.testing.assert_array_equal(a, b)
        assert np.array_equal(np.signbit(a), np.signbit(b))    # -0.0 where NumPy has it
    assert np.signbit(got[0].reshape(-1)[3]) == np.signbit(np.maximum(-0.0, 0.0))


@needs_numba
def test_kernels_are_picked_for_large_float_numpy_arrays_on_two_threads(monkeypatch):
    before = tg.get_num_threads()
    big = np.zeros(kernels.MIN_BYTES // 4, np.float32)
    try:
        kernels.set_kernels("auto")
        tg.set_num_threads(2)
        assert kernels.pick("relu", big) is not None
        assert kernels.pick("relu", big[:-1]) is None                  # too small
        assert kernels.pick("relu", big.astype(np.int32)) is None       # not a float
        assert kernels.pick("relu", big.astype(np.float16)) is None
        tg.set_num_threads(1)
        assert kernels.pick("relu", big) is None                        # one thread: NumPy
        kernels.set_kernels("numba")
        assert kernels.pick("relu", big) is not None                    # unless asked
        kernels.set_kernels("numpy")
        tg.set_num_threads(2)
        assert kernels.pick("relu", big) is None
    finally:
        kernels.set_kernels("auto")
        tg.set_num_threads(before)


def test_flat_views_only_for_one_block_laid_out_alike():
    x = np.zeros((2, 3, 4, 5), np.float32)
    cm = _channel_major(x)
    assert kernels.flat(cm, np.empty_like(cm)) is not None
    assert kernels.flat(x, cm) is None                         # different layouts
    assert kernels.flat(x[:, :, :, 1:], np.empty((2, 3, 4, 4), np.float32)) is None
    assert kernels.flat(x[:, :, :, 1:], x[:, :, :, 1:]) is None   # not one block: copies
    run, = kernels.flat(cm)
    assert run.base is not None and run.shape == (120,)


def test_the_switch_checks_its_value(monkeypatch):
    with pytest.raises(ValueError, match="set_kernels: expected one of auto, numba, numpy"):
        kernels.set_kernels("fast")
    monkeypatch.setitem(kernels._state, "mode", None)
    monkeypatch.setenv("TAPEGRAD_KERNELS", "gpu")
    with pytest.raises(ValueError, match="TAPEGRAD_KERNELS='gpu'"):
        kernels.get_kernels()
    monkeypatch.setenv("TAPEGRAD_KERNELS", "numpy")
    assert kernels.get_kernels() == "numpy"


def test_without_numba_the_numpy_path_runs_and_numba_mode_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)        # import numba raises ImportError
    monkeypatch.setitem(sys.modules, "tapegrad.backend._numba", None)
    monkeypatch.delattr(tg.backend, "_numba", raising=False)
    monkeypatch.setitem(kernels._state, "mod", None)
    monkeypatch.setattr(kernels, "MIN_BYTES", 0)
    kernels.set_kernels("auto")
    before = tg.get_num_threads()
    tg.set_num_threads(2)
    try:
        x = np.array([[-1.0, 2.0], [np.nan, -0.0]])
        assert kernels.pick("relu", x) is None
        y, gx = _relu_pair(x, np.ones_like(x))
        np.testing.assert_array_equal(y, [[0.0, 2.0], [np.nan, 0.0]])
        np.testing.assert_array_equal(gx, [[0.0, 1.0], [0.0, 0.0]])
        with pytest.raises(ImportError, match="pip install numba"):
            kernels.set_kernels("numba")
    finally:
        tg.set_num_threads(before)
        kernels._state["mod"] = None
        kernels.set_kernels("auto")


def test_numba_is_imported_only_when_a_kernel_is_first_picked():
    code = ("import sys, numpy as np, tapegrad as tg\n"
            "tg.set_num_threads(2)\n"
            "tg.relu(tg.ones(4, 4))\n"                  # small: NumPy, no import
            "before = 'numba' in sys.modules\n"
            "tg.relu(tg.tensor(np.ones(1 << 16, np.float32)))\n"
            "print(before, 'numba' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, TAPEGRAD_KERNELS="auto"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", str(HAVE_NUMBA)]


def _net(x, w1, b1, w2, geometry):
    stride, padding, dilation, kernel, pstride, ceil = geometry
    h = F.relu(F.conv2d(x, w1, b1, stride=stride, padding=padding, dilation=dilation))
    h = F.max_pool2d(h, kernel, pstride, ceil_mode=ceil)
    return F.relu(F.conv2d(h, w2))


GEOMETRIES = [(1, 0, 1, 2, 2, False), (2, 1, 1, 3, 2, True), (1, 2, 2, 2, 1, False)]


@needs_numba
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_conv_relu_pool_net_matches_torch_with_the_kernels_on(kernels_on, geometry):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32)
              for s in [(3, 2, 13, 11), (5, 2, 3, 3), (5,), (4, 5, 2, 2)]]
    ts = [tg.tensor(a, requires_grad=True) for a in arrays]
    y = _net(*ts, geometry)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(tg.tensor(g))
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    stride, padding, dilation, kernel, pstride, ceil = geometry
    tf = torch.nn.functional
    h = tf.relu(tf.conv2d(tt[0], tt[1], tt[2], stride=stride, padding=padding,
                          dilation=dilation))
    yr = tf.relu(tf.conv2d(tf.max_pool2d(h, kernel, pstride, ceil_mode=ceil), tt[3]))
    yr.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), yr.detach().numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(ts, tt):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-4)


@needs_numba
@pytest.mark.parametrize("geometry", GEOMETRIES[:2])
def test_conv_relu_pool_gradients_match_finite_differences_with_the_kernels_on(
        kernels_on, geometry):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s) for s in [(2, 2, 7, 6), (3, 2, 2, 2), (3,), (2, 3, 1, 1)]]
    inputs = [tg.tensor(a, requires_grad=True) for a in arrays]
    assert tg.autograd.gradcheck(lambda *t: _net(*t, geometry), inputs, eps=1e-6, atol=1e-6)


def _assert_equal(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for p, q in zip(a, b):
            _assert_equal(p, q)
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@needs_numba
def test_a_cnn_training_step_equals_the_numpy_path(kernels_off):
    root = str(pathlib.Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks import workloads as W
    before = tg.get_num_threads()
    tg.set_num_threads(2)   # W4's model at batch 16: its ReLUs are large enough for numba
    try:
        want = W.w4("tapegrad", 16).values()
        kernels.set_kernels("auto")
        got = W.w4("tapegrad", 16).values()
    finally:
        tg.set_num_threads(before)
    _assert_equal(want, got)
