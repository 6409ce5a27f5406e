"""Fusion of elementwise chains (graph/fusion.py): fused replays equal eager within float
tolerance (exp/log/tanh may differ in the last bit), runs stop at ops outside the set,
mixed shapes and big arrays are left to NumPy, and without numba replay is plain NumPy."""
import sys

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.graph import fusion

needs_numba = pytest.mark.skipif(fusion.kernel() is None, reason="numba not installed")


def _fused(f):
    return [op for op in f.graph.ops if op.kind == "fused"]


def _leaves(n=16, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return [tg.tensor(rng.standard_normal(n).astype(np.float32) * 0.5, requires_grad=True)
            for _ in range(k)]


def _chain(x, w, c, ops):
    for i in range(ops):
        x = x * w if i % 3 == 0 else x + c if i % 3 == 1 else x.tanh()
    return x


def _step(ops):
    def step(x, w, c):
        for leaf in (x, w, c):
            leaf.grad = None
        out = _chain(x, w, c, ops).sum()
        out.backward()
        return out
    return step


def _run(f, leaves):
    out = f(*leaves)
    return [out.numpy()] + [leaf.grad.numpy().copy() for leaf in leaves]


@needs_numba
@pytest.mark.parametrize("ops", [30, 1000])
def test_w2_chain_forward_and_backward_equal_eager(ops):
    leaves = _leaves()
    step = _step(ops)
    want = _run(step, leaves)
    f = tg.compile(step)
    for _ in range(4):          # two traces, then replays
        got = _run(f, leaves)
    assert len(_fused(f)) == 2  # the forward chain and the backward chain (sum between)
    # 30 ops: each value within 1e-6; 1,000 ops carry last-bit tanh differences through
    # 333 tanh_grad steps (measured: 4e-6 of the largest gradient)
    tol = 1e-6 if ops <= 30 else 2e-5
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())
    assert "fused[" in str(f.graph) and "| %" in str(f.graph)   # the listing keeps the ops


@needs_numba
def test_fuse_false_is_bit_for_bit():
    leaves = _leaves()
    step = _step(30)
    want = _run(step, leaves)
    f = tg.compile(step, fuse=False)
    for _ in range(3):
        got = _run(f, leaves)
    assert not _fused(f)
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


@needs_numba
def test_every_op_in_the_set_forward_and_backward():
    def step(x, w, c):
        for leaf in (x, w, c):
            leaf.grad = None
        y = (x * w + c).sigmoid()
        y = (y - w).relu() + (-y).exp() / (c * c + 1.5) + (y * y + 0.5).log()
        y = (y * w).tanh() - y / 3
        out = y.sum()
        out.backward()
        return out
    leaves = _leaves(seed=1)
    want = _run(step, leaves)
    f = tg.compile(step)
    for _ in range(3):
        got = _run(f, leaves)
    names = {o.fn.name for op in _fused(f) for o in op.params["ops"]}
    assert {"sigmoid", "relu", "exp", "log", "tanh", "div", "neg", "sub",
            "sigmoid_grad", "relu_grad", "tanh_grad"} <= names
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@needs_numba
def test_literals():
    def f(x):
        y = x
        for _ in range(5):
            y = 1 - y * 0.5 + 2
            y = y / 3 + 0.25
        return y
    x = tg.tensor(np.linspace(-2, 2, 16, dtype=np.float32))
    c = tg.compile(f)
    for _ in range(3):
        got = c(x).numpy()
    assert len(_fused(c)) == 1
    # literal-only arithmetic is exact IEEE float32, the same as NumPy's: bit for bit
    assert np.array_equal(got, f(x).numpy()) and got.dtype == np.float32


@needs_numba
def test_run_interrupted_by_a_non_fusable_op():
    def f(x, w):
        for _ in range(4):
            x = (x * w + 1).tanh()
        x = x.abs()                      # not in the set: ends the run
        for _ in range(4):
            x = (x * w - 1).tanh()
        return x
    x, w = (tg.tensor(a.detach().numpy()) for a in _leaves(k=2))
    c = tg.compile(f)
    for _ in range(3):
        got = c(x, w).numpy()
    names = [op.name for op in c.graph.ops]
    assert names == ["fused", "abs", "fused"]
    np.testing.assert_allclose(got, f(x, w).numpy(), rtol=1e-6, atol=1e-6)


@needs_numba
def test_mixed_shapes_and_big_arrays_are_not_fused():
    def f(x, m):
        for _ in range(6):
            x = (m * x).sum(0) + x       # (16,) -> (4, 16) -> (16,): no long run of one shape
        return x
    x = tg.tensor(np.linspace(-1, 1, 16, dtype=np.float32))
    m = tg.tensor(np.ones((4, 16), np.float32) * 0.1)
    c = tg.compile(f)
    for _ in range(3):
        got = c(x, m).numpy()
    assert not _fused(c)
    assert np.array_equal(got, f(x, m).numpy())

    big = tg.tensor(np.linspace(-1, 1, fusion.MAX_ELEMENTS_TRANSCENDENTAL + 1, dtype=np.float32))
    c = tg.compile(lambda x: _chain(x, x, x, 30))
    for _ in range(3):
        c(big)
    assert not _fused(c)


def test_without_numba_replay_is_plain_numpy(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)     # import numba raises ImportError
    assert fusion.kernel() is None
    leaves = _leaves()
    step = _step(30)
    want = _run(step, leaves)
    f = tg.compile(step)
    for _ in range(3):
        got = _run(f, leaves)
    assert not _fused(f)
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


# -- w -= lr * g as one pass (fusion.scaled_update, _vm.scaled_add) --------------------------
@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["in place", "into another", "transposed"])
def test_scaled_add_rounds_as_the_two_ufuncs(dtype, layout):
    from tapegrad.graph import _vm
    rng = np.random.default_rng(0)
    a, x = (rng.standard_normal((300, 257)).astype(dtype) for _ in range(2))
    if layout == "transposed":
        x = np.ascontiguousarray(x.T).T
    want = np.add(a, np.multiply(x, -0.037))
    out = a if layout == "in place" else np.empty_like(a)
    got = _vm.scaled_add(a, x, -0.037, out)
    assert got is out and np.array_equal(got, want)   # (a fused multiply-add would differ)


def _sgd_step(w, lr):
    def step(x):
        w.grad = None
        loss = (x * w).tanh().sum()
        loss.backward()
        with tg.no_grad():
            w.sub_(lr * w.grad)
        return loss
    return step


@needs_numba
def test_sgd_update_compiles_to_one_pass_bit_for_bit():
    rng = np.random.default_rng(1)
    w1, w2 = (tg.tensor(rng.standard_normal((64, 33)).astype(np.float32), requires_grad=True)
              for _ in range(2))
    w2.data = w1.detach().clone()
    eager, compiled = _sgd_step(w1, 0.1), tg.compile(_sgd_step(w2, 0.1))
    for k in range(5):
        x = tg.tensor(rng.standard_normal((64, 33)).astype(np.float32))
        assert np.array_equal(eager(x).numpy(), compiled(x).numpy())
        assert np.array_equal(w1.numpy(), w2.numpy())
    text = str(compiled.graph)
    assert "fused[2 ops]" in text and "= mul(" in text and "= sub(" in text
    assert "K" in compiled.cache[compiled._last].run.source    # the kernel call


@needs_numba
def test_a_product_read_elsewhere_or_fuse_false_keeps_two_ufuncs():
    w = tg.tensor(np.linspace(-1, 1, 40, dtype=np.float32))

    def step(g):
        t = g * 0.5
        w.sub_(t)
        return t * 2        # t is read after the update: it must exist
    f = tg.compile(step)
    g = tg.tensor(np.ones(40, np.float32))
    for k in range(3):
        out = f(g)
    assert np.array_equal(out.numpy(), np.ones(40, np.float32))
    want = np.linspace(-1, 1, 40, dtype=np.float32)
    for k in range(3):
        want = want - np.float32(0.5)
    np.testing.assert_array_equal(w.numpy(), want)
    assert "fused" not in str(f.graph)
    m = tg.tensor(np.zeros(40, np.float32), requires_grad=True)
    unfused = tg.compile(_sgd_step(m, 0.1), fuse=False)
    for k in range(3):
        unfused(g)
    assert "fused" not in str(unfused.graph)
