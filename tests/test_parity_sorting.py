"""PyTorch parity for sorting and selection (sort, argsort, msort, topk, kthvalue, median,
nanmedian, quantile, nanquantile, cummax, cummin, logcumsumexp, searchsorted, bucketize):
values in float64 and float32, first- and second-order gradients and forward-mode tangents
(random distinct values, so no ties, except in rows about ties), plus errors."""
import numpy as np
import pytest
import torch

import tapegrad as tg
from parity import Row, check_row, parametrize, const, uniform as r, arange as _t

NAN = float("nan")


def rq(shape, q):
    """Random x of ``shape`` and a q: a number, or a 1-d array (it then takes gradients)."""
    return lambda rng: [rng.uniform(-2, 2, shape), q if not isinstance(q, list) else
                        np.array(q, dtype=float)]


def tup(out):
    return tuple(out)


def both(f):
    return f, f


WITH_NAN = [[1.5, NAN, -0.5, 0.2, 0.9], [NAN, 0.3, NAN, -1.1, 0.7], [NAN, NAN, NAN, NAN, NAN]]
TIES = [[1.0, 0.0, 1.0, 0.0, 1.0, 0.0], [2.0, 2.0, -1.0, 2.0, -1.0, 0.5]]

ROWS = [
    # sort / argsort / msort
    Row("sort", *both(lambda a: tup(a.sort())), r(3, 4)),
    Row("sort-dim0-descending", *both(lambda a: tup(a.sort(0, descending=True))), r(4, 3)),
    Row("sort-stable-3d", lambda a: tup(tg.sort(a, dim=1, stable=True)),
        lambda a: tup(torch.sort(a, dim=1, stable=True)), r(2, 4, 3)),
    Row("sort-0d", *both(lambda a: tup(a.sort())), r()),
    Row("sort-nan", *both(lambda a: tup(a.sort(dim=1))), const(WITH_NAN), grad=False),
    Row("sort-nan-descending", *both(lambda a: tup(a.sort(dim=1, descending=True))),
        const(WITH_NAN), grad=False),
    Row("sort-ties-stable", *both(lambda a: tup(a.sort(dim=1, stable=True))), const(TIES),
        grad=False),
    Row("sort-ties-stable-descending",
        *both(lambda a: tup(a.sort(dim=1, descending=True, stable=True))), const(TIES),
        grad=False),
    Row("argsort", *both(lambda a: a.argsort(0)), r(4, 3), grad=False),
    Row("argsort-descending-stable", lambda a: tg.argsort(a, descending=True, stable=True),
        lambda a: torch.argsort(a, descending=True, stable=True), const(TIES), grad=False),
    Row("msort", *both(lambda a: a.msort()), r(4, 3)),
    Row("msort-fn", tg.msort, torch.msort, r(5)),
    # topk
    Row("topk", *both(lambda a: tup(a.topk(2))), r(3, 5)),
    Row("topk-smallest-dim0", *both(lambda a: tup(a.topk(3, dim=0, largest=False))), r(4, 3)),
    Row("topk-all", *both(lambda a: tup(a.topk(4, -1))), r(2, 4)),
    Row("topk-k0", *both(lambda a: tup(a.topk(0))), r(2, 4)),
    Row("topk-0d", *both(lambda a: tup(a.topk(1))), r()),
    Row("topk-nan-largest", *both(lambda a: tup(a.topk(2))), const(WITH_NAN[:2]), grad=False),
    Row("topk-nan-smallest", *both(lambda a: tup(a.topk(2, largest=False))),
        const(WITH_NAN[:2]), grad=False),
    # kthvalue
    Row("kthvalue", *both(lambda a: tup(a.kthvalue(2))), r(3, 5)),
    Row("kthvalue-dim0-keepdim", *both(lambda a: tup(a.kthvalue(4, 0, True))), r(4, 3)),
    Row("kthvalue-0d", *both(lambda a: tup(a.kthvalue(1))), r()),
    # median / nanmedian
    Row("median-odd", *both(lambda a: a.median()), r(3, 5)),
    Row("median-even-lower", *both(lambda a: a.median()), r(2, 4)),
    Row("median-ties-split-gradient", *both(lambda a: a.median()),
        const([[1.0, 2.0, 0.5], [2.0, 3.0, 2.0]])),
    Row("median-dim", *both(lambda a: tup(a.median(1))), r(3, 4)),
    Row("median-dim0-keepdim", *both(lambda a: tup(a.median(dim=0, keepdim=True))), r(5, 2)),
    Row("median-0d", *both(lambda a: a.median()), r()),
    Row("median-nan", *both(lambda a: tup(a.median(1))), const(WITH_NAN), grad=False),
    Row("median-all-nan", *both(lambda a: a.median()), const(WITH_NAN[0]), grad=False),
    Row("nanmedian", *both(lambda a: a.nanmedian()), const(WITH_NAN[:2])),
    Row("nanmedian-dim", *both(lambda a: tup(a.nanmedian(1))), const(WITH_NAN[:2])),
    # an all-NaN row's index is an nth_element artifact in PyTorch (0 or 2 here): values only
    Row("nanmedian-all-nan-row", *both(lambda a: a.nanmedian(1).values), const(WITH_NAN),
        grad=False),
    Row("nanmedian-plain", tg.nanmedian, torch.nanmedian, r(4, 3)),
    Row("nanmedian-dim-plain", lambda a: tup(tg.nanmedian(a, 0)),
        lambda a: tup(torch.nanmedian(a, 0)), r(4, 3)),
    # quantile / nanquantile (a tensor q takes gradients too)
    Row("quantile", *both(lambda a, q: a.quantile(q)), rq((3, 4), 0.3)),
    Row("quantile-q-tensor-dim", *both(lambda a, q: a.quantile(q, dim=1)),
        rq((3, 5), [0.1, 0.55, 0.9])),
    Row("quantile-q-tensor-keepdim", *both(lambda a, q: a.quantile(q, keepdim=True)),
        rq((2, 3), [0.2, 0.7])),
    Row("quantile-dim0-keepdim", *both(lambda a, q: a.quantile(q, 0, True)), rq((4, 3), 0.6)),
    Row("quantile-ends", *both(lambda a, q: a.quantile(q, dim=-1)), rq((2, 5), [0.0, 1.0])),
    Row("quantile-0d", *both(lambda a, q: a.quantile(q)), rq((), 0.4)),
    Row("quantile-lower", *both(lambda a, q: a.quantile(q, 1, interpolation="lower")),
        rq((2, 5), 0.35)),
    Row("quantile-higher", *both(lambda a, q: a.quantile(q, 1, interpolation="higher")),
        rq((2, 5), [0.35, 0.8])),
    Row("quantile-midpoint", *both(lambda a, q: a.quantile(q, 0, interpolation="midpoint")),
        rq((5, 2), [0.35, 0.8])),
    Row("quantile-nearest", *both(lambda a, q: a.quantile(q, interpolation="nearest")),
        rq((7,), [0.1, 0.5, 0.9])),
    Row("quantile-nan", *both(lambda a: a.quantile(0.4, dim=1)), const(WITH_NAN), grad=False),
    Row("nanquantile", *both(lambda a: a.nanquantile(0.4, dim=1)), const(WITH_NAN[:2])),
    Row("nanquantile-all-nan-row", *both(lambda a: a.nanquantile(0.4, dim=1)),
        const(WITH_NAN), grad=False),
    Row("nanquantile-q-tensor", *both(lambda a, q: a.nanquantile(q)), rq((3, 4), [0.25, 0.6])),
    # cummax / cummin
    Row("cummax", *both(lambda a: tup(a.cummax(1))), r(3, 5)),
    Row("cummin-dim0", *both(lambda a: tup(a.cummin(0))), r(5, 2)),
    Row("cummax-0d", *both(lambda a: tup(a.cummax(0))), r()),
    Row("cummax-ties-nan", *both(lambda a: tup(a.cummax(-1))),
        const([3.0, 1.0, 3.0, 1.0, NAN, 0.0, NAN, -1.0]), grad=False),
    Row("cummin-ties-nan", *both(lambda a: tup(a.cummin(-1))),
        const([3.0, 1.0, 2.0, 1.0, NAN, 0.0, NAN, -1.0]), grad=False),
    # logcumsumexp
    Row("logcumsumexp", *both(lambda a: a.logcumsumexp(1)), r(3, 4)),
    Row("logcumsumexp-dim0", lambda a: tg.logcumsumexp(a, 0), lambda a: torch.logcumsumexp(a, 0),
        r(4, 2)),
    Row("logcumsumexp-wide", *both(lambda a: a.logcumsumexp(0)),
        const([-800.0, 1.0, -3.0, 700.0, 2.0]), fwd=False),  # see test_logcumsumexp_jvp_*
    Row("logcumsumexp-0d", *both(lambda a: a.logcumsumexp(0)), r()),
    # searchsorted / bucketize (no gradient)
    Row("searchsorted", lambda s, v: tg.searchsorted(s, v), lambda s, v: torch.searchsorted(s, v),
        lambda rng: [np.sort(rng.uniform(-2, 2, 6)), rng.uniform(-3, 3, (2, 3))], grad=False),
    Row("searchsorted-right-ties", lambda s, v: tg.searchsorted(s, v, right=True),
        lambda s, v: torch.searchsorted(s, v, right=True),
        const([0.0, 1.0, 1.0, 2.0], [1.0, -1.0, 2.0, 0.5, 3.0]), grad=False),
    Row("searchsorted-side-nd", lambda s, v: tg.searchsorted(s, v, side="right"),
        lambda s, v: torch.searchsorted(s, v, side="right"),
        const([[0.0, 1.0, 1.0], [2.0, 2.0, 5.0]], [[1.0, 0.0], [2.0, 6.0]]), grad=False),
    Row("searchsorted-sorter-int32", lambda s, v, i: tg.searchsorted(s, v, sorter=i,
                                                                     out_int32=True),
        lambda s, v, i: torch.searchsorted(s, v, sorter=i, out_int32=True),
        lambda rng: [np.array([3.0, 1.0, 2.0]), np.array([0.5, 1.5, 2.5, 3.5]),
                     np.array([1, 2, 0])], grad=False),
    Row("searchsorted-scalar", lambda s: tg.searchsorted(s, 1.5),
        lambda s: torch.searchsorted(s, 1.5), const([0.0, 1.0, 2.0]), grad=False),
    Row("bucketize", lambda v, b: tg.bucketize(v, b), lambda v, b: torch.bucketize(v, b),
        const([[1.0, -1.0, 2.0], [0.5, 3.0, 1.0]], [0.0, 1.0, 2.0]), grad=False),
    Row("bucketize-right", lambda v, b: tg.bucketize(v, b, right=True),
        lambda v, b: torch.bucketize(v, b, right=True),
        const([1.0, -1.0, 2.0, 0.5, 3.0], [0.0, 1.0, 2.0]), grad=False),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


ERRORS = [
    (lambda: _t(2, 3).sort(dim=2), IndexError, "out of range"),
    (lambda: _t(2, 3).argsort(dim=-3), IndexError, "out of range"),
    (lambda: _t(2, 3).topk(4), RuntimeError, "selected index k out of range"),
    (lambda: _t(2, 3).topk(-1), RuntimeError, "selected index k out of range"),
    (lambda: _t(2, 3).kthvalue(0), RuntimeError,
     "kthvalue(): selected number k out of range for dimension 1"),
    (lambda: _t(2, 3).kthvalue(4), RuntimeError,
     "kthvalue(): selected number k out of range for dimension 1"),
    (lambda: _t(0, 3).kthvalue(1, 0), IndexError,
     "kthvalue(): Expected reduction dim 0 to have non-zero size."),
    (lambda: _t(0, 3).median(0), IndexError,
     "median(): Expected reduction dim 0 to have non-zero size."),
    (lambda: _t(2, 3).median(2), IndexError, "out of range"),
    (lambda: _t(2, 3).quantile(1.5), RuntimeError,
     "quantile() q must be in the range [0, 1] but got 1.5"),
    (lambda: _t(2, 3).nanquantile(-0.1), RuntimeError,
     "nanquantile() q must be in the range [0, 1] but got -0.1"),
    (lambda: _t(2, 3).quantile(tg.tensor([0.2, 1.2], dtype=np.float64)), RuntimeError,
     "quantile() q values must be in the range [0, 1]"),
    (lambda: _t(2, 3).quantile(tg.tensor([[0.2]], dtype=np.float64)), RuntimeError,
     "quantile() q must be a scalar or 1D tensor"),
    (lambda: tg.tensor([1, 2]).quantile(0.5), RuntimeError,
     "quantile() input tensor must be either float or double dtype"),
    (lambda: _t(0).quantile(0.5), RuntimeError, "quantile() input tensor must be non-empty"),
    (lambda: _t(3).quantile(tg.tensor([0.5], dtype=np.float32)), RuntimeError,
     "quantile() q tensor must be same dtype as the input tensor"),
    (lambda: _t(3).quantile(0.5, interpolation="foo"), RuntimeError,
     "quantile() interpolation must be one of linear, lower, higher, midpoint or nearest, "
     "but got foo"),
    (lambda: _t(2, 3).cummax(2), IndexError, "out of range"),
    (lambda: tg.tensor([1, 2]).logcumsumexp(0), NotImplementedError, "logcumsumexp"),
    (lambda: tg.searchsorted(_t(2, 3), tg.ones(3, 1)), RuntimeError,
     "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
     "dimensions of boundaries tensor and input value tensor must match, but we got "
     "boundaries tensor [2, 3] and input value tensor [3, 1]"),
    (lambda: tg.searchsorted(_t(3), tg.ones(3), side="foo"), RuntimeError,
     "torch.searchsorted(): side can only be 'left' or 'right' but got foo"),
    (lambda: tg.searchsorted(_t(3), tg.ones(3), side="left", right=True), RuntimeError,
     "torch.searchsorted(): side and right can't be set to opposites, got side of left "
     "while right was True"),
    (lambda: tg.bucketize(tg.ones(3), _t(2, 3)), RuntimeError,
     "boundaries tensor must be 1 dimension, but got dim(2)"),
]


@pytest.mark.parametrize("fn,err,message", ERRORS)
def test_errors(fn, err, message):
    with pytest.raises(err) as info:
        fn()
    assert message in str(info.value)


TORCH_ERRORS = [  # the same calls in PyTorch raise the same type with the same message
    (lambda m, t: t(m, 2, 3).topk(4), "selected index k out of range"),
    (lambda m, t: t(m, 2, 3).kthvalue(0), "kthvalue(): selected number k out of range"),
    (lambda m, t: t(m, 2, 3).quantile(1.5), "q must be in the range [0, 1] but got 1.5"),
    (lambda m, t: t(m, 0, 3).median(0), "median(): Expected reduction dim 0 to have non-zero"),
]


@pytest.mark.parametrize("fn,message", TORCH_ERRORS)
def test_errors_match_torch(fn, message):
    def make(m, *shape):
        return m.tensor(np.arange(float(np.prod(shape))).reshape(shape))
    errors = []
    for m in (tg, torch):
        with pytest.raises(Exception) as info:
            fn(m, make)
        assert message in str(info.value)
        errors.append(type(info.value))
    assert issubclass(errors[0], errors[1])


def test_named_results():
    x = tg.tensor([[3.0, 1.0, 2.0]])
    for name, out in [("sort", x.sort()), ("topk", x.topk(2)), ("kthvalue", x.kthvalue(1)),
                      ("median", x.median(1)), ("nanmedian", x.nanmedian(1)),
                      ("cummax", x.cummax(1)), ("cummin", x.cummin(1))]:
        assert type(out).__name__ == name
        values, indices = out
        assert values is out.values and indices is out.indices
        assert indices.dtype == np.int64 and not indices.requires_grad
    assert isinstance(x.median(), tg.Tensor) and x.median().item() == 2.0
    np.testing.assert_array_equal(x.sort(descending=True).indices.numpy(), [[0, 2, 1]])


def test_value_gradients_are_scattered_by_the_indices():
    x = tg.tensor([[0.3, -1.0, 2.0, 0.7]], requires_grad=True)
    v, i = x.sort(1, descending=True)
    (v * tg.tensor([[1.0, 2.0, 3.0, 4.0]])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 4.0, 1.0, 2.0]])
    x.grad = None
    x.topk(2, largest=False).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0, 0.0, 0.0]])


def test_compiled_sort_replays_new_orders():
    f = tg.compile(lambda x: x.sort(descending=True).values * 2)
    for arr in ([1.0, 3.0, 2.0], [3.0, 2.0, 1.0], [2.0, 1.0, 3.0]):
        np.testing.assert_array_equal(f(tg.tensor(arr)).numpy(), np.sort(arr)[::-1] * 2)


def test_logcumsumexp_jvp_is_exact_where_torch_zeroes_it():
    """PyTorch's forward-mode rule masks entries with exp(x - max) < 1e-13 to 0 (its
    logcumsumexp_jvp), so its tangent of y_0 = x_0 = -800 is 0; ours is the exact t_0, and
    it agrees with reverse mode (<u, J t> == <J^T u, t>)."""
    x = np.array([-800.0, 1.0, -3.0, 700.0, 2.0])
    t = np.array([0.5, -1.0, 2.0, 0.25, 1.5])
    _, jt = tg.func.jvp(lambda a: a.logcumsumexp(0), [tg.tensor(x)], [tg.tensor(t)])
    jt = jt[0] if isinstance(jt, (tuple, list)) else jt
    low = np.tri(5) > 0   # w[k, i] = exp(x_i - y_k) for i <= k
    w = np.where(low, np.exp(np.where(low, x[None, :] - np.logaddexp.accumulate(x)[:, None], 0)), 0)
    np.testing.assert_allclose(jt.numpy(), w @ t, rtol=1e-12, atol=1e-300)
    assert jt.numpy()[0] == pytest.approx(0.5, rel=1e-12)   # torch: 0.0
