"""backend.matmul: MKL's GEMM (the optional mkl package, in the test extra) for large 2-d
float products, NumPy for the rest; set_blas / TAPEGRAD_BLAS choose."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad import backend
from tapegrad.backend import _mkl

needs_mkl = pytest.mark.skipif(_mkl.library_path() is None, reason="the mkl package")
BIG = (96, 200, 120)       # 2.3M multiply-adds: above GEMM_MIN_WORK


@pytest.fixture
def blas():
    """The backend on one thread, where "auto" picks MKL when it is installed."""
    n = tg.get_num_threads()
    tg.set_num_threads(1)
    yield backend
    tg.set_num_threads(n)
    backend.set_blas("auto")


@needs_mkl
def test_auto_picks_mkl_on_one_thread_and_numpys_blas_on_more(blas):
    blas.set_blas("auto")
    assert blas.blas().startswith("mkl ")
    tg.set_num_threads(2)            # two BLAS pools would compete for the cores
    assert blas.blas() == "numpy"
    tg.set_num_threads(1)
    assert blas.blas().startswith("mkl ")
    blas.set_blas("mkl")             # asked for by name: MKL whatever the threads
    tg.set_num_threads(2)
    assert blas.blas().startswith("mkl ")


class Spy:
    """Counts the products that reached MKL (and returns MKL's result)."""

    def __init__(self, gemm):
        self.gemm, self.calls = gemm, 0

    def __call__(self, a, b, out, empty):
        r = self.gemm(a, b, out, empty)
        self.calls += r is not None
        return r


@pytest.fixture
def spy(blas):
    blas.set_blas("mkl")
    s = Spy(backend._blas["gemm"])
    backend._blas["gemm"] = s
    return s


def _operands(dtype, m, k, n, seed=0):
    r = np.random.default_rng(seed)
    return r.standard_normal((m, k)).astype(dtype), r.standard_normal((k, n)).astype(dtype)


def _close(got, want):
    tol = 1e-4 if got.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


@needs_mkl
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["cc", "tc", "ct", "tt", "rows", "out"])
def test_mkl_products_match_numpy(spy, dtype, layout):
    m, k, n = BIG
    a, b = _operands(dtype, m, k, n)
    out = None
    if layout[0] == "t":
        a = np.ascontiguousarray(a.T).T       # column-major: MKL's transpose flag
    if layout[1:] == "t":
        b = np.ascontiguousarray(b.T).T
    if layout == "rows":                      # every other row of a wider array: lda > k
        a = np.repeat(a, 2, axis=0)[::2]
        b = np.concatenate([b, b], axis=1)[:, :n]
    if layout == "out":                       # into rows of a wider buffer
        wide = np.full((m, n + 7), 5.0, dtype)
        out = wide[:, 3:3 + n]
    got = backend.matmul(a, b, out=out)
    _close(got, a @ b)
    assert got.dtype == dtype and spy.calls == 1
    if layout == "out":
        assert got is out and (wide[:, :3] == 5).all() and (wide[:, 3 + n:] == 5).all()


@needs_mkl
@pytest.mark.parametrize("layout", ["cc", "tt"])
def test_read_only_operands_go_to_mkl_too(spy, layout):
    # their address comes from .ctypes (ctypes exports buffers of writable memory only)
    a, b = _operands(np.float32, *BIG)
    if layout == "tt":
        a, b = np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T
    a.flags.writeable = b.flags.writeable = False
    _close(backend.matmul(a, b), a @ b)
    assert spy.calls == 1


@pytest.mark.parametrize("make", [
    lambda x: x, lambda x: x.T, lambda x: x[:, :5], lambda x: x[::2],
    lambda x: np.broadcast_to(x[0], x.shape)])
@pytest.mark.parametrize("writeable", [True, False])
def test_pointer_is_the_first_elements_address(make, writeable):
    x = np.arange(60, dtype=np.float64).reshape(6, 10)
    x.flags.writeable = writeable
    v = make(x)
    assert _mkl._pointer(v) == v.__array_interface__["data"][0]


@needs_mkl
def test_batched_left_operand_is_one_gemm(spy):
    a = np.random.default_rng(1).standard_normal((4, 30, 200)).astype(np.float32)
    b = np.random.default_rng(2).standard_normal((200, 120)).astype(np.float32)
    got = backend.matmul(a, b)
    assert got.shape == (4, 30, 120) and spy.calls == 1
    _close(got, a @ b)


@needs_mkl
@pytest.mark.parametrize("case", ["small", "int", "mixed", "byteswapped", "strided",
                                  "batched b", "mismatch"])
def test_other_products_stay_with_numpy(spy, case):
    m, k, n = BIG
    a, b = _operands(np.float32, m, k, n)
    if case == "small":
        a, b = a[:8, :8], b[:8, :8]
    elif case == "int":
        a, b = (a * 10).astype(np.int64), (b * 10).astype(np.int64)
    elif case == "mixed":
        b = b.astype(np.float64)
    elif case == "byteswapped":
        a = a.astype(a.dtype.newbyteorder(">"))
    elif case == "strided":                   # neither rows nor columns contiguous
        a = np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)[::2, ::2]
    elif case == "batched b":
        a, b = np.stack([a, a]), np.stack([b, b])
    elif case == "mismatch":
        with pytest.raises(ValueError, match="matmul"):
            backend.matmul(a, b[:-1])
        assert spy.calls == 0
        return
    got = backend.matmul(a, b)
    np.testing.assert_array_equal(got, np.matmul(a, b))
    assert spy.calls == 0


@needs_mkl
@pytest.mark.parametrize("dtype", [np.float16, backend.bfloat16])
def test_half_products_are_one_float32_gemm_rounded(spy, dtype):
    a, b = _operands(np.float32, *BIG)
    a, b = a.astype(dtype), b.astype(dtype)
    got = backend.matmul(a, b)
    assert got.dtype == dtype and spy.calls == 1
    want = (a.astype(np.float32) @ b.astype(np.float32)).astype(dtype)
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=1e-2)


@needs_mkl
def test_results_do_not_depend_on_alignment(blas):
    blas.set_blas("mkl")
    a, b = _operands(np.float32, *BIG)
    ref = backend.matmul(a, b)
    for off in (1, 3, 5):       # start the operands 4, 12, 20 bytes past an allocation
        a2 = np.empty(a.size + off, np.float32)[off:].reshape(a.shape)
        b2 = np.empty(b.size + off, np.float32)[off:].reshape(b.shape)
        a2[...], b2[...] = a, b
        np.testing.assert_array_equal(backend.matmul(a2, b2), ref)


@needs_mkl
def test_ops_use_the_seam_and_gradients_match_torch(spy):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(3)
    arrays = [r.standard_normal(s).astype(np.float32)
              for s in ((128, 300), (256, 300), (256,), (256, 64))]
    x, w, b, v = (tg.tensor(a, requires_grad=True) for a in arrays)
    (tg.nn.functional.linear(x, w, b).relu() @ v).square().sum().backward()
    assert spy.calls >= 4        # linear, the product with v, and their gradients
    tx, tw, tb, tv = (torch.tensor(a, requires_grad=True) for a in arrays)
    (torch.nn.functional.linear(tx, tw, tb).relu() @ tv).square().sum().backward()
    for ours, theirs in zip((x, w, b, v), (tx, tw, tb, tv)):
        _close(ours.grad.numpy(), theirs.grad.numpy())


def test_numpy_blas_is_numpy_bit_for_bit(blas):
    blas.set_blas("numpy")
    assert blas.blas() == "numpy"
    a, b = _operands(np.float32, *BIG)
    np.testing.assert_array_equal(backend.matmul(a, b), a @ b)


def test_numpy_blas_runs_a_batched_left_operand_as_one_product(blas, monkeypatch):
    """NumPy's matmul runs (..., m, k) @ (k, n) as one GEMM per leading index; the seam
    hands it the rows stacked into one 2-d product when they stack without a copy (a 3-d
    linear: 0.65x the time)."""
    blas.set_blas("numpy")
    a = np.random.default_rng(1).standard_normal((4, 30, 200)).astype(np.float32)
    b = np.random.default_rng(2).standard_normal((200, 120)).astype(np.float32)
    shapes, matmul = [], np.matmul
    monkeypatch.setattr(backend.xp, "matmul", lambda x, y, **kw: shapes.append(x.shape)
                        or matmul(x, y, **kw))
    got = backend.matmul(a, b)
    assert got.shape == (4, 30, 120) and shapes == [(120, 200)]
    _close(got, matmul(a, b))
    # strided rows that still stack into one matrix (lda 400), and a transposed view
    # whose leading axes merge (the LSTM kernels' gradients): one product each
    for x in (a[:, ::2], np.ascontiguousarray(a.transpose(2, 0, 1)).transpose(1, 2, 0)):
        got = backend.matmul(x, b)
        assert shapes[-1] == (x.shape[0] * x.shape[1], 200)
        _close(got, matmul(x, b))
    backend.matmul(a[:, :15], b)     # rows that don't stack: NumPy's own batched product
    assert shapes[-1] == (4, 15, 200)
    assert backend.matmul(np.ones((5, 5, 0)), np.ones((0, 5))).shape == (5, 5, 5)   # empty


def test_set_blas_rejects_unknown_names(blas):
    with pytest.raises(ValueError, match="set_blas: expected 'auto', 'mkl' or 'numpy', got 'openblas'"):
        blas.set_blas("openblas")


def test_asking_for_mkl_without_the_package_says_how_to_install(blas, monkeypatch):
    monkeypatch.setattr(_mkl, "library_path", lambda: None)
    with pytest.raises(RuntimeError, match=r'mkl package is not installed; pip install "tapegrad\[mkl\]"'):
        blas.set_blas("mkl")
    blas.set_blas("auto")          # auto without the package: NumPy, quietly
    assert blas.blas() == "numpy"


@needs_mkl
def test_blas_names_the_library_in_use(blas):
    blas.set_blas("auto")
    assert blas.blas().startswith("mkl ") and "Math Kernel Library" in blas.blas()


def test_a_failed_set_blas_keeps_the_previous_choice(blas, monkeypatch):
    blas.set_blas("numpy")
    monkeypatch.setattr(_mkl, "library_path", lambda: None)
    with pytest.raises(RuntimeError, match="mkl package is not installed"):
        blas.set_blas("mkl")
    a, b = _operands(np.float32, *BIG)
    np.testing.assert_array_equal(backend.matmul(a, b), a @ b)
    assert blas.blas() == "numpy"


@pytest.mark.parametrize("value, expect", [("numpy", "numpy"), ("bogus", "ValueError")])
def test_environment_variable(value, expect):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", "import tapegrad; print(tapegrad.backend.blas())"],
                       env={**__import__("os").environ, "TAPEGRAD_BLAS": value},
                       capture_output=True, text=True)
    if expect == "numpy":
        assert r.returncode == 0 and r.stdout.strip() == "numpy"
    else:
        assert r.returncode != 0 and \
            "TAPEGRAD_BLAS must be 'auto', 'mkl' or 'numpy', got 'bogus'" in r.stderr


def test_a_broken_mkl_install_warns_under_auto_and_raises_when_asked_for(blas, monkeypatch,
                                                                         tmp_path):
    bogus = tmp_path / "libmkl_rt.so.3"
    bogus.write_text("not a library")
    monkeypatch.setattr(_mkl, "library_path", lambda: str(bogus))
    with pytest.raises(RuntimeError, match="MKL could not be loaded from .*libmkl_rt"):
        blas.set_blas("mkl")
    with pytest.warns(RuntimeWarning, match="could not be loaded.*use NumPy's BLAS"):
        blas.set_blas("auto")
    assert blas.blas() == "numpy"
    a, b = _operands(np.float32, *BIG)
    np.testing.assert_array_equal(backend.matmul(a, b), a @ b)


def test_glibc_keeps_freed_memory_unless_told_not_to():
    """backend tunes glibc's malloc so a step's large temporaries are not page-faulted in
    again every step (a fifth of a W4 step); TAPEGRAD_MALLOC=system or the user's own
    MALLOC_* settings leave it alone."""
    import os
    import platform
    import subprocess
    import sys
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert tg.backend.MALLOC_TUNED is True
    code = "import tapegrad as tg; print(tg.backend.MALLOC_TUNED)"
    src = os.path.dirname(os.path.dirname(tg.__file__))
    for extra, want in (({"TAPEGRAD_MALLOC": "system"}, "False"),
                        ({"MALLOC_TRIM_THRESHOLD_": "131072"}, "False"), ({}, "True")):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "TAPEGRAD_MALLOC"))}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**env, "PYTHONPATH": src, **extra}, check=True)
        assert out.stdout.strip() == want, extra
