"""tg.Graph, the seed's static-graph form, lowered onto tg.compile's IR."""
import numpy as np
import pytest

import tapegrad as tg


def _data(seed, n=16):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 12)).astype(np.float32), rng.integers(0, 4, n)


def _model():
    rng = np.random.default_rng(1)
    return (rng.standard_normal((12, 8)).astype(np.float32) * 0.3,
            rng.standard_normal((8, 4)).astype(np.float32) * 0.3)


def _build():
    graph = tg.Graph()
    x = graph.placeholder("x", [None, 12])
    y = graph.placeholder("y", [None], dtype=tg.int64)
    w1, w2 = _model()
    v1 = graph.variable("w1", tg.tensor(w1))
    v2 = graph.variable("w2", tg.tensor(w2))
    h = graph.relu(graph.matmul(x, v1))
    loss = graph.softmax_cross_entropy(h @ v2, y)
    grads = graph.gradients(loss, [v1, v2])
    return graph, x, y, v1, v2, loss, grads


def test_training_with_apply_gradients_equals_eager():
    graph, x, y, v1, v2, loss, grads = _build()
    train = tg.optim.SGD(lr=0.1).apply_gradients([(v1, grads[0]), (v2, grads[1])])
    w1, w2 = (tg.tensor(a, requires_grad=True) for a in _model())
    opt = tg.optim.SGD([w1, w2], lr=0.1)
    for s in range(20):
        X, Y = _data(s, n=16 if s % 2 else 8)   # two batch sizes: one program each
        got, none = graph.run([loss, train], feed={x: X, y: Y})
        opt.zero_grad()
        ref = tg.cross_entropy((tg.tensor(X) @ w1).relu() @ w2, tg.tensor(Y))
        ref.backward()
        opt.step()
        assert none is None and isinstance(got, np.ndarray)
        assert np.array_equal(got, ref.numpy())
        assert np.array_equal(v1.index.numpy(), w1.numpy())
        assert np.array_equal(v2.index.numpy(), w2.numpy())
    assert len(graph.compiled([loss, train]).graphs) == 2


def test_second_order_gradients_match_tg_grad():
    graph, x, y, v1, v2, loss, (g1, g2) = _build()
    gg = graph.gradients(graph.sum(g2 * g2) + graph.sum(g1 * g1), [v1, x])
    w1, w2 = (tg.tensor(a, requires_grad=True) for a in _model())
    for s in range(3):
        X, Y = _data(s)
        got = graph.run(gg + [g1], feed={"x": X, "y": Y})
        xt = tg.tensor(X, requires_grad=True)
        ref_loss = tg.cross_entropy((xt @ w1).relu() @ w2, tg.tensor(Y))
        a, b = tg.grad(ref_loss, [w1, w2], create_graph=True)
        ref = tg.grad((b * b).sum() + (a * a).sum(), [w1, xt])
        np.testing.assert_allclose(got[0], ref[0].numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got[1], ref[1].numpy(), rtol=1e-5, atol=1e-7)
        assert np.array_equal(got[2], a.numpy())


def test_assign_and_operators():
    graph = tg.Graph()
    a = graph.placeholder("a", [3])
    w = graph.variable("w", tg.ones(3))
    out = (a * w + 1.0) / 2.0 - w ** 2
    upd = graph.assign(w, w * 2.0)
    A = np.array([1.0, 2.0, 3.0], np.float32)
    assert graph.run(out, feed={a: A}).tolist() == [0.0, 0.5, 1.0]
    for k in range(3):
        graph.run(upd)
    assert w.index.numpy().tolist() == [8.0, 8.0, 8.0]
    assert graph.run(out, feed={a: A}).tolist() == [4.5 - 64, 8.5 - 64, 12.5 - 64]


def test_printing_is_readable():
    graph, x, y, v1, v2, loss, grads = _build()
    text = str(graph)
    assert "%x = placeholder [None, 12] any dtype" in text
    assert "%w1 = variable [12, 8] float32" in text
    assert "= matmul(%x, %w1)" in text and "gradient(d " in text


def test_feed_errors():
    graph, x, y, v1, v2, loss, grads = _build()
    X, Y = _data(0)
    with pytest.raises(ValueError, match=r"placeholder 'y' \[None\] is needed by the fetches "
                                         r"but was not fed"):
        graph.run(loss, feed={x: X})
    with pytest.raises(ValueError, match=r"placeholder 'x' has shape \[None, 12\], but the "
                                         r"array fed for it has shape \[16, 11\]"):
        graph.run(loss, feed={x: X[:, :11], y: Y})
    typed = graph.placeholder("xt", [None, 12], dtype=tg.float32)   # declared: checked
    with pytest.raises(TypeError, match=r"placeholder 'xt' has dtype float32, but the array "
                                        r"fed for it has dtype float64"):
        graph.run(graph.sum(typed), feed={typed: X.astype(np.float64)})
    other = tg.Graph()
    z = other.placeholder("z", [2])
    with pytest.raises(ValueError, match=r"fetch %z belongs to another graph"):
        graph.run(z, feed={})
    with pytest.raises(ValueError, match="belongs to another graph"):
        graph.add(x, z)


def test_graph_run_checks_the_label_guard():
    graph = tg.Graph()
    x = graph.placeholder("x", [None, 4])
    y = graph.placeholder("y", [None], dtype=tg.int64)
    w = graph.variable("w", tg.randn(4, 3) * 0.1)
    loss = graph.softmax_cross_entropy(graph.matmul(x, w), y)
    X = np.ones((2, 4), np.float32)
    assert np.isfinite(graph.run([loss], feed={x: X, y: np.array([0, 2])})[0])
    assert np.isfinite(graph.run([loss], feed={x: X, y: np.array([1, 1])})[0])
    with pytest.raises(tg.graph.TraceError, match=r"assumed that cross_entropy's targets were "
                                                  r"all class indices in \[0, 3\)"):
        graph.run([loss], feed={x: X, y: np.array([1, -1])})   # NumPy would read class 2
