"""Reductions at their awkward points: norms at zero (reliability case 32), ties in
max/min (case 34), prod/cumprod with zeros, empty reductions, stable logsumexp."""
import itertools

import numpy as np
import pytest
import torch

import tapegrad as tg

INF = float("inf")


def leaf(a, dtype=np.float64):
    return tg.tensor(np.asarray(a, dtype=dtype), requires_grad=True)


def grad_of(f, x):
    (g,) = tg.grad(f(x), [x])
    return g.numpy() if hasattr(g, "numpy") else g._data


def hessian(f, x):
    """Full Hessian of scalar f at x by reverse-over-reverse."""
    (g,) = tg.grad(f(x), [x], create_graph=True)
    if not g.requires_grad:  # the gradient is constant: the Hessian is 0
        return np.zeros((x.numel(), x.numel()))
    rows = []
    for i in range(x.numel()):
        e = np.zeros(x.numel())
        e[i] = 1.0
        (h,) = tg.grad(g, [x], tg.tensor(e.reshape(x.shape)), retain_graph=True,
                       allow_unused=True)
        rows.append(np.zeros(x.numel()) if h is None else h._data.reshape(-1))
    return np.array(rows)


# -- case 32: norm of zeros -----------------------------------------------------------------
NORMS_AT_ZERO = {
    "norm": lambda x: tg.norm(x),
    "norm-fro": lambda x: x.norm("fro"),
    "vector_norm": lambda x: tg.linalg.vector_norm(x),
    "vector_norm-p3": lambda x: tg.linalg.vector_norm(x, 3),
    "vector_norm-p1": lambda x: tg.linalg.vector_norm(x, 1),
    "vector_norm-inf": lambda x: tg.linalg.vector_norm(x, INF),
    "linalg.norm": lambda x: tg.linalg.norm(x),
    "matrix_norm-fro": lambda x: tg.linalg.matrix_norm(x),
}


@pytest.mark.parametrize("name", sorted(NORMS_AT_ZERO))
def test_norm_of_zeros_has_zero_gradient(name):
    """PyTorch's convention: the subgradient 0 at an all-zero input, not NaN."""
    f = NORMS_AT_ZERO[name]
    x = leaf(np.zeros((2, 3)))
    assert f(x).item() == 0.0
    np.testing.assert_array_equal(grad_of(f, x), np.zeros((2, 3)))
    h = hessian(f, x)
    assert np.all(np.isfinite(h)), f"{name}: second order not finite at 0"


def test_norm_zero_gradient_matches_torch():
    t = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    torch.linalg.vector_norm(t).backward()
    x = leaf(np.zeros((2, 3)))
    np.testing.assert_array_equal(grad_of(tg.linalg.vector_norm, x), t.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_norms_with_one_zero_row(dtype):
    """Per-slice: the zero row gets gradient 0, the others x / ||x||, as PyTorch."""
    a = np.array([[0.0, 0.0, 0.0], [3.0, -4.0, 0.0], [1.0, 2.0, 2.0]])
    x = leaf(a, dtype)
    (g,) = tg.grad(tg.linalg.vector_norm(x, dim=1).sum(), [x])
    expected = np.array([[0, 0, 0], [0.6, -0.8, 0], [1 / 3, 2 / 3, 2 / 3]])
    np.testing.assert_allclose(g._data, expected, rtol=1e-6)
    assert g.dtype == dtype
    t = torch.tensor(a, requires_grad=True)
    torch.linalg.vector_norm(t, dim=1).sum().backward()
    np.testing.assert_allclose(g._data, t.grad.numpy(), rtol=1e-6)
    # second order: finite everywhere, and 0 in the zero row's block
    h = hessian(lambda y: y.norm(dim=1).sum(), leaf(a))
    assert np.all(np.isfinite(h))
    np.testing.assert_array_equal(h[:3, :3], 0.0)


def test_norm_jvp_at_zero_is_finite():
    from helpers import jvp_by_replay
    x = leaf(np.zeros(3))
    _, t = jvp_by_replay(lambda y: tg.linalg.vector_norm(y), [x], [tg.tensor(np.ones(3))])
    assert t.item() == 0.0


# -- case 34: ties split the gradient evenly -------------------------------------------------
@pytest.mark.parametrize("op", ["amax", "amin", "max", "min"])
def test_full_reduction_ties_split_evenly(op):
    x = leaf(np.full((2, 3), 1.5))
    g = grad_of(lambda y: getattr(y, op)(), x)
    np.testing.assert_allclose(g, np.full((2, 3), 1 / 6))
    assert g.sum() == pytest.approx(1.0)  # the gradient mass is preserved


@pytest.mark.parametrize("op", ["amax", "amin"])
def test_dim_reduction_ties_split_evenly_like_torch(op):
    a = np.array([[2.0, 2.0, 1.0], [0.5, 0.5, 0.5]])
    if op == "amin":
        a = -a
    x = leaf(a)
    g = grad_of(lambda y: getattr(y, op)(dim=1).sum(), x)
    expected = np.array([[0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(g, expected)
    t = torch.tensor(a, requires_grad=True)
    getattr(t, op)(dim=1).sum().backward()
    np.testing.assert_allclose(g, t.grad.numpy())


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_with_dim_ties_split_evenly_unlike_torch(op):
    """tapegrad's max(dim)/min(dim) values share the gradient among ties (1/k each, the
    same rule as amax). PyTorch's max(dim) sends all of it to the returned index; the
    indices themselves agree (the first extreme)."""
    x = leaf(np.ones((2, 3)))
    out = getattr(x, op)(dim=1)
    np.testing.assert_array_equal(out.indices._data, [0, 0])
    (g,) = tg.grad(out.values.sum(), [x])
    np.testing.assert_allclose(g._data, np.full((2, 3), 1 / 3))
    t = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    getattr(t, op)(dim=1).values.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[1, 0, 0], [1, 0, 0]])  # the difference


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_elementwise_ties_split_half(op):
    a, b = leaf([1.0, 2.0, -3.0]), leaf([1.0, 2.0, -3.0])
    ga, gb = tg.grad(getattr(tg, op)(a, b).sum(), [a, b])
    np.testing.assert_allclose(ga._data, 0.5)
    np.testing.assert_allclose(gb._data, 0.5)
    ta = torch.tensor([1.0, 2.0, -3.0], requires_grad=True)
    tb = torch.tensor([1.0, 2.0, -3.0], requires_grad=True)
    getattr(torch, op)(ta, tb).sum().backward()
    np.testing.assert_allclose(ga._data, ta.grad.numpy())


def test_inf_norm_ties_split_evenly():
    x = leaf([1.0, -3.0, 3.0, 2.0])
    np.testing.assert_allclose(grad_of(lambda y: tg.linalg.vector_norm(y, INF), x),
                               [0, -0.5, 0.5, 0])


# -- prod and cumprod with zeros ------------------------------------------------------------
def brute_prod_grad(a):
    a = a.reshape(-1)
    return np.array([np.prod(np.delete(a, i)) for i in range(a.size)])


def brute_prod_hessian(a):
    a = a.reshape(-1)
    n = a.size
    h = np.zeros((n, n))
    for i, j in itertools.product(range(n), range(n)):
        if i != j:
            h[i, j] = np.prod(np.delete(a, [i, j]))
    return h


@pytest.mark.parametrize("a", [[2.0, 0.0, 3.0, -1.5], [0.0, 2.0, 0.0, 3.0],
                               [0.0, 0.0, 0.0, 1.5], [1.2, -0.5, 2.0, 0.7]],
                         ids=["one zero", "two zeros", "three zeros", "no zero"])
def test_prod_gradients_with_zeros(a):
    a = np.array(a)
    x = leaf(a)
    np.testing.assert_allclose(grad_of(tg.prod, x), brute_prod_grad(a))
    np.testing.assert_allclose(hessian(tg.prod, leaf(a)), brute_prod_hessian(a), atol=1e-12)


def test_prod_dim_with_zeros_per_slice():
    a = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    g = grad_of(lambda y: y.prod(dim=1).sum(), leaf(a))
    np.testing.assert_allclose(g, [[6, 0, 0], [0, 0, 0], [6, 3, 2]])


def test_cumprod_gradients_with_zeros_match_brute_force():
    a = np.array([1.5, 0.0, -0.7, 0.0, 1.2])
    u = np.array([0.3, -1.0, 0.5, 2.0, 1.1])
    f = lambda y: (y.cumprod(0) * tg.tensor(u)).sum()  # noqa: E731
    # d/dx_i sum_k u_k prod_{j<=k} x_j by brute force
    expected = [sum(u[k] * np.prod(np.delete(a[:k + 1], i)) for k in range(i, 5))
                for i in range(5)]
    np.testing.assert_allclose(grad_of(f, leaf(a)), expected)
    t = torch.tensor(a, requires_grad=True)
    (gt,) = torch.autograd.grad((t.cumprod(0) * torch.tensor(u)).sum(), t, create_graph=True)
    ht = np.stack([torch.autograd.grad(gt[i], t, retain_graph=True)[0].numpy()
                   for i in range(5)])
    np.testing.assert_allclose(hessian(f, leaf(a)), ht, atol=1e-12)


# -- empty reductions -----------------------------------------------------------------------
@pytest.mark.parametrize("name,fn,value", [
    ("sum", lambda x: x.sum(0), 0.0), ("prod", lambda x: x.prod(0), 1.0),
    ("mean", lambda x: x.mean(0), np.nan), ("var", lambda x: x.var(0), np.nan),
    ("logsumexp", lambda x: x.logsumexp(0), -np.inf),
    ("norm", lambda x: x.norm(dim=0), 0.0)])
def test_empty_reductions_follow_the_identities(name, fn, value):
    x = leaf(np.zeros((0, 3)))
    out = fn(x)
    assert out.shape == (3,)
    np.testing.assert_array_equal(out._data, np.full(3, value))
    (g,) = tg.grad(out.sum(), [x], allow_unused=True)
    assert g is None or g.shape == (0, 3)


@pytest.mark.parametrize("fn", [lambda x: x.amax(0), lambda x: x.amin(0),
                                lambda x: x.max(0), lambda x: x.argmax(0),
                                lambda x: tg.linalg.vector_norm(x, INF, 0)])
def test_empty_max_raises_like_torch(fn):
    with pytest.raises(IndexError, match="non-zero size"):
        fn(tg.zeros(0, 3))


def test_empty_full_max_raises():
    with pytest.raises(RuntimeError, match="reduction dim"):
        tg.zeros(0, 3).max()


# -- stable logsumexp -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype,scale", [(np.float32, 1e4), (np.float64, 1e300)])
def test_logsumexp_large_logits(dtype, scale):
    a = np.array([[1.0, -1.0, 0.5], [-1.0, -1.0, -0.25]]) * scale
    x = leaf(a, dtype)
    out = x.logsumexp(1)
    (g,) = tg.grad(out.sum(), [x])
    assert np.all(np.isfinite(out._data)) and np.all(np.isfinite(g._data))
    t = torch.tensor(a.astype(dtype), requires_grad=True)
    torch.logsumexp(t, 1).sum().backward()
    np.testing.assert_allclose(out._data, torch.logsumexp(t, 1).detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(g._data, t.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_logsumexp_all_neg_inf():
    """A slice of all -inf gives -inf (no NaN from the max shift). Its gradient is
    exp(x - out) = exp(-inf + inf) = NaN, in PyTorch as here; other slices are unaffected."""
    x = leaf([[-INF, -INF], [0.0, -INF]])
    out = x.logsumexp(1)
    np.testing.assert_array_equal(out._data, [-INF, 0.0])
    (g,) = tg.grad(out[1], [x])
    np.testing.assert_array_equal(g._data[1], [1, 0])
    t = torch.tensor([[-INF, -INF], [0.0, -INF]], dtype=torch.float64, requires_grad=True)
    torch.logsumexp(t, 1)[1].backward()
    np.testing.assert_array_equal(g._data, t.grad.numpy())


@pytest.mark.parametrize("op", ["prod", "cumprod"])
def test_fourth_order_with_four_zeros(op):
    """Exact up to order EXACT_ORDER (4) whatever the number of zeros: the mixed partial
    d^4 prod / dx0 dx1 dx2 dx3 at four zeros is the product of the other entries."""
    a = np.array([0.0, 0.0, 0.0, 0.0, 1.5, -2.0])
    x = leaf(a)
    f = (lambda y: y.prod()) if op == "prod" else (lambda y: y.cumprod(0)[-1])
    out = f(x)
    for i in range(4):
        (g,) = tg.grad(out, [x], create_graph=True)
        if i < 3:
            assert np.all(g._data == 0)
        out = g[i]
    assert out.item() == pytest.approx(-3.0)
