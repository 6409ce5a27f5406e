"""Products and running reductions: prod, cumsum, cumprod (exact gradients with zeros)."""
from .. import backend
from ..core.function import Function
from ..core.registry import primitive, composite, linear_jvp
from ..core.tensor import _make
from ._util import Sample, normalize_dims, pick_dim, pick_keepdim, xp_of
from .shape import reshape
from .reduce import Sum, _dims, _kept_shape, _reduce_samples


def _first_true(mask, dims):
    """Bool array marking the first True of each slice over ``dims`` (row-major order)."""
    nd = mask.ndim
    dims = tuple(range(nd)) if dims is None else tuple(dims)
    keep = [d for d in range(nd) if d not in dims]
    perm = keep + list(dims)
    m = mask.transpose(perm)
    flat = m.reshape(m.shape[:len(keep)] + (-1,))
    first = flat & (flat.cumsum(axis=-1) == 1)
    return first.reshape(m.shape).transpose(sorted(range(nd), key=perm.__getitem__))


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
        xp = xp_of(xd)
        cnt = zero.sum(axis=dims, keepdims=True)
        nonzero = xp.where(zero, 1, xd)
        others = nonzero.prod(axis=dims, keepdims=True)
        full = xd.prod(axis=dims, keepdims=True) / nonzero  # used where the slice has no 0
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
    Primitive so the gradient is exact with zeros in the input (prod / x would be 0/0).
    ``traceable = False``: the rules pick their formula by whether x holds zeros, in Python
    (a compiled replay traced on zero-free x would divide by zero later)."""

    save_inputs = True
    traceable = False

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
        Sample([backend.asarray([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])], {"dim": 0},
               name="zeros per col"),
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
        if x.dtype in backend.HALF:   # summed in float32, as PyTorch does
            return Cumsum.forward(ctx, x.astype(backend.float32), dim, reverse).astype(x.dtype)
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
    c = zero.cumsum(axis=dim)
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
    Primitive so the gradient is exact (and twice differentiable) with zeros in x.
    ``traceable = False``: as Prod, the rules branch on whether x holds zeros."""

    save_inputs = True
    traceable = False
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
        Sample([backend.asarray([1.5, 0.0, -0.7, 0.0, 1.2])], {"dim": 0}, name="two zeros"),
        Sample([backend.asarray([[0.0, 0.0, 1.3], [0.8, 0.0, 0.0]])], {"dim": 1}, name="zeros")]


@composite("cumprod", method=True, samples=_cumprod_samples)
def cumprod(x, dim=None, *, axis=None, dtype=None):
    """Cumulative product along ``dim``; gradients exact with zeros in x."""
    if dtype is not None:
        x = x.to(dtype)
    d = _cum_dim(x, dim, axis, "cumprod")
    if x.ndim == 0:
        return Cumprod.apply(reshape(x, (1,)), dim=0).reshape(())
    return Cumprod.apply(x, dim=d)
