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
    dims = _dims(x, pick_dim(dim, axis), "sum")
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
    dims = _dims(x, pick_dim(dim, axis), "mean")
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
            if x.ndim == 0:
                dim = None
        _check_nonempty(x, None if dim is None else (dim,), name, IndexError)
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


# -- products and cumulative ops ------------------------------------------------------------
def _first_true(mask, dims):
    """Bool array marking the first True of each slice over ``dims`` (row-major order)."""
    nd = mask.ndim
    dims = tuple(range(nd)) if dims is None else tuple(dims)
    keep = [d for d in range(nd) if d not in dims]
    perm = keep + list(dims)
    m = mask.transpose(perm)
    flat = m.reshape(m.shape[:len(keep)] + (-1,))
    first = flat & (xp.cumsum(flat, axis=-1) == 1)
    return first.reshape(m.shape).transpose(xp.argsort(perm))


def _grad_mode():
    """Is anything differentiating the rule being run (a recorded graph or live tangents)?"""
    from ..core.modes import STATE
    return STATE.grad_enabled or bool(STATE.fw_levels)


# Zeros are taken out one level at a time (see _prod_others); after this many levels the
# rest is treated as constant, so derivatives are exact up to this order with any number
# of zeros, and a graph built with create_graph=True costs at most this many passes.
EXACT_ORDER = 4


def _prod_others(x, dims, depth=0):
    """p_i = product of the other elements of x's slice over ``dims`` (d prod / d x_i).

    Without zeros this is prod / x. With zeros it is built as an exact polynomial so that
    every order of derivative is right: take the first zero z out (x1 = x with x_z := 1):
    p_z = prod(x1) and p_i = x_z * p1_i for i != z, where p1 is this function at x1
    (one zero fewer). When no graph is being built, values suffice (no recursion)."""
    from .elementwise import where
    xd = x._data
    zero = xd == 0
    if not zero.any():
        return Prod.apply(x, dims=dims, keepdim=True) / x
    if not _grad_mode() or depth >= EXACT_ORDER:
        cnt = zero.sum(axis=dims, keepdims=True)
        others = xp.prod(xp.where(zero, 1, xd), axis=dims, keepdims=True)
        full = xp.divide(xp.prod(xd, axis=dims, keepdims=True), xd, where=~zero,
                         out=xp.zeros_like(xd))
        return _make(xp.where(cnt == 0, full, xp.where(zero & (cnt == 1), others, 0)))
    first = _first_true(zero, dims)
    has = first.any(axis=dims, keepdims=True)
    x1 = where(first, 1.0, x)
    xz = where(has, Sum.apply(where(first, x, 0.0), dims=dims, keepdim=True), 1.0)
    return where(first, Prod.apply(x1, dims=dims, keepdim=True),
                 xz * _prod_others(x1, dims, depth + 1))


@primitive("prod", public=False)
class Prod(Function):
    """y = product of x over dims;  dy/dx_i = product of the other elements of the slice.
    Primitive so the gradient is exact with zeros in the input (prod / x would be 0/0)."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        if x.dtype.kind in "bui":
            x = x.astype(backend.int64)
        return ctx.xp.prod(x, axis=dims, keepdims=keepdim)

    @staticmethod
    def vjp(ctx, g):
        x = ctx.inputs[0]
        p = ctx.params
        if not p["keepdim"]:
            g = reshape(g, _kept_shape(x.shape, p["dims"]))
        return g * _prod_others(x, p["dims"])

    @staticmethod
    def jvp(ctx, t):
        p = ctx.params
        return Sum.apply(t * _prod_others(ctx.inputs[0], p["dims"]), dims=p["dims"],
                         keepdim=p["keepdim"])


def _zeros_sample(rng, shape, nzero):
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    x.reshape(-1)[:nzero] = 0.0
    return x


def _prod_samples(rng):
    return _reduce_samples(rng)[:4] + [
        Sample([_zeros_sample(rng, (2, 3), 1)], {"dim": 1}, name="one zero"),
        Sample([_zeros_sample(rng, (4,), 2)], name="two zeros"),
        Sample([_zeros_sample(rng, (2, 3), 3)], name="three zeros"),
        Sample([xp.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])], {"dim": 0}, name="zeros per col"),
        Sample([rng.standard_normal((0, 3))], {"dim": 0})]


@composite("prod", method=True, samples=_prod_samples)
def prod(x, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
    """Product over ``dim`` (int, tuple or None); empty slices give 1. Gradients of every
    order are exact when x holds zeros (one or several)."""
    if dtype is not None:
        x = x.to(dtype)
    dims = _dims(x, pick_dim(dim, axis), "prod")
    return Prod.apply(x, dims=dims, keepdim=pick_keepdim(keepdim, keepdims))


@primitive("cumsum", public=False)
class Cumsum(Function):
    """y_k = sum_{i<=k} x_i along dim (``reverse``: sum_{i>=k});  linear, so the VJP is
    the cumulative sum in the other direction."""

    @staticmethod
    def forward(ctx, x, dim, reverse):
        if x.dtype.kind in "bui":
            x = x.astype(backend.int64)
        if not reverse:
            return ctx.xp.cumsum(x, axis=dim)
        return ctx.xp.flip(ctx.xp.cumsum(ctx.xp.flip(x, dim), axis=dim), dim)

    @staticmethod
    def vjp(ctx, g):
        p = ctx.params
        return Cumsum.apply(g, dim=p["dim"], reverse=not p["reverse"])

    jvp = linear_jvp


def _cum_dim(x, dim, axis, op):
    dim = pick_dim(dim, axis)
    if dim is None:
        raise TypeError(f"{op}() missing required argument 'dim'")
    d = normalize_dims(dim, x.ndim, op)
    if len(d) != 1:
        raise TypeError(f"{op}(): dim must be a single int, got {dim}")
    return d[0]


def _cum_samples(rng):
    return [Sample([rng.standard_normal((2, 3))], {"dim": 1}),
            Sample([rng.standard_normal((2, 3))], {"dim": 0}),
            Sample([rng.standard_normal((4,))], {"dim": -1}),
            Sample([rng.standard_normal(())], {"dim": 0}),
            Sample([rng.standard_normal((0, 3))], {"dim": 0})]


@composite("cumsum", method=True, samples=_cum_samples)
def cumsum(x, dim=None, *, axis=None, dtype=None):
    """Cumulative sum along ``dim`` (integers and bools accumulate in int64)."""
    if dtype is not None:
        x = x.to(dtype)
    d = _cum_dim(x, dim, axis, "cumsum")
    if x.ndim == 0:
        return Cumsum.apply(reshape(x, (1,)), dim=0, reverse=False).reshape(())
    return Cumsum.apply(x, dim=d, reverse=False)


def _rcumsum(x, dim):
    return Cumsum.apply(x, dim=dim, reverse=True)


def _before_first(zero, dim):
    """(positions strictly before the first zero, the first zero) along ``dim``."""
    c = xp.cumsum(zero, axis=dim)
    return c == 0, zero & (c == 1)


def _cumprod_vjp(g, x, dim, y=None, depth=0):
    """(J^T g)_i = sum_{k>=i} g_k prod_{j<=k, j!=i} x_j for y = cumprod(x).

    Before the first zero z of a slice this is rcumsum(g*y)_i / x_i (x_i != 0 there). With
    x1 = x where x_z := 1 and G1 this function at x1: G_z = G1_z and G_i = x_z G1_i for i > z,
    an exact polynomial form, so second-order gradients are right with zeros too."""
    from .elementwise import where
    zero = x._data == 0
    if y is None:
        y = Cumprod.apply(x, dim=dim)
    if not zero.any():
        return _rcumsum(g * y, dim) / x
    before, first = _before_first(zero, dim)
    head = _rcumsum(g * y, dim) / where(before, x, 1.0)
    x1 = where(first, 1.0, x)
    if not _grad_mode() or depth >= EXACT_ORDER:  # values: G_i = 0 after the first zero
        at_z = _rcumsum(g * Cumprod.apply(x1, dim=dim), dim)
        return where(before, head, where(first, at_z, 0.0))
    g1 = _cumprod_vjp(g, x1, dim, depth=depth + 1)
    has = first.any(axis=dim, keepdims=True)
    xz = where(has, Sum.apply(where(first, x, 0.0), dims=(dim,), keepdim=True), 1.0)
    return where(before, head, where(first, g1, xz * g1))


def _cumprod_jvp(t, x, dim, y):
    """(J t)_k = sum_{i<=k} t_i prod_{j<=k, j!=i} x_j: y * cumsum(t / x) before the first
    zero z; from z on, t_z * cumprod(x1)_k + x_z * (J1 t1)_k with x1 = x, t1 = t where x_z
    := 1, t_z := 0."""
    from .elementwise import where
    zero = x._data == 0
    if not zero.any():
        return y * Cumsum.apply(t / x, dim=dim, reverse=False)
    before, first = _before_first(zero, dim)
    head = y * Cumsum.apply(t / where(before, x, 1.0), dim=dim, reverse=False)
    x1 = where(first, 1.0, x)
    y1 = Cumprod.apply(x1, dim=dim)
    tz = Sum.apply(where(first, t, 0.0), dims=(dim,), keepdim=True)
    xz = Sum.apply(where(first, x, 0.0), dims=(dim,), keepdim=True)
    tail = tz * y1 + xz * _cumprod_jvp(where(first, 0.0, t), x1, dim, y1)
    return where(before, head, tail)


@primitive("cumprod", public=False)
class Cumprod(Function):
    """y_k = prod_{i<=k} x_i along dim;  dy_k/dx_i = prod_{j<=k, j!=i} x_j for i <= k.
    Primitive so the gradient is exact (and twice differentiable) with zeros in x."""

    save_inputs = True
    save_output = True

    @staticmethod
    def forward(ctx, x, dim):
        if x.dtype.kind in "bui":
            x = x.astype(backend.int64)
        return ctx.xp.cumprod(x, axis=dim)

    @staticmethod
    def vjp(ctx, g):
        return _cumprod_vjp(g, ctx.inputs[0], ctx.params["dim"], ctx.output)

    @staticmethod
    def jvp(ctx, t):
        return _cumprod_jvp(t, ctx.inputs[0], ctx.params["dim"], ctx.output)


def _cumprod_samples(rng):
    return _cum_samples(rng) + [
        Sample([_zeros_sample(rng, (2, 3), 1)], {"dim": 1}, name="one zero"),
        Sample([xp.array([1.5, 0.0, -0.7, 0.0, 1.2])], {"dim": 0}, name="two zeros"),
        Sample([xp.array([[0.0, 0.0, 1.3], [0.8, 0.0, 0.0]])], {"dim": 1}, name="zeros")]


@composite("cumprod", method=True, samples=_cumprod_samples)
def cumprod(x, dim=None, *, axis=None, dtype=None):
    """Cumulative product along ``dim``; gradients exact with zeros in x."""
    if dtype is not None:
        x = x.to(dtype)
    d = _cum_dim(x, dim, axis, "cumprod")
    if x.ndim == 0:
        return Cumprod.apply(reshape(x, (1,)), dim=0).reshape(())
    return Cumprod.apply(x, dim=d)


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
    if x.dtype.kind != "f":
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


@composite("logsumexp", method=True, samples=_lse_samples)
def logsumexp(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """log(sum(exp(x))) over ``dim``, shifted by the (detached) max m so exp never
    overflows: m + log(sum(exp(x - m))). The shift cancels in the gradient (softmax).
    Slices that are all -inf give -inf; empty slices give -inf."""
    from .elementwise import Exp, Log
    if x.dtype.kind != "f":
        x = x.to(backend.DEFAULT_FLOAT)
    dims = _dims(x, pick_dim(dim, axis), "logsumexp")
    kd = pick_keepdim(keepdim, keepdims)
    m = xp.max(x._data, axis=dims, keepdims=True, initial=-xp.inf)
    m = _make(xp.where(xp.isfinite(m), m, 0).astype(x.dtype))
    out = Log.apply(Sum.apply(Exp.apply(x - m), dims=dims, keepdim=True)) + m
    return out if kd else reshape(out, _squeezed(out.shape, dims))


# -- logical reductions (no gradient) -------------------------------------------------------
def _logical(name, npfn):
    @primitive(name, public=False)
    class Logical(Function):
        differentiable = False

        @staticmethod
        def forward(ctx, x, dims, keepdim):
            return npfn(x, axis=dims, keepdims=keepdim)

    def public(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dims = _dims(x, pick_dim(dim, axis), name)
        return Logical.apply(x, dims=dims, keepdim=pick_keepdim(keepdim, keepdims))
    public.__doc__ = (f"Whether {name} elements are nonzero over ``dim`` (bool result, "
                      f"no gradient).")
    return composite(name, method=True)(public)


all = _logical("all", xp.all)
any = _logical("any", xp.any)


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


# -- vector norms ---------------------------------------------------------------------------
def _norm_weights(x, n, p):
    """d||x||_p / dx as a tensor: x / n for p = 2, sign(x) |x|^(p-1) / n^(p-1) otherwise;
    exactly 0 where the norm is 0 (PyTorch's subgradient; no 0/0). Both divisions use
    "double where" safe operands, so second-order gradients stay finite there too."""
    from .elementwise import where, Abs, Sign
    nzero = n._data == 0
    n_safe = where(nzero, 1.0, n)
    if p == 2:
        r = x / n_safe
    else:
        xzero = x._data == 0
        ax = where(xzero, 1.0, Abs.apply(x))
        r = Sign.apply(x) * ax ** (p - 1) / n_safe ** (p - 1)
        r = where(xzero, 0.0, r)
    return where(nzero, 0.0, r) if nzero.any() else r


@primitive("vector_norm", public=False)
class VectorNorm(Function):
    """y = (sum |x|^p)^(1/p) over dims;  dy/dx = sign(x) |x|^(p-1) / y^(p-1) (x / y for p=2).
    Primitive because the composite sqrt(sum(x^2)) has gradient 0 * inf = NaN at x = 0;
    here the gradient is exactly 0 for an all-zero slice (PyTorch's convention)."""

    save_inputs = True
    save_output = True

    @staticmethod
    def forward(ctx, x, p, dims, keepdim):
        a = ctx.xp.abs(x)
        if p == 2:
            return ctx.xp.sqrt((a * a).sum(axis=dims, keepdims=keepdim))
        return ((a ** p).sum(axis=dims, keepdims=keepdim)) ** (1.0 / p)

    @staticmethod
    def _w(ctx):
        prm = ctx.params
        n = ctx.output
        if not prm["keepdim"]:
            n = reshape(n, _kept_shape(ctx.inputs[0].shape, prm["dims"]))
        return _norm_weights(ctx.inputs[0], n, prm["p"])

    @staticmethod
    def vjp(ctx, g):
        prm = ctx.params
        if not prm["keepdim"]:
            g = reshape(g, _kept_shape(ctx.inputs[0].shape, prm["dims"]))
        return g * VectorNorm._w(ctx)

    @staticmethod
    def jvp(ctx, t):
        prm = ctx.params
        return Sum.apply(t * VectorNorm._w(ctx), dims=prm["dims"], keepdim=prm["keepdim"])


def _vector_norm_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 3))]), Sample([r((2, 3))], {"dim": 1}),
            Sample([r((2, 3, 2))], {"dim": (0, 2), "keepdim": True}),
            Sample([r((4,))], {"ord": 1}), Sample([r((2, 3))], {"ord": float("inf"), "dim": 1}),
            Sample([r((2, 3))], {"ord": -float("inf")}), Sample([r((2, 3))], {"ord": 3}),
            Sample([rng.uniform(0.5, 2, (3,))], {"ord": 0.5}), Sample([r(())]),
            Sample([r((2, 3))], {"ord": -2, "dim": 0}),
            Sample([xp.array([[0.0, 0.0, 0.0], [0.3, -1.2, 0.5]])], {"dim": 1},
                   name="zero row", kink=True)]


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """||x||_ord over ``dim`` (all elements when None): ord = 2 (default), 1, inf, -inf, 0
    (count of nonzeros) or any real p. The gradient of an all-zero slice is 0, not NaN."""
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point tensor as input. "
                           f"Got {x.dtype}")
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number, got '{ord}'")
    dims = _dims(x, pick_dim(dim, axis), "linalg.vector_norm")
    kd = pick_keepdim(keepdim, keepdims)
    ord = float(ord)
    from .elementwise import Abs
    if ord == float("inf") or ord == -float("inf"):
        _check_nonempty(x, dims, "linalg.vector_norm")
        ext = Amax if ord > 0 else Amin
        return ext.apply(Abs.apply(x), dims=dims, keepdim=kd)
    if ord == 1:
        return Sum.apply(Abs.apply(x), dims=dims, keepdim=kd)
    if ord == 0:  # the count of nonzeros: piecewise constant, gradient 0 (still connected)
        from .elementwise import where
        count = Sum.apply(_make((x._data != 0).astype(x.dtype)), dims=dims, keepdim=kd)
        return where(xp.zeros(count.shape, bool), Sum.apply(x, dims=dims, keepdim=kd), count)
    return VectorNorm.apply(x, p=ord, dims=dims, keepdim=kd)


composite("linalg.vector_norm", samples=_vector_norm_samples)(vector_norm)


def _norm_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 3))]), Sample([r((2, 3))], {"p": "fro"}),
            Sample([r((2, 3))], {"p": 1, "dim": 1}),
            Sample([r((2, 3, 2))], {"p": "fro", "dim": (1, 2), "keepdim": True}),
            Sample([r((3, 2))], {"p": float("inf"), "dim": 0})]


@composite("norm", method=True, samples=_norm_samples)
def norm(x, p="fro", dim=None, keepdim=False, dtype=None, *, axis=None, keepdims=None):
    """torch.norm: ``p='fro'`` or a number is a vector norm over ``dim`` (all elements when
    None; 'fro' over a 2-tuple of dims is the Frobenius norm); 'nuc' is not supported."""
    if p is None or p == "fro":
        p = 2
    elif isinstance(p, str):
        raise NotImplementedError(f"norm: p='{p}' is not supported (only numbers and 'fro')")
    return vector_norm(x, p, pick_dim(dim, axis), pick_keepdim(keepdim, keepdims), dtype=dtype)
