"""Sorting and selection: sort, argsort, msort, topk, kthvalue, median, nanmedian, quantile,
nanquantile, cummax, cummin, logcumsumexp, searchsorted, bucketize.

Each selecting op is an index primitive without gradient (which element goes where, from
the values) followed by ``gather``: the values' gradient is gather's, a scatter-add of g to
the picked places, written in tensor ops, so every order of derivative comes free. Only two
rules are new here: ``median()``/``nanmedian()`` over all elements (PyTorch splits the
gradient evenly among the elements equal to the result) and logcumsumexp (stability).

Orders are stable (ties keep their input order) and NaN sorts above +inf, as in PyTorch.
Where PyTorch leaves the tie order unspecified (sort with stable=False, topk, kthvalue and
median(dim) indices), the stable order is returned.
"""
import collections
import itertools

from .. import backend
from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite
from ..core.tensor import Tensor, _make
from ._util import Sample, normalize_dims, guard, in_range_closed, xp_of, const_like, check_numbers
from .shape import reshape, movedim
from .index import gather
from .reduce import sum as _sum
from .elementwise import where
from .math import IsNan, lerp, Floor, Ceil, Round


_NAN = float("nan")


def _accumulate(xp, name, x, axis):
    """``xp.<name>.accumulate(x, axis)`` for the binary ufunc ``name``. CuPy's ufuncs
    accumulate only add and multiply, so other modules scan in log2(n) doubling steps
    (Hillis-Steele: step s combines each entry with the one s before it)."""
    if xp is backend.xp:
        return getattr(xp, name).accumulate(x, axis=axis)
    f, out = getattr(xp, name), x.copy()
    pre, n, s = (slice(None),) * axis, x.shape[axis], 1
    while s < n:
        out[pre + (slice(s, n),)] = f(out[pre + (slice(s, n),)], out[pre + (slice(0, n - s),)])
        s *= 2
    return out


def _result(name):
    return collections.namedtuple(name, ["values", "indices"])


SortResult, TopkResult, KthvalueResult = _result("sort"), _result("topk"), _result("kthvalue")
MedianResult, NanmedianResult = _result("median"), _result("nanmedian")
CummaxResult, CumminResult = _result("cummax"), _result("cummin")


def _dim(x, dim, op):
    return normalize_dims(dim, x.ndim, op)[0]


def _argsort(xp, x, axis, descending):
    """Stable argsort along ``axis``, NaN above everything; descending keeps ties in input
    order too (sort the reversed array ascending, reverse back, mirror the indices)."""
    if not descending:
        return xp.argsort(x, axis=axis, kind="stable")
    n = x.shape[axis]
    r = xp.flip(xp.argsort(xp.flip(x, axis), axis=axis, kind="stable"), axis)
    return n - 1 - r


def _nan_count(xp, x, axis):
    if x.dtype.kind not in "fc":
        return xp.zeros(x.shape[:axis] + (1,) + x.shape[axis + 1:], dtype=backend.int64)
    return xp.isnan(x).sum(axis=axis, keepdims=True)


@primitive("argsort_indices", public=False)
class ArgSort(Function):
    """The permutation sorting x along ``dim`` (int64, no gradient)."""

    differentiable = False

    @staticmethod
    def forward(ctx, x, dim, descending):
        return _argsort(ctx.xp, x, dim, descending).astype(backend.int64)


@primitive("select_index", public=False)
class SelectIndex(Function):
    """The index (kept dim) of one order statistic along ``dim``: the k-th smallest
    (``mode='kth'``, 0-based ``k``), the lower median (a NaN's index if the slice holds one),
    or the lower median of the non-NaN values (``'nanmedian'``). No gradient."""

    differentiable = False

    @staticmethod
    def forward(ctx, x, dim, mode, k=0):
        xp = ctx.xp
        order = _argsort(xp, x, dim, False)
        n = x.shape[dim]
        nan = _nan_count(xp, x, dim)
        if mode == "kth":
            pos = xp.full(nan.shape, k)
        elif mode == "median":  # stable order puts the first NaN at n - #NaN
            pos = xp.where(nan > 0, n - nan, (n - 1) // 2)
        else:
            m = n - nan
            pos = xp.where(m > 0, (m - 1) // 2, 0)
        return xp.take_along_axis(order, pos.astype(backend.int64), axis=dim)


def _scalar_as_1d(x):
    """0-d x as shape (1,) (dim 0 / -1 is the only dim), with a function undoing it."""
    if x.ndim:
        return x, lambda t: t
    return reshape(x, (1,)), lambda t: reshape(t, ())


# -- sort / argsort / msort -----------------------------------------------------------------
def _sort_samples(rng):
    return [Sample([rng.standard_normal((2, 3))]),
            Sample([rng.standard_normal((3, 4))], {"dim": 0, "descending": True}),
            Sample([rng.standard_normal((2, 3, 2))], {"dim": 1, "stable": True}),
            Sample([rng.standard_normal(())]),
            Sample([rng.standard_normal((0, 3))], {"dim": 0})]


@composite("sort", method=True, samples=_sort_samples)
def sort(x, dim=-1, descending=False, *, stable=False):
    """(values, indices) sorting x along ``dim``; NaN sorts as the largest. The order is
    always stable (PyTorch leaves ties unspecified with stable=False). d values / dx is the
    permutation: g goes back to where each value came from."""
    d = _dim(x, dim, "sort")
    x1, back = _scalar_as_1d(x)
    idx = ArgSort.apply(x1, dim=d, descending=bool(descending))
    return SortResult(back(gather(x1, d, idx)), back(idx))


@composite("argsort", method=True, samples=lambda rng: [
    Sample([rng.integers(0, 3, (2, 5))]),
    Sample([rng.integers(0, 3, (4, 2))], {"dim": 0, "descending": True}),
    Sample([rng.standard_normal((2, 3))], {"stable": True}, name="float", kink=True)])
def argsort(x, dim=-1, descending=False, *, stable=False):
    """The indices of sort(x, dim, descending) (int64, no gradient)."""
    return sort(x, dim, descending, stable=stable).indices


@composite("msort", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3, 2))]), Sample([rng.standard_normal((4,))])])
def msort(x):
    """sort(x, dim=0).values."""
    return sort(x, 0).values


# -- topk / kthvalue / median ---------------------------------------------------------------
def _topk_samples(rng):
    return [Sample([rng.standard_normal((2, 5)), 2]),
            Sample([rng.standard_normal((4, 3)), 3], {"dim": 0, "largest": False}),
            Sample([rng.standard_normal((5,)), 0]),
            Sample([rng.standard_normal(()), 1])]


@composite("topk", method=True, samples=_topk_samples)
def topk(x, k, dim=-1, largest=True, sorted=True):
    """(values, indices) of the k largest (``largest=False``: smallest) entries along
    ``dim``, in sorted order (also with sorted=False, where PyTorch's order is unspecified)."""
    d = _dim(x, dim, "topk")
    x1, back = _scalar_as_1d(x)
    k = int(k)
    if not 0 <= k <= x1.shape[d]:
        raise RuntimeError("selected index k out of range")
    idx = ArgSort.apply(x1, dim=d, descending=bool(largest))
    idx = idx[(slice(None),) * d + (slice(0, k),)]
    return TopkResult(back(gather(x1, d, idx)), back(idx))


def _check_dim_nonempty(x, d, op):
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


def _select(x, d, keepdim, mode, k, result):
    x1, back = _scalar_as_1d(x)
    idx = SelectIndex.apply(x1, dim=d, mode=mode, k=k)
    val = gather(x1, d, idx)
    if x.ndim == 0:
        return result(back(val), back(idx))
    if not keepdim:
        val, idx = val.squeeze(d), idx.squeeze(d)
    return result(val, idx)


@composite("kthvalue", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 5)), 2]),
    Sample([rng.standard_normal((4, 3)), 4], {"dim": 0, "keepdim": True}),
    Sample([rng.standard_normal(()), 1])])
def kthvalue(x, k, dim=-1, keepdim=False):
    """(values, indices) of the k-th smallest entry (k from 1) along ``dim``; the gradient
    goes to the returned index."""
    d = _dim(x, dim, "kthvalue")
    _check_dim_nonempty(x, d, "kthvalue")
    n = x.shape[d] if x.ndim else 1
    k = int(k)
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    return _select(x, d, keepdim, "kth", k - 1, KthvalueResult)


@primitive("median_all", public=False)
class MedianAll(Function):
    """y = the lower median of all of x (NaN if x holds one; ``ignore_nan``: of the non-NaN
    entries); dy/dx = 1/k at each of the k entries equal to y (NaNs when y is NaN), PyTorch's
    evenly_distribute_backward. A primitive for that split rule."""

    @staticmethod
    def forward(ctx, x, ignore_nan):
        xp = ctx.xp
        flat = x.reshape(-1)
        if flat.size == 0:
            return xp.asarray(_NAN, dtype=x.dtype)
        i = SelectIndex.forward(ctx, flat, dim=0, mode="nanmedian" if ignore_nan else
                                "median")
        out = flat[i[0]]
        if ctx.recording:
            mask = xp.isnan(x) if out != out else x == out
            ctx.weights = (mask / mask.sum()).astype(x.dtype)
        return xp.asarray(out)

    @staticmethod
    def vjp(ctx, g):
        return g * _make(ctx.weights)

    @staticmethod
    def jvp(ctx, t):
        return _sum(t * _make(ctx.weights))



def _median(x, dim, keepdim, ignore_nan, op, result):
    if dim is None:
        return MedianAll.apply(x, ignore_nan=ignore_nan)
    d = _dim(x, dim, op)
    _check_dim_nonempty(x, d, op)
    return _select(x, d, keepdim, "nanmedian" if ignore_nan else "median", 0, result)


def _median_samples(rng):
    return [Sample([rng.standard_normal((2, 5))]),
            Sample([rng.standard_normal((2, 4))], {"dim": 1}),
            Sample([rng.standard_normal((3, 2))], {"dim": 0, "keepdim": True}),
            Sample([rng.standard_normal(())]),
            Sample([backend.asarray([1.0, 2.0, 2.0, 3.0])], name="ties", kink=True)]


@composite("median", method=True, samples=_median_samples)
def median(x, dim=None, keepdim=False):
    """``median(x)``: the lower of the two middle values of all of x (NaN if any), the
    gradient split evenly among entries equal to it (as PyTorch); ``median(x, dim)``:
    (values, indices) along ``dim``, the gradient to the returned index."""
    return _median(x, dim, keepdim, False, "median", MedianResult)


@composite("nanmedian", method=True, samples=lambda rng: _median_samples(rng) + [
    Sample([backend.asarray([[1.5, _NAN, -0.5], [_NAN, _NAN, 0.7]])], {"dim": 1}, name="nan")])
def nanmedian(x, dim=None, keepdim=False):
    """median ignoring NaNs (NaN only where a slice is all NaN)."""
    return _median(x, dim, keepdim, True, "nanmedian", NanmedianResult)


# -- quantile -------------------------------------------------------------------------------
_MODES = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(x, q, dim, keepdim, interpolation, ignore_nan, op):
    """PyTorch's quantile_compute: sort, rank = q (n - 1) (quantile: n - 1 where the slice
    holds a NaN; nanquantile: n counts the non-NaN values), gather the values below and
    above the rank and lerp between them. q's gradient is (above - below)(n - 1)."""
    if not backend.is_floating(x.dtype):
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype")
    if x.numel() == 0:
        raise RuntimeError(f"{op}() input tensor must be non-empty")
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise ShapeError(f"{op}() q must be a scalar or 1D tensor")
        if q.dtype != x.dtype:
            raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor")
        if not in_range_closed(q._data, 0, 1):
            raise RuntimeError(f"{op}() q values must be in the range [0, 1]")
        guard(q._data, in_range_closed, 0, 1, what=f"{op}'s q values were in [0, 1]")
        scalar = q.ndim == 0
    else:
        q = float(q)
        if not 0 <= q <= 1:
            raise RuntimeError(f"{op}() q must be in the range [0, 1] but got {q}")
        q, scalar = const_like(q, x, x.dtype), True
    if interpolation not in _MODES:
        raise RuntimeError(f"{op}() interpolation must be one of linear, lower, higher, "
                           f"midpoint or nearest, but got {interpolation}")
    if dim is None:
        s = reshape(x, (-1,))
    else:
        d = _dim(x, dim, op)
        s = movedim(reshape(x, (1,)) if x.ndim == 0 else x, d, -1)
    s = sort(s, -1).values
    n = s.shape[-1]
    qv = reshape(q, (-1,))
    isnan = IsNan.apply(s)
    if ignore_nan:
        count = (n - _sum(isnan, -1, keepdim=True)).to(x.dtype)
        ranks = qv * (count - 1)
        ranks = where(ranks < 0, 0.0, ranks)
    else:
        ranks = where(isnan.any(-1, keepdim=True), float(n - 1), qv * (n - 1))
    ranks = ranks.broadcast_to(s.shape[:-1] + qv.shape)
    if interpolation in ("lower", "higher", "nearest"):
        ranks = {"lower": Floor, "higher": Ceil, "nearest": Round}[interpolation].apply(ranks)
    below = ranks.to(backend.int64)
    out = gather(s, -1, below)
    if interpolation in ("linear", "midpoint"):
        w = 0.5 if interpolation == "midpoint" else ranks - below.to(x.dtype)
        out = lerp(out, gather(s, -1, Ceil.apply(ranks).to(backend.int64)), w)
    out = movedim(out, -1, 0)    # (len(q), kept dims...)
    if keepdim:
        if dim is None:
            out = reshape(out, out.shape[:1] + (1,) * x.ndim)
        elif x.ndim:
            out = out.unsqueeze(d + 1)
    return reshape(out, out.shape[1:]) if scalar else out


def _quantile_samples(rng):
    x = rng.standard_normal((3, 4))
    return [Sample([x, 0.3]),
            Sample([x, rng.uniform(0.05, 0.95, (3,))], {"dim": 1}, name="tensor q"),
            Sample([x, 0.6], {"dim": 0, "keepdim": True}),
            Sample([x, 0.4], {"dim": 1, "interpolation": "midpoint"}),
            Sample([x, 0.35], {"dim": 0, "interpolation": "lower"}),
            Sample([rng.standard_normal(()), 0.5])]


@composite("quantile", method=True, samples=_quantile_samples)
def quantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-th quantiles of x along ``dim`` (all of x when None); q a number or a 1-d tensor
    (then its dim comes first). NaN where a slice holds one."""
    return _quantile(x, q, dim, keepdim, interpolation, False, "quantile")


@composite("nanquantile", method=True, samples=lambda rng: _quantile_samples(rng) + [
    Sample([backend.asarray([[1.5, _NAN, -0.5, 0.2], [0.9, _NAN, _NAN, 0.7]]), 0.3],
           {"dim": 1}, name="nan")])
def nanquantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    """quantile ignoring NaNs (NaN only where a slice is all NaN)."""
    return _quantile(x, q, dim, keepdim, interpolation, True, "nanquantile")


# -- cummax / cummin ------------------------------------------------------------------------
@primitive("cum_extreme_index", public=False)
class CumExtremeIndex(Function):
    """Index of the running max (``largest``) or min along ``dim``: the last place where x
    reached it (ties move the index, as PyTorch's >=), and once a NaN is met the latest
    NaN. No gradient."""

    differentiable = False

    @staticmethod
    def forward(ctx, x, dim, largest):
        xp = ctx.xp
        m = _accumulate(xp, "maximum" if largest else "minimum", x, dim)
        hit = x == m
        if x.dtype.kind in "fc":
            hit |= xp.isnan(x)
        shape = [1] * x.ndim
        shape[dim] = x.shape[dim]
        pos = xp.where(hit, xp.arange(x.shape[dim]).reshape(shape), 0)
        return _accumulate(xp, "maximum", pos, dim).astype(backend.int64)


def _cum_extreme(x, dim, largest, op, result):
    d = _dim(x, dim, op)
    x1, back = _scalar_as_1d(x)
    idx = CumExtremeIndex.apply(x1, dim=d, largest=largest)
    return result(back(gather(x1, d, idx)), back(idx))


def _cum_samples(rng):
    return [Sample([rng.standard_normal((2, 5)), 1]),
            Sample([rng.standard_normal((4, 3)), 0]),
            Sample([rng.standard_normal(()), 0]),
            Sample([rng.standard_normal((0, 3)), 0])]


@composite("cummax", method=True, samples=_cum_samples)
def cummax(x, dim):
    """(values, indices): the running maximum along ``dim`` and where it was taken (the
    latest place among ties); the gradient scatter-adds back to those places."""
    return _cum_extreme(x, dim, True, "cummax", CummaxResult)


@composite("cummin", method=True, samples=_cum_samples)
def cummin(x, dim):
    """(values, indices): the running minimum along ``dim`` (see cummax)."""
    return _cum_extreme(x, dim, False, "cummin", CumminResult)


# -- logcumsumexp ---------------------------------------------------------------------------
def _scan_exp(v, pre, post, dim, reverse):
    """sum over the scan of v_i exp(pre_i), times exp(post_k), without overflow: the
    positive and negative parts of v go through logcumsumexp in log space (TensorFlow's and
    PyTorch's logcumsumexp_backward); log|v| is taken only where v != 0 (double where)."""
    low = float(xp_of(v).finfo(v.dtype).min)
    out = 0.0
    for sign in (1.0, -1.0):
        part = v * sign
        pos = part > 0
        logv = where(pos, where(pos, part, 1.0).log(), low)
        out = out + sign * (LogCumSumExp.apply(logv + pre, dim=dim, reverse=reverse)
                            + post).exp()
    return out


@primitive("logcumsumexp", public=False)
class LogCumSumExp(Function):
    """y_k = log(sum_{i<=k} exp(x_i)) along dim (``reverse``: i >= k); dy_k/dx_i =
    exp(x_i - y_k). Primitive for stability: a pairwise logaddexp scan, so entries far below
    the maximum neither underflow to -inf nor overflow; the rules scan in log space too."""

    save_inputs = True
    save_output = True

    @staticmethod
    def forward(ctx, x, dim, reverse):
        xp = ctx.xp
        if not reverse:
            return _accumulate(xp, "logaddexp", x, dim)
        return xp.flip(_accumulate(xp, "logaddexp", xp.flip(x, dim), dim), dim)

    @staticmethod
    def vjp(ctx, g):   # dx_i = sum_{k>=i} g_k exp(x_i - y_k)
        p = ctx.params
        return _scan_exp(g, -ctx.output, ctx.inputs[0], p["dim"], not p["reverse"])

    @staticmethod
    def jvp(ctx, t):   # dy_k = sum_{i<=k} t_i exp(x_i - y_k)
        p = ctx.params
        return _scan_exp(t, ctx.inputs[0], -ctx.output, p["dim"], p["reverse"])


@composite("logcumsumexp", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 4)), 1]),
    Sample([rng.standard_normal((3, 2)), 0]),
    Sample([rng.standard_normal(()), 0]),
    Sample([backend.asarray([-800.0, 1.0, -3.0, 700.0]), 0], name="wide range")])
def logcumsumexp(x, dim):
    """log(cumsum(exp(x))) along ``dim``, computed stably (see LogCumSumExp)."""
    if not backend.is_floating(x.dtype):
        raise NotImplementedError(f"logcumsumexp(): not implemented for {x.dtype}; use a "
                                  f"floating point tensor")
    d = _dim(x, dim, "logcumsumexp")
    x1, back = _scalar_as_1d(x)
    return back(LogCumSumExp.apply(x1, dim=d, reverse=False))


# -- searchsorted / bucketize ---------------------------------------------------------------
@primitive("searchsorted", public=False)
class SearchSorted(Function):
    """Insertion points of v in the sorted last dim of seq (row by row when seq has more
    dims); int64 (int32 with ``out_int32``), no gradient."""

    differentiable = False

    @staticmethod
    def forward(ctx, seq, v, side, out_int32):
        xp = ctx.xp
        dt = backend.int32 if out_int32 else backend.int64
        if seq.ndim == 1:
            return xp.searchsorted(seq, v, side=side).astype(dt)
        out = xp.empty(v.shape, dtype=dt)
        for row in itertools.product(*map(range, seq.shape[:-1])):
            out[row] = xp.searchsorted(seq[row], v[row], side=side)
        return out


def _as_tensor(v, like):
    """``v`` as a tensor; data goes to the device of tensor ``like``."""
    if isinstance(v, Tensor):
        return v
    arr = v if backend.is_array(v) else backend.asarray(v)
    return _make(backend.to_device(arr, like.device))


def _sorted(a):
    a.sort(axis=-1)
    return a


def _search_samples(rng):
    seq = _sorted(rng.integers(0, 10, (6,)))
    return [Sample([seq, rng.integers(-1, 11, (2, 3))]),
            Sample([seq, rng.integers(-1, 11, (4,))], {"right": True}),
            Sample([_sorted(rng.integers(0, 10, (2, 5))), rng.integers(-1, 11, (2, 3))],
                   {"side": "right"}),
            Sample([_sorted(rng.standard_normal(5)), rng.standard_normal(3)], name="float",
                   kink=True)]


@composite("searchsorted", samples=_search_samples)
def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """Indices i with seq[i-1] < v <= seq[i] (``right`` / side='right': seq[i-1] <= v <
    seq[i]), along seq's last dim; seq is 1-d or matches v in all but the last dim.
    ``sorter``: indices that sort seq's last dim."""
    seq = sorted_sequence
    check_numbers("searchsorted", sorted_sequence=seq, input=input)
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but "
                               f"got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to "
                               "opposites, got side of left while right was True")
        right = side == "right"
    v = _as_tensor(input, seq)
    if seq.ndim != 1 and (v.ndim != seq.ndim or v.shape[:-1] != seq.shape[:-1]):
        raise ShapeError(f"torch.searchsorted(): boundaries tensor should be 1 dimension or "
                         f"the first N-1 dimensions of boundaries tensor and input value "
                         f"tensor must match, but we got boundaries tensor "
                         f"{list(seq.shape)} and input value tensor {list(v.shape)}")
    if sorter is not None:
        seq = gather(seq, -1, sorter)
    return SearchSorted.apply(seq, v, side="right" if right else "left",
                              out_int32=bool(out_int32))


@composite("bucketize", samples=lambda rng: [
    Sample([rng.integers(-1, 11, (2, 3)), backend.asarray([1, 3, 5, 7])]),
    Sample([rng.integers(-1, 11, (4,)), backend.asarray([1, 3, 5, 7])], {"right": True})])
def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each entry: i with boundaries[i-1] < v <= boundaries[i] (``right``:
    boundaries[i-1] <= v < boundaries[i]); boundaries is 1-d and sorted."""
    check_numbers("bucketize", input=input, boundaries=boundaries)
    if boundaries.ndim != 1:
        raise ShapeError(f"boundaries tensor must be 1 dimension, but got dim"
                         f"({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)
