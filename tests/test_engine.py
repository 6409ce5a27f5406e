"""Engine semantics: accumulation, retain_graph, freed graphs, non-scalar outputs,
tg.grad, higher order, broadcasting, deep chains, in-place version checks."""
import gc
import sys
import weakref

import numpy as np
import pytest

import tapegrad as tg


def leaf(*values):
    return tg.tensor(np.array(values, dtype=np.float64), requires_grad=True)


def test_backward_accumulates_into_leaves():
    x = leaf(1.0, 2.0)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_grad_is_not_shared_between_leaves():
    a, b = leaf(1.0, 2.0), leaf(3.0, 4.0)
    (a + b).sum().backward()
    a.grad.mul_(10)  # e.g. gradient clipping in place
    np.testing.assert_allclose(b.grad.numpy(), [1, 1])


def test_grad_does_not_alias_the_callers_gradient():
    x = leaf(1.0, 2.0)
    seed = tg.ones(2, dtype=tg.float64)
    x.backward(seed)
    seed.add_(5)
    np.testing.assert_allclose(x.grad.numpy(), [1, 1])


def test_zero_grad_sets_none():
    x = leaf(1.0)
    (x * 2).sum().backward()
    x.zero_grad()
    assert x.grad is None


def test_second_backward_raises_without_retain_graph():
    x = leaf(1.0, 2.0)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True") as e:
        y.backward()
    assert isinstance(e.value, tg.GraphFreedError)
    assert "second time" in str(e.value)


def test_retain_graph_allows_second_backward():
    x = leaf(1.0, 2.0)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_freed_graph_error_even_for_ops_that_save_nothing():
    x = leaf(1.0, 2.0)
    y = (x + 1).sum()
    y.backward()
    with pytest.raises(tg.GraphFreedError):
        y.backward()


def test_non_scalar_backward_needs_gradient():
    x = leaf(1.0, 2.0)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*shape \[2\]"):
        y.backward()
    y.backward(tg.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2, 20])


def test_single_element_output_counts_as_scalar():
    x = leaf(3.0)
    (x * 2).reshape(1, 1).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2])


def test_gradient_shape_must_match():
    x = leaf(1.0, 2.0)
    with pytest.raises(RuntimeError, match=r"Mismatch in shape.*\[3\].*\[2\]"):
        (x * 2).backward(tg.ones(3))


def test_broadcasting_gradients_sum_back():
    x = tg.randn(4, 1, requires_grad=True)
    y = tg.randn(1, 5, requires_grad=True)
    b = tg.randn(5, requires_grad=True)
    (x * y + b).sum().backward()
    assert x.grad.shape == (4, 1) and y.grad.shape == (1, 5) and b.grad.shape == (5,)
    np.testing.assert_allclose(x.grad.numpy()[:, 0], np.full(4, y.numpy().sum()), rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), np.full(5, 4.0))


def test_fan_out_diamond_and_same_operand():
    x = leaf(2.0)
    a = x * 3
    b = a + a       # same tensor as both operands
    c = a * x       # diamond back to x
    (b + c + x * x).sum().backward()
    # d/dx [6x + 3x^2 + x^2] = 6 + 8x
    np.testing.assert_allclose(x.grad.numpy(), [6 + 8 * 2])


def test_grad_functional_does_not_touch_dot_grad():
    x = leaf(1.0, 2.0)
    (gx,) = tg.grad((x ** 2).sum(), [x])
    np.testing.assert_allclose(gx.numpy(), [2, 4])
    assert x.grad is None


def test_grad_allow_unused():
    x, z = leaf(1.0), leaf(2.0)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match=r"input 1.*not have been used.*allow_unused=True"):
        tg.grad(y, [x, z], retain_graph=True)
    gx, gz = tg.grad(y, [x, z], allow_unused=True, retain_graph=True)
    assert gz is None
    gx, gz = tg.grad(y, [x, z], materialize_grads=True)
    np.testing.assert_allclose(gz.numpy(), [0.0])


def test_grad_wrt_non_leaf():
    x = leaf(1.0, 2.0)
    h = x * 3
    y = (h ** 2).sum()
    (gh,) = tg.grad(y, [h])
    np.testing.assert_allclose(gh.numpy(), 2 * h.detach().numpy())


def test_grad_of_grad_create_graph():
    x = leaf(1.5)
    y = (x ** 3).sum()
    (g,) = tg.grad(y, [x], create_graph=True)
    np.testing.assert_allclose(g.numpy(), [3 * 1.5 ** 2])
    (g2,) = tg.grad(g.sum(), [x], create_graph=True)
    np.testing.assert_allclose(g2.numpy(), [6 * 1.5])
    (g3,) = tg.grad(g2.sum(), [x])
    np.testing.assert_allclose(g3.numpy(), [6.0])


def test_hessian_vector_product_matches_explicit_hessian():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 3))
    x = tg.tensor(rng.standard_normal(3), requires_grad=True)
    f = (x @ tg.tensor(A) @ x).tanh()
    (g,) = tg.grad(f, [x], create_graph=True)
    v = tg.tensor(rng.standard_normal(3))
    (hv,) = tg.grad((g * v).sum(), [x])
    # explicit Hessian by finite differences of the gradient
    eps, H = 1e-6, np.zeros((3, 3))
    for j in range(3):
        for s in (1, -1):
            xp = x.detach().numpy().copy()
            xp[j] += s * eps
            xt = tg.tensor(xp, requires_grad=True)
            (gj,) = tg.grad((xt @ tg.tensor(A) @ xt).tanh(), [xt])
            H[:, j] += s * gj.numpy() / (2 * eps)
    np.testing.assert_allclose(hv.numpy(), H @ v.numpy(), rtol=1e-5)


def test_backward_create_graph_warns_and_works():
    x = leaf(2.0)
    with pytest.warns(UserWarning, match="tg.grad"):
        import tapegrad.core.engine as engine
        engine._warned_create_graph.clear()
        (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (g2,) = tg.grad(x.grad.sum(), [x])
    np.testing.assert_allclose(g2.numpy(), [12.0])


def test_million_op_chain_without_recursion_error():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])
    assert sys.getrecursionlimit() <= 10_000


def test_deep_chain_teardown_without_backward():
    x = tg.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(1_000_000):
        y = y + 1.0
    del y  # releasing a million nodes must not overflow the C stack
    gc.collect()


def test_saved_tensors_released_after_backward():
    gc.disable()
    try:
        x = leaf(1.0, 2.0)
        h = x.exp()
        ref = weakref.ref(h)
        node_ref = weakref.ref(h.node)
        out = (h * x).sum()
        out.backward()
        del h, out
        assert ref() is None and node_ref() is None
    finally:
        gc.enable()


def test_graph_not_kept_alive_by_cycles():
    gc.disable()
    try:
        x = leaf(1.0, 2.0)
        out = ((x * 2).tanh() * x).sum()
        node = weakref.ref(out.node)
        del out
        assert node() is None
    finally:
        gc.enable()


def test_retain_grad_on_non_leaf():
    x = leaf(1.0, 2.0)
    h = x * 2
    h.retain_grad()
    (h ** 2).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.detach().numpy())


def test_register_hook_replaces_gradient():
    x = leaf(1.0, 2.0)
    h = x * 2
    handle = h.register_hook(lambda g: g * 10)
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [20, 20])
    handle.remove()
    x.zero_grad()
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2])


def test_hook_with_wrong_shape_raises_naming_hook():
    x = leaf(1.0, 2.0)
    h = x * 2

    def bad_hook(g):
        return g.sum()
    h.register_hook(bad_hook)
    with pytest.raises(RuntimeError, match="bad_hook"):
        h.sum().backward()


def test_exception_in_backward_leaves_grad_untouched():
    x = leaf(1.0, 2.0)
    (x * 3).sum().backward()
    before = x.grad.numpy().copy()
    h = x * 2

    def boom(g):
        raise ValueError("boom")
    h.register_hook(boom)
    with pytest.raises(ValueError, match="boom"):
        (h + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), before)


def test_mixed_precision_grad_keeps_leaf_dtype():
    w = tg.randn(3, 2, requires_grad=True)  # float32
    data = tg.tensor(np.random.default_rng(0).standard_normal((4, 3)))  # float64
    out = data @ w
    assert out.dtype == tg.float64
    out.sum().backward()
    assert w.grad.dtype == tg.float32 and w.grad.shape == (3, 2)


def test_backward_inputs_argument():
    x, y = leaf(1.0), leaf(2.0)
    (x * y).sum().backward(inputs=[x])
    np.testing.assert_allclose(x.grad.numpy(), [2.0])
    assert y.grad is None
