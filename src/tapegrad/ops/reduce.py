"""Reductions. ``sum`` and ``amax``/``amin`` are primitives; mean, max/min with dim and the
rest are composites over them."""
import collections

from .. import backend
from ..core.function import Function
from ..core.registry import primitive, composite, linear_jvp
from ..core.tensor import Tensor, _make
from ._util import Sample, normalize_dims, pick_dim, pick_keepdim, broadcast_to
from .shape import reshape


def _kept_shape(shape, dims):
    """``shape`` with the reduced dims kept as size 1."""
    if dims is None:
        return (1,) * len(shape)
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _reduce_samples(rng):
    return [Sample([rng.standard_normal((2, 3))]),
            Sample([rng.standard_normal((2, 3))], {"dim": 1}),
            Sample([rng.standard_normal((2, 3, 4))], {"dim": (0, 2), "keepdim": True}),
            Sample([rng.standard_normal(())]),
            Sample([rng.standard_normal((0, 3))], {"dim": 1})]


#: dtypes summed in another: bools count in int64; 16-bit floats sum in float32, as in
#: PyTorch (NumPy would sum them in their own precision)
_ACCUMULATOR = {backend.bool_: backend.int64, backend.float16: backend.float32,
                backend.bfloat16: backend.float32}


@primitive("sum", public=False)
class Sum(Function):
    """y = sum of x over dims;  dy/dx = 1, so g is broadcast back to x's shape."""

    array_vjp = True

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.in_shape = x.shape
        if x.dtype in _ACCUMULATOR:
            out = x.sum(axis=dims, keepdims=keepdim, dtype=_ACCUMULATOR[x.dtype])
            return out if x.dtype == backend.bool_ else out.astype(x.dtype)
        return x.sum(axis=dims, keepdims=keepdim)

    @staticmethod
    def vjp(ctx, g):
        p = ctx.params
        if not p["keepdim"]:
            g = reshape(g, _kept_shape(ctx.in_shape, p["dims"]))
        return broadcast_to(g, ctx.in_shape)

    jvp = linear_jvp


@composite("sum", method=True, samples=_reduce_samples)
def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
    """Sum over ``dim`` (int, tuple or None for all); ``axis``/``keepdims`` are aliases."""
    dims = _dims(x, pick_dim(dim, axis), "sum")
    if dtype is not None:
        x = x.to(dtype)
    return Sum.apply(x, dims=dims, keepdim=pick_keepdim(keepdim, keepdims))


@composite("mean", method=True, samples=_reduce_samples)
def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
    """Mean over ``dim``: sum / count."""
    if dtype is not None:
        x = x.to(dtype)
    if not backend.is_floating(x.dtype):
        raise TypeError(f"mean(): could not infer output dtype. Input dtype must be floating "
                        f"point, got {x.dtype}; use x.float().mean()")
    dims = _dims(x, pick_dim(dim, axis), "mean")
    n = _count(x, dims)
    s = Sum.apply(x, dims=dims, keepdim=pick_keepdim(keepdim, keepdims))
    return s / n if n else s * float("nan")


class _Extreme(Function):
    """Shared rule of amax/amin: the gradient is split evenly among tied extremes."""

    @classmethod
    def forward(cls, ctx, x, dims, keepdim):
        out = cls.reduce(ctx.xp, x, dims)
        if ctx.recording:
            hit = (x == out)
            ctx.weights = hit / hit.sum(axis=dims, keepdims=True)
        return out if keepdim else out.reshape(_squeezed(out.shape, dims))

    @staticmethod
    def vjp(ctx, g):
        p = ctx.params
        if not p["keepdim"]:
            g = reshape(g, _kept_shape(ctx.weights.shape, p["dims"]))
        return g * _make(ctx.weights.astype(g.dtype, copy=False))

    @staticmethod
    def jvp(ctx, t):
        p = ctx.params
        return sum(t * _make(ctx.weights.astype(t.dtype, copy=False)), dim=p["dims"],
                   keepdim=p["keepdim"])


def _dims(x, dim, op):
    """Normalized reduction dims; a 0-d tensor accepts dim 0/-1 and reduces nothing."""
    dims = normalize_dims(dim, x.ndim, op)
    return None if x.ndim == 0 else dims


def _check_nonempty(x, dims, op, err=RuntimeError):
    """max/min-like reductions have no identity: PyTorch refuses empty slices."""
    if x.numel():
        return
    if dims is None:
        raise err(f"{op}(): Expected reduction dim to be specified for input.numel() == 0 "
                  f"(input shape {list(x.shape)}). Specify the reduction dim with 'dim'.")
    for d in dims:
        if x.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size "
                             f"(input shape {list(x.shape)}).")


def _squeezed(shape, dims):
    if dims is None:
        return ()
    return tuple(s for i, s in enumerate(shape) if i not in dims)


@primitive("amax", public=False)
class Amax(_Extreme):
    """y = max of x over dims;  dy/dx = 1/k at each of the k places holding the max."""
    reduce = staticmethod(lambda xp, x, dims: xp.max(x, axis=dims, keepdims=True))


@primitive("amin", public=False)
class Amin(_Extreme):
    """y = min of x over dims;  dy/dx = 1/k at each of the k places holding the min."""
    reduce = staticmethod(lambda xp, x, dims: xp.min(x, axis=dims, keepdims=True))


def _extreme_samples(rng):
    ones = backend.asarray([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    return _reduce_samples(rng)[:4] + [Sample([ones], {"dim": 1}, name="ties", kink=True)]


@composite("amax", method=True, samples=_extreme_samples)
def amax(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Maximum over ``dim``; ties share the gradient equally."""
    dims = _dims(x, pick_dim(dim, axis), "amax")
    _check_nonempty(x, dims, "amax")
    return Amax.apply(x, dims=dims, keepdim=pick_keepdim(keepdim, keepdims))


@composite("amin", method=True, samples=_extreme_samples)
def amin(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Minimum over ``dim``; ties share the gradient equally."""
    dims = _dims(x, pick_dim(dim, axis), "amin")
    _check_nonempty(x, dims, "amin")
    return Amin.apply(x, dims=dims, keepdim=pick_keepdim(keepdim, keepdims))


MaxMin = collections.namedtuple("MaxMin", ["values", "indices"])


def _arg_extreme(name, find):
    @primitive(name, public=False)
    class ArgExtreme(Function):
        differentiable = False

        @staticmethod
        def forward(ctx, x, dim, keepdim):
            if dim is None:
                out = find(ctx.xp, x)
                return out.reshape((1,) * x.ndim) if keepdim else out
            return find(ctx.xp, x, axis=dim, keepdims=keepdim)

    def public(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dim = pick_dim(dim, axis)
        if dim is not None:
            dim = normalize_dims(dim, x.ndim, name)[0]
            if x.ndim == 0:
                dim = None
        _check_nonempty(x, None if dim is None else (dim,), name, IndexError)
        return ArgExtreme.apply(x, dim=dim, keepdim=pick_keepdim(keepdim, keepdims))
    public.__doc__ = f"Index of the {name[3:]}imum over ``dim`` (flat index when dim is None)."
    return composite(name, method=True)(public)


argmax = _arg_extreme("argmax", lambda xp, x, **kw: xp.argmax(x, **kw))
argmin = _arg_extreme("argmin", lambda xp, x, **kw: xp.argmin(x, **kw))


def _max_min(name, extreme, arg, binary):
    def public(x, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None):
        if isinstance(dim, Tensor):
            return binary(x, dim)
        dim = pick_dim(dim, axis)
        if dim is None:
            _check_nonempty(x, None, name)
            return extreme(x)
        kd = pick_keepdim(keepdim, keepdims)
        return MaxMin(extreme(x, dim, kd), arg(x, dim, kd))
    public.__doc__ = (f"``{name}(x)``: the {name}imum value; ``{name}(x, dim)``: (values, indices)"
                      f" with ties sharing the gradient 1/k each (PyTorch's {name}(dim) gives "
                      f"it all to the returned index; amax/amin split it in both); "
                      f"``{name}(x, other)``: elementwise.")
    return composite(name, method=True, samples=_extreme_samples)(public)


def _maximum(a, b):
    from .elementwise import Maximum
    return Maximum.apply(a, b)


def _minimum(a, b):
    from .elementwise import Minimum
    return Minimum.apply(a, b)


max = _max_min("max", amax, argmax, _maximum)
min = _max_min("min", amin, argmin, _minimum)


# -- statistics -----------------------------------------------------------------------------
def _count(x, dims):
    if dims is None:
        return x.numel()
    n = 1
    for d in dims:
        n *= x.shape[d]
    return n


def _var(x, dim, unbiased, keepdim, correction, axis, keepdims, op):
    if isinstance(dim, bool):  # var(x, False): the old positional ``unbiased``
        dim, unbiased = None, dim
    if not backend.is_floating(x.dtype):
        raise RuntimeError(f"{op}(): std and var only support floating point dtypes, got "
                           f"{x.dtype}")
    if correction is not None and unbiased is not None:
        raise TypeError(f"{op}(): pass either unbiased= or correction=, not both")
    c = correction if correction is not None else (0 if unbiased is False else 1)
    dims = _dims(x, pick_dim(dim, axis), op)
    kd = pick_keepdim(keepdim, keepdims)
    d = x - mean(x, dims, keepdim=True)
    s = Sum.apply(d * d, dims=dims, keepdim=kd)
    dof = _count(x, dims) - c
    # PyTorch divides by max(dof, 0): 0/0 = nan, s/0 = inf
    return s / dof if dof > 0 else s * float("inf")


def _stat_samples(rng):
    return [Sample([rng.standard_normal((2, 3))]),
            Sample([rng.standard_normal((2, 3))], {"dim": 1}),
            Sample([rng.standard_normal((2, 3, 2))], {"dim": (0, 2), "keepdim": True}),
            Sample([rng.standard_normal((3, 2))], {"dim": 0, "unbiased": False}),
            Sample([rng.standard_normal((4,))], {"correction": 2}),
            Sample([rng.standard_normal((2, 3))], {"axis": 1, "correction": 0})]


@composite("var", method=True, samples=_stat_samples)
def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
        keepdims=None):
    """sum((x - mean)^2) / (N - correction) over ``dim``; correction defaults to 1
    (``unbiased=False`` means 0). N <= correction gives inf (nan for 0/0), as PyTorch."""
    return _var(x, dim, unbiased, keepdim, correction, axis, keepdims, "var")


@composite("std", method=True, samples=_stat_samples)
def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
        keepdims=None):
    """sqrt(var(x)); d std / dx = d var / dx / (2 std) (inf/nan at zero spread, as PyTorch)."""
    from .elementwise import Sqrt
    return Sqrt.apply(_var(x, dim, unbiased, keepdim, correction, axis, keepdims, "std"))


@composite("var_mean")
def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var(x), mean(x)) over ``dim``."""
    return (var(x, dim, unbiased, keepdim, correction=correction),
            mean(x, None if isinstance(dim, bool) else dim, keepdim))


@composite("std_mean")
def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std(x), mean(x)) over ``dim``."""
    return (std(x, dim, unbiased, keepdim, correction=correction),
            mean(x, None if isinstance(dim, bool) else dim, keepdim))


def _lse_samples(rng):
    return [Sample([rng.standard_normal((2, 3))], {"dim": 1}),
            Sample([rng.standard_normal((2, 3))], {"dim": 0, "keepdim": True}),
            Sample([rng.standard_normal((2, 3, 2))], {"dim": (0, 2)}),
            Sample([rng.standard_normal(())], {"dim": 0}),
            Sample([rng.standard_normal((3,)) * 300], {"dim": 0}, name="large")]


@primitive("max_shift", public=False)
class MaxShift(Function):
    """The shift a stable softmax or logsumexp subtracts: max(x) over ``dims`` (kept), 0 where
    that max is not finite (empty or all -inf slices). A constant (it cancels in every
    gradient); an op rather than arithmetic on x's array so that a trace (tg.compile) records
    it instead of baking in the first call's value."""

    differentiable = False

    @staticmethod
    def forward(ctx, x, dims):
        xp = ctx.xp
        if x.size == 0:   # empty slices shift by 0 (CuPy's max takes no ``initial``)
            return xp.zeros(_kept_shape(x.shape, dims), x.dtype)
        m = xp.max(x, axis=dims, keepdims=True)
        return xp.where(xp.isfinite(m), m, 0).astype(x.dtype)


@composite("logsumexp", method=True, samples=_lse_samples)
def logsumexp(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """log(sum(exp(x))) over ``dim``, shifted by the (detached) max m so exp never
    overflows: m + log(sum(exp(x - m))). The shift cancels in the gradient (softmax).
    Slices that are all -inf give -inf; empty slices give -inf."""
    from .elementwise import Exp, Log
    if not backend.is_floating(x.dtype):
        x = x.to(backend.DEFAULT_FLOAT)
    dims = _dims(x, pick_dim(dim, axis), "logsumexp")
    kd = pick_keepdim(keepdim, keepdims)
    m = MaxShift.apply(x, dims=dims)
    out = Log.apply(Sum.apply(Exp.apply(x - m), dims=dims, keepdim=True)) + m
    return out if kd else reshape(out, _squeezed(out.shape, dims))


# -- logical reductions (no gradient) -------------------------------------------------------
def _logical(name, test):
    @primitive(name, public=False)
    class Logical(Function):
        differentiable = False

        @staticmethod
        def forward(ctx, x, dims, keepdim):
            return test(ctx.xp, x, axis=dims, keepdims=keepdim)

    def public(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dims = _dims(x, pick_dim(dim, axis), name)
        return Logical.apply(x, dims=dims, keepdim=pick_keepdim(keepdim, keepdims))
    public.__doc__ = (f"Whether {name} elements are nonzero over ``dim`` (bool result, "
                      f"no gradient).")
    return composite(name, method=True)(public)


all = _logical("all", lambda xp, x, **kw: xp.all(x, **kw))
any = _logical("any", lambda xp, x, **kw: xp.any(x, **kw))


@primitive("count_nonzero", public=False)
class CountNonzero(Function):
    differentiable = False

    @staticmethod
    def forward(ctx, x, dims):
        return ctx.xp.count_nonzero(x, axis=dims).astype(backend.int64)


@composite("count_nonzero", method=True)
def count_nonzero(x, dim=None, *, axis=None):
    """Number of nonzero elements over ``dim`` (int64, no gradient)."""
    return CountNonzero.apply(x, dims=_dims(x, pick_dim(dim, axis), "count_nonzero"))
