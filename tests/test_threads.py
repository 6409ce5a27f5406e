"""Thread control (tg.set_num_threads, the environment) and the passes split over threads:
the same values at 1 and at several threads, bit for bit."""
import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad.backend import threads


@pytest.fixture
def restore_threads():
    before = tg.get_num_threads()
    yield
    tg.set_num_threads(before)
    tg.backend.set_blas("auto")


def test_count_comes_from_the_environment_in_pytorchs_order():
    assert threads.from_env({"OMP_NUM_THREADS": "3"}) == 3
    assert threads.from_env({"TAPEGRAD_NUM_THREADS": "2", "OMP_NUM_THREADS": "5"}) == 2
    assert threads.from_env({"MKL_NUM_THREADS": "4,2"}) == 4   # OpenMP's nested-list form
    assert threads.from_env({}) == threads.cores()
    with pytest.raises(ValueError, match="OMP_NUM_THREADS='x'.*positive number of threads"):
        threads.from_env({"OMP_NUM_THREADS": "x"})
    with pytest.raises(ValueError, match="positive"):
        threads.from_env({"OPENBLAS_NUM_THREADS": "0"})


def test_set_num_threads_checks_and_sizes_the_blas_pools(restore_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    tg.set_num_threads(1)
    assert tg.get_num_threads() == 1
    tg.matmul(tg.ones(600, 600), tg.ones(600, 600))   # a large product: all threads
    pools = threadpoolctl.ThreadpoolController().select(user_api="blas").info()
    assert pools and all(p["num_threads"] == 1 for p in pools)
    with pytest.raises(TypeError, match="set_num_threads: expected an int, got float"):
        tg.set_num_threads(2.0)
    with pytest.raises(ValueError, match="set_num_threads: expected a positive number"):
        tg.set_num_threads(0)


def test_blas_pools_follow_the_thread_count_for_every_product(restore_threads):
    """The pools are sized once per set_num_threads, not product by product (resizing them
    per product gained nothing in paired runs)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    ctl = threadpoolctl.ThreadpoolController()
    for n in (2, 1, 2):
        tg.set_num_threads(n)
        for shape in ((8, 9, 64), (256, 256, 256)):
            m, k, c = shape
            tg.matmul(tg.ones(m, k), tg.ones(k, c))
            assert {p["num_threads"] for p in ctl.select(user_api="blas").info()} == {n}


@pytest.mark.parametrize("layout", ["contiguous", "channel-major"])
def test_split_passes_equal_the_one_thread_result(restore_threads, layout, monkeypatch):
    monkeypatch.setattr(threads, "MIN_SLICE_BYTES", 1 << 16)   # split these small arrays
    monkeypatch.setattr(threads, "PARALLEL_BYTES", 1 << 17)
    pools = []
    pool = threads._pool
    monkeypatch.setattr(threads, "_pool", lambda n: pools.append(n) or pool(n))
    tg.backend.set_blas("numpy")   # one BLAS at every thread count ("auto" follows them)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8, 26, 26)).astype(np.float32)   # 1.4 MB: split
    if layout == "channel-major":
        x = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    results = []
    for n in (1, 3):
        tg.set_num_threads(n)
        xt, wt = tg.tensor(x, requires_grad=True), tg.tensor(w, requires_grad=True)
        y = F.max_pool2d(F.relu(F.conv2d(xt, wt)), 2)
        y.backward(tg.ones_like(y))
        results.append((y.numpy(), xt.grad.numpy(), wt.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert pools and set(pools) == {3}   # the 3-thread run split its passes


def test_split_runs_every_slice_once():
    seen = []
    threads.split(lambda lo, hi: seen.append((lo, hi)), 10, 100 * threads.MIN_SLICE_BYTES)
    n = min(threads.get_num_threads(), 10)
    assert sorted(seen) == [(10 * i // n, 10 * (i + 1) // n) for i in range(n)]
    small = []
    threads.split(lambda lo, hi: small.append((lo, hi)), 10, 10)
    assert small == [(0, 10)]
