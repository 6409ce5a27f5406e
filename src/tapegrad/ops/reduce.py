"""Reductions. ``sum`` and ``amax``/``amin`` are primitives; mean, max/min with dim and the
rest are composites over them."""
import collections

from .. import backend
from ..core.function import Function, primitive, composite, linear_jvp
from ..core.tensor import Tensor, _make
from ._util import Sample, normalize_dims, pick_dim, pick_keepdim, broadcast_to
from .shape import reshape

xp = backend.xp


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


@primitive("sum", public=False)
class Sum(Function):
    """y = sum of x over dims;  dy/dx = 1, so g is broadcast back to x's shape."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.in_shape = x.shape
        if x.dtype == backend.bool_:
            x = x.astype(backend.int64)
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
    dims = normalize_dims(pick_dim(dim, axis), x.ndim, "sum")
    if dtype is not None:
        x = x.to(dtype)
    return Sum.apply(x, dims=dims, keepdim=pick_keepdim(keepdim, keepdims))


@composite("mean", method=True, samples=_reduce_samples)
def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
    """Mean over ``dim``: sum / count."""
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"mean(): could not infer output dtype. Input dtype must be floating "
                        f"point, got {x.dtype}; use x.float().mean()")
    dims = normalize_dims(pick_dim(dim, axis), x.ndim, "mean")
    n = x.numel() if dims is None else int(xp.prod([x.shape[d] for d in dims]))
    s = Sum.apply(x, dims=dims, keepdim=pick_keepdim(keepdim, keepdims))
    return s / n if n else s * float("nan")


class _Extreme(Function):
    """Shared rule of amax/amin: the gradient is split evenly among tied extremes."""

    @classmethod
    def forward(cls, ctx, x, dims, keepdim):
        out = cls.reduce(x, axis=dims, keepdims=True)
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


def _squeezed(shape, dims):
    if dims is None:
        return ()
    return tuple(s for i, s in enumerate(shape) if i not in dims)


@primitive("amax", public=False)
class Amax(_Extreme):
    """y = max of x over dims;  dy/dx = 1/k at each of the k places holding the max."""
    reduce = staticmethod(xp.max)


@primitive("amin", public=False)
class Amin(_Extreme):
    """y = min of x over dims;  dy/dx = 1/k at each of the k places holding the min."""
    reduce = staticmethod(xp.min)


def _extreme_samples(rng):
    return _reduce_samples(rng)[:4] + [Sample([xp.ones((2, 3))], {"dim": 1}, name="ties", kink=True)]


@composite("amax", method=True, samples=_extreme_samples)
def amax(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Maximum over ``dim``; ties share the gradient equally."""
    dims = normalize_dims(pick_dim(dim, axis), x.ndim, "amax")
    return Amax.apply(x, dims=dims, keepdim=pick_keepdim(keepdim, keepdims))


@composite("amin", method=True, samples=_extreme_samples)
def amin(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Minimum over ``dim``; ties share the gradient equally."""
    dims = normalize_dims(pick_dim(dim, axis), x.ndim, "amin")
    return Amin.apply(x, dims=dims, keepdim=pick_keepdim(keepdim, keepdims))


MaxMin = collections.namedtuple("MaxMin", ["values", "indices"])


def _arg_extreme(name, npfn):
    @primitive(name, public=False)
    class ArgExtreme(Function):
        differentiable = False

        @staticmethod
        def forward(ctx, x, dim, keepdim):
            if dim is None:
                out = npfn(x)
                return out.reshape((1,) * x.ndim) if keepdim else out
            return npfn(x, axis=dim, keepdims=keepdim)

    def public(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dim = pick_dim(dim, axis)
        if dim is not None:
            dim = normalize_dims(dim, x.ndim, name)[0]
        return ArgExtreme.apply(x, dim=dim, keepdim=pick_keepdim(keepdim, keepdims))
    public.__doc__ = f"Index of the {name[3:]}imum over ``dim`` (flat index when dim is None)."
    return composite(name, method=True)(public)


argmax = _arg_extreme("argmax", xp.argmax)
argmin = _arg_extreme("argmin", xp.argmin)


def _max_min(name, extreme, arg, binary):
    def public(x, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None):
        if isinstance(dim, Tensor):
            return binary(x, dim)
        dim = pick_dim(dim, axis)
        if dim is None:
            return extreme(x)
        kd = pick_keepdim(keepdim, keepdims)
        return MaxMin(extreme(x, dim, kd), arg(x, dim, kd))
    public.__doc__ = (f"``{name}(x)``: the {name}imum value; ``{name}(x, dim)``: (values, indices)"
                      f" with ties sharing the gradient; ``{name}(x, other)``: elementwise.")
    return composite(name, method=True, samples=_extreme_samples)(public)


def _maximum(a, b):
    from .elementwise import Maximum
    return Maximum.apply(a, b)


def _minimum(a, b):
    from .elementwise import Minimum
    return Minimum.apply(a, b)


max = _max_min("max", amax, argmax, _maximum)
min = _max_min("min", amin, argmin, _minimum)
