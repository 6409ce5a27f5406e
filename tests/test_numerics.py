"""Numerics reliability cases (reliability_cases.md, section E): 30 where with a NaN/inf
branch, 31 sqrt/log/pow at the domain edge, 33 the table of kink conventions, 35 softmax and
log_softmax with huge logits, 36 softplus/log_sigmoid/logaddexp/sigmoid at |x| = 1000.

Values are asserted exactly where IEEE arithmetic fixes them; PyTorch is the reference for
the IEEE cases (same inf/NaN pattern)."""
import numpy as np
import pytest
import torch

import tapegrad as tg
import tapegrad.nn.functional as F

INF, NAN = np.inf, np.nan


def grad_of(fn, values, dtype=tg.float64, upstream=None):
    x = tg.tensor(values, dtype=dtype, requires_grad=True)
    y = fn(x)
    u = tg.ones_like(y) if upstream is None else tg.tensor(upstream, dtype=dtype)
    (g,) = tg.grad(y, [x], u)
    return y.numpy(), g.numpy()


def torch_grad_of(fn, values, dtype=torch.float64):
    x = torch.tensor(values, dtype=dtype, requires_grad=True)
    y = fn(x)
    (g,) = torch.autograd.grad(y, [x], torch.ones_like(y))
    return y.detach().numpy(), g.numpy()


def same(a, b):
    """Equal values, with NaN == NaN and inf signs compared."""
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# -- case 30: where with a NaN/inf branch ---------------------------------------------------------
class TestWhereNaNBranch:
    X = [-1.0, 0.0, 4.0]

    def test_single_where_keeps_ieee_like_pytorch(self):
        # where(x > 0, sqrt(x), 0): sqrt's own backward computes 0 / (2 * sqrt(x)) for the masked
        # elements, which is NaN at x = 0 and x < 0. IEEE semantics, as PyTorch and JAX.
        with np.errstate(invalid="ignore"):
            y, g = grad_of(lambda x: tg.where(x > 0, x.sqrt(), 0.0), self.X)
        ty, tgr = torch_grad_of(lambda x: torch.where(x > 0, x.sqrt(), 0.0), self.X)
        same(y, ty)
        same(g, tgr)
        assert np.isnan(g[:2]).all() and g[2] == 0.25

    def test_double_where_gives_finite_gradients(self):
        # sanitise the dangerous op's input too: sqrt never sees x <= 0
        def safe_sqrt(x):
            pos = x > 0
            return tg.where(pos, tg.where(pos, x, 1.0).sqrt(), 0.0)
        y, g = grad_of(safe_sqrt, self.X)
        same(y, [0.0, 0.0, 2.0])
        same(g, [0.0, 0.0, 0.25])

    def test_double_where_log(self):
        def safe_log(x):
            pos = x > 0
            return tg.where(pos, tg.where(pos, x, 1.0).log(), 0.0)
        y, g = grad_of(safe_log, self.X)
        same(y, [0.0, 0.0, np.log(4.0)])
        same(g, [0.0, 0.0, 0.25])

    def test_where_selects_never_multiplies(self):
        # an inf/NaN upstream gradient must not become NaN in the unselected input
        cond = np.array([True, False, True, False])
        a = tg.tensor([1.0, 2.0, 3.0, 4.0], dtype=tg.float64, requires_grad=True)
        b = tg.tensor([5.0, 6.0, 7.0, 8.0], dtype=tg.float64, requires_grad=True)
        up = tg.tensor([INF, NAN, NAN, -INF], dtype=tg.float64)
        ga, gb = tg.grad(tg.where(cond, a, b), [a, b], up)
        same(ga.numpy(), [INF, 0.0, NAN, 0.0])
        same(gb.numpy(), [0.0, NAN, 0.0, -INF])

    def test_where_second_order_is_finite_through_double_where(self):
        x = tg.tensor(self.X, dtype=tg.float64, requires_grad=True)
        pos = x > 0
        y = tg.where(pos, tg.where(pos, x, 1.0) ** 1.5, 0.0).sum()
        (g,) = tg.grad(y, [x], create_graph=True)
        (h,) = tg.grad(g.sum(), [x])
        same(g.numpy(), [0.0, 0.0, 3.0])
        same(h.numpy(), [0.0, 0.0, 0.375])

    def test_anomaly_mode_names_the_op(self):
        x = tg.tensor(self.X, dtype=tg.float64, requires_grad=True)
        with tg.autograd.detect_anomaly(), np.errstate(invalid="ignore"):
            y = tg.where(x > 0, x.sqrt(), 0.0).sum()
            with pytest.raises(RuntimeError, match="sqrt"):
                y.backward()


# -- case 31: sqrt / log / pow at the domain edge (IEEE) ---------------------------------------
# The documented values (PyTorch gives the same):
#   sqrt(0) = 0,     d/dx = +inf;   sqrt(-1) = NaN, d/dx = NaN
#   log(0) = -inf,   d/dx = +inf;   log(-1) = NaN,  d/dx = -1 (1/x: the rule does not look at
#                                                   the NaN value)
#   0 ** 0.5 = 0,    d/dx = +inf;   0 ** 2 = 0, d/dx = 0;   0 ** 0 = 1, d/dx = 0
#   rsqrt(0) = inf,  d/dx = -inf;   log2/log10(0) = -inf, d/dx = +inf
#   log1p(-1) = -inf, d/dx = +inf;  reciprocal(0) = inf, d/dx = -inf
EDGE = [
    ("sqrt", lambda x: x.sqrt(), torch.sqrt, [0.0, -1.0], [0.0, NAN], [INF, NAN]),
    ("log", lambda x: x.log(), torch.log, [0.0, -1.0], [-INF, NAN], [INF, -1.0]),
    ("pow-half", lambda x: x ** 0.5, lambda x: x ** 0.5, [0.0], [0.0], [INF]),
    ("pow-two", lambda x: x ** 2, lambda x: x ** 2, [0.0], [0.0], [0.0]),
    ("pow-zero", lambda x: x ** 0, lambda x: x ** 0, [0.0], [1.0], [0.0]),
    ("rsqrt", tg.rsqrt, torch.rsqrt, [0.0], [INF], [-INF]),
    ("log2", tg.log2, torch.log2, [0.0], [-INF], [INF]),
    ("log10", tg.log10, torch.log10, [0.0], [-INF], [INF]),
    ("log1p", tg.log1p, torch.log1p, [-1.0], [-INF], [INF]),
    ("reciprocal", tg.reciprocal, torch.reciprocal, [0.0], [INF], [-INF]),
]


@pytest.mark.parametrize("name,fn,torch_fn,x,y_want,g_want", EDGE, ids=[e[0] for e in EDGE])
def test_domain_edge_is_ieee(name, fn, torch_fn, x, y_want, g_want):
    with np.errstate(all="ignore"):
        y, g = grad_of(fn, x)
    same(y, y_want)
    same(g, g_want)
    ty, tgr = torch_grad_of(torch_fn, x)
    same(ty, y_want)
    same(tgr, g_want)


def test_stable_alternatives_are_finite_at_the_edge():
    # log1p/expm1/softplus/logaddexp are the composites to reach for instead of log(1 + ...)
    _, g = grad_of(tg.log1p, [0.0, 1e-300])
    same(g, [1.0, 1.0])
    _, g = grad_of(tg.expm1, [0.0, -1000.0])
    same(g, [1.0, 0.0])


# -- case 33: the table of boundary conventions -------------------------------------------------
CONVENTIONS = [  # (op at its kink, value of the gradient there)
    ("relu'(0)", lambda x: tg.relu(x), 0.0, 0.0),
    ("abs'(0)", lambda x: tg.abs(x), 0.0, 0.0),
    ("clamp at the lower bound", lambda x: tg.clamp(x, -1.0, 1.0), -1.0, 0.0),
    ("clamp at the upper bound", lambda x: tg.clamp(x, -1.0, 1.0), 1.0, 0.0),
    ("clamp(min=0) at 0", lambda x: tg.clamp(x, min=0.0), 0.0, 0.0),
    ("maximum(x, 0) at 0 (tie split)", lambda x: tg.maximum(x, tg.zeros_like(x)), 0.0, 0.5),
    ("minimum(x, 0) at 0 (tie split)", lambda x: tg.minimum(x, tg.zeros_like(x)), 0.0, 0.5),
    ("maximum(x, x) (both sides)", lambda x: tg.maximum(x, x), 0.7, 1.0),
    ("where(x > 0, x, 0) at 0 == relu", lambda x: tg.where(x > 0, x, 0.0), 0.0, 0.0),
    ("relu6'(0)", F.relu6, 0.0, 0.0),
    ("relu6'(6)", F.relu6, 6.0, 0.0),
    ("hardtanh'(1)", F.hardtanh, 1.0, 0.0),
    ("leaky_relu'(0) = slope", lambda x: F.leaky_relu(x, 0.1), 0.0, 0.1),
    ("elu'(0) = alpha", lambda x: F.elu(x, 2.0), 0.0, 2.0),
    ("hardswish'(-3)", F.hardswish, -3.0, 0.0),
    ("hardswish'(3)", F.hardswish, 3.0, 1.0),
    ("floor'(1)", tg.floor, 1.0, 0.0),
    ("softplus'(0)", tg.softplus, 0.0, 0.5),
]


@pytest.mark.parametrize("name,fn,x,want", CONVENTIONS, ids=[c[0] for c in CONVENTIONS])
def test_convention(name, fn, x, want):
    for dtype in (tg.float64, tg.float32):
        _, g = grad_of(fn, [x], dtype=dtype)
        assert g.tolist() == [float(np.asarray(want, dtype=g.dtype))], name


def test_where_relu_and_relu_agree_everywhere():
    xs = [-2.0, -0.0, 0.0, 1e-300, 3.0]
    _, g1 = grad_of(tg.relu, xs)
    _, g2 = grad_of(lambda x: tg.where(x > 0, x, 0.0), xs)
    same(g1, g2)
    _, g3 = grad_of(lambda x: tg.maximum(x, tg.zeros_like(x)), xs)
    same(g3, [0.0, 0.5, 0.5, 1.0, 1.0])  # the documented difference at exactly 0


# -- case 35: softmax / log_softmax with huge logits --------------------------------------------
def _reference(x, w):
    """float64 reference: softmax, log_softmax and the gradients of sum(w * .) (closed form,
    max-shifted)."""
    x = x.astype(np.float64)
    z = x - x.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=-1, keepdims=True))
    ls = z - lse
    p = np.exp(ls)
    g_ls = w - p * w.sum(axis=-1, keepdims=True)
    g_sm = p * (w - (w * p).sum(axis=-1, keepdims=True))
    return p, ls, g_sm, g_ls


LARGE = {
    "float32-1e4": (np.array([[1e4, -1e4, 0.0, 9999.0], [-1e4, -1e4, -1e4, -1e4],
                              [1e4, 1e4, -1e4, 5e3]], dtype=np.float32), tg.float32, 1e-6),
    "float64-1e300": (np.array([[1e300, -1e300, 0.0, 1e300], [-1e300, -1e300, -1e300, -1e300],
                                [1e300, -1e300, -1e300, -5e299]]), tg.float64, 1e-15),
    "float64-1e308": (np.array([[1e308, -5e307, 1.0, 1e308]]), tg.float64, 1e-15),
}


@pytest.mark.parametrize("case", sorted(LARGE))
@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_large_logits(case, which):
    x_np, dtype, tol = LARGE[case]
    w = np.random.default_rng(0).standard_normal(x_np.shape)
    p, ls, g_sm, g_ls = _reference(x_np, w)
    fn = tg.softmax if which == "softmax" else F.log_softmax
    want_y, want_g = (p, g_sm) if which == "softmax" else (ls, g_ls)
    x = tg.tensor(x_np, dtype=dtype, requires_grad=True)
    y = fn(x, dim=-1)
    assert y.dtype == dtype
    (g,) = tg.grad(y, [x], tg.tensor(w, dtype=dtype), create_graph=True)
    assert np.isfinite(y.numpy()).all() and np.isfinite(g.numpy()).all()
    np.testing.assert_allclose(y.numpy(), want_y, rtol=tol * 10, atol=tol)
    np.testing.assert_allclose(g.numpy(), want_g, rtol=tol * 10, atol=tol)
    (h,) = tg.grad((g * g).sum(), [x])  # second order stays finite too
    assert np.isfinite(h.numpy()).all()


def test_log_softmax_keeps_the_small_term_under_a_huge_max():
    # x - logsumexp(x) would round to 0 here: 1e300 - (1e300 + log 2) == 0
    y = F.log_softmax(tg.tensor([1e300, 1e300], dtype=tg.float64), 0)
    np.testing.assert_allclose(y.numpy(), [-np.log(2.0)] * 2, rtol=1e-15)


# -- case 36: softplus, log_sigmoid, logaddexp, sigmoid at |x| = 1000 ---------------------------
STABLE = [  # (name, fn, x, value, gradient)
    ("softplus", tg.softplus, [1000.0, -1000.0], [1000.0, 0.0], [1.0, 0.0]),
    ("softplus-no-threshold", lambda x: tg.softplus(x, threshold=INF), [1000.0, -1000.0],
     [1000.0, 0.0], [1.0, 0.0]),
    ("logsigmoid", F.logsigmoid, [1000.0, -1000.0], [0.0, -1000.0], [0.0, 1.0]),
    ("sigmoid", tg.sigmoid, [1000.0, -1000.0], [1.0, 0.0], [0.0, 0.0]),
    ("logaddexp-x-0", lambda x: tg.logaddexp(x, tg.zeros_like(x)), [1000.0, -1000.0],
     [1000.0, 0.0], [1.0, 0.0]),
    ("logaddexp-x-x", lambda x: tg.logaddexp(x, x), [1000.0, -1000.0],
     [1000.0 + np.log(2.0), -1000.0 + np.log(2.0)], [1.0, 1.0]),
    ("silu", F.silu, [1000.0, -1000.0], [1000.0, 0.0], [1.0, 0.0]),
    ("mish", F.mish, [1000.0, -1000.0], [1000.0, 0.0], [1.0, 0.0]),
    ("elu", F.elu, [1000.0, -1000.0], [1000.0, -1.0], [1.0, 0.0]),
    ("gelu", F.gelu, [1000.0, -1000.0], [1000.0, 0.0], [1.0, 0.0]),
]


@pytest.mark.parametrize("dtype", [tg.float64, tg.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,fn,x,y_want,g_want", STABLE, ids=[s[0] for s in STABLE])
def test_stable_at_1000(name, fn, x, y_want, g_want, dtype):
    xt = tg.tensor(x, dtype=dtype, requires_grad=True)
    y = fn(xt)
    (g,) = tg.grad(y.sum(), [xt], create_graph=True)
    np.testing.assert_allclose(y.numpy(), y_want, rtol=1e-6, atol=0)
    np.testing.assert_allclose(g.numpy(), g_want, rtol=1e-6, atol=1e-30)
    (h,) = tg.grad(g.sum(), [xt])
    assert np.isfinite(h.numpy()).all(), f"{name}: second derivative not finite"


def test_logaddexp_second_order_at_1000():
    # PyTorch's rule overflows here (NaN); the exact value is sigmoid'(+-1000) = 0
    a = tg.tensor([1000.0, -1000.0], dtype=tg.float64, requires_grad=True)
    b = tg.tensor([0.0, 0.0], dtype=tg.float64, requires_grad=True)
    ga, gb = tg.grad(tg.logaddexp(a, b).sum(), [a, b], create_graph=True)
    ha, hb = tg.grad(ga.sum(), [a, b])
    same(ha.numpy(), [0.0, 0.0])
    same(hb.numpy(), [0.0, 0.0])


def test_naive_log1pexp_overflows_which_is_why_softplus_exists():
    # TensorFlow's custom_gradient example: log(1 + exp(x)) has a NaN gradient at large x
    with np.errstate(all="ignore"):
        y, g = grad_of(lambda x: (x.exp() + 1).log(), [1000.0])
    assert y[0] == INF and np.isnan(g[0])
    y, g = grad_of(tg.softplus, [1000.0])
    same(y, [1000.0])
    same(g, [1.0])
