"""Vector norms (and torch.norm): the gradient of an all-zero slice is 0, not NaN."""
from .. import backend
from ..core.function import Function
from ..core.registry import primitive, composite, linear_jvp
from ..core.tensor import Tensor, _make
from ._util import Sample, normalize_dims, pick_dim, pick_keepdim, broadcast_to, xp_of
from .shape import reshape
from .reduce import Amax, Amin, Sum, sum, _check_nonempty, _dims, _kept_shape


def _norm_weights(x, n, p):
    """d||x||_p / dx as a tensor: x / n for p = 2, sign(x) |x|^(p-1) / n^(p-1) otherwise;
    exactly 0 where the norm is 0 (PyTorch's subgradient; no 0/0). Both divisions use
    "double where" safe operands, so second-order gradients stay finite there too."""
    from .elementwise import where, Abs, Sign
    nzero = n == 0   # masks by comparison ops, so tg.compile records them
    n_safe = where(nzero, 1.0, n)
    if p == 2:
        r = x / n_safe
    else:
        xzero = x == 0
        ax = where(xzero, 1.0, Abs.apply(x))
        r = Sign.apply(x) * ax ** (p - 1) / n_safe ** (p - 1)
        r = where(xzero, 0.0, r)
    return where(nzero, 0.0, r)


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
            Sample([backend.asarray([[0.0, 0.0, 0.0], [0.3, -1.2, 0.5]])], {"dim": 1},
                   name="zero row", kink=True)]


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """||x||_ord over ``dim`` (all elements when None): ord = 2 (default), 1, inf, -inf, 0
    (count of nonzeros) or any real p. The gradient of an all-zero slice is 0, not NaN."""
    if dtype is not None:
        x = x.to(dtype)
    if not backend.is_floating(x.dtype):
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
        count = Sum.apply((x != 0).to(x.dtype), dims=dims, keepdim=kd)
        never = xp_of(x).zeros(count.shape, backend.bool_)
        return where(never, Sum.apply(x, dims=dims, keepdim=kd), count)
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
    None; 'fro' over a 2-tuple of dims is the Frobenius norm); 'nuc' is the nuclear norm of
    the matrices over ``dim`` (the last two dims when None)."""
    dim, keepdim = pick_dim(dim, axis), pick_keepdim(keepdim, keepdims)
    if p == "nuc":
        from .solve import matrix_norm
        return matrix_norm(x, "nuc", (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    if p is None or p == "fro":
        p = 2
    elif isinstance(p, str):
        raise ValueError(f"norm: p='{p}' is not a norm (use a number, 'fro' or 'nuc')")
    return vector_norm(x, p, dim, keepdim, dtype=dtype)
