"""Diagonals and triangles: diagonal, diag_embed, diag, trace, triu/tril."""
import builtins

from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite, linear_jvp
from ._util import Sample


@primitive("diagonal", public=False)
class Diagonal(Function):
    """y = the diagonal of x over (dim1, dim2) at ``offset``, as the last dim (a view);
    dy/dx writes g back onto that diagonal of zeros."""

    view = True

    @staticmethod
    def forward(ctx, x, offset, dim1, dim2):
        ctx.in_shape = x.shape
        return ctx.xp.diagonal(x, offset, dim1, dim2)

    @staticmethod
    def vjp(ctx, g):
        return DiagEmbed.apply(g, shape=ctx.in_shape, **ctx.params)

    jvp = linear_jvp


@primitive("diag_embed", public=False)
class DiagEmbed(Function):
    """y = zeros(shape) with the last dim of x written on the (dim1, dim2) diagonal at
    ``offset`` (the transpose of Diagonal)."""

    @staticmethod
    def forward(ctx, x, shape, offset, dim1, dim2):
        out = ctx.xp.zeros(shape, x.dtype)
        o = ctx.xp.moveaxis(out, (dim1, dim2), (-2, -1))
        n = x.shape[-1]
        i = ctx.xp.arange(n) + builtins.max(-offset, 0)
        o[..., i, i + offset] = x
        return out

    @staticmethod
    def vjp(ctx, g):
        p = ctx.params
        return Diagonal.apply(g, offset=p["offset"], dim1=p["dim1"], dim2=p["dim2"])

    jvp = linear_jvp


def _axis(d, n, op):
    if not -n <= d < n:
        raise IndexError(f"{op}: dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {d})")
    return d % n


@composite("diagonal", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3, 3))]), Sample([rng.standard_normal((2, 3))], {"offset": 1}),
    Sample([rng.standard_normal((3, 2))], {"offset": -1}),
    Sample([rng.standard_normal((2, 3, 4))], {"dim1": -1, "dim2": 0})])
def diagonal(x, offset=0, dim1=0, dim2=1):
    """The diagonal over dims (dim1, dim2) at ``offset`` (> 0 above), as the last dim."""
    d1, d2 = _axis(dim1, x.ndim, "diagonal"), _axis(dim2, x.ndim, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal: dim1 and dim2 cannot be identical, got {dim1} and {dim2}")
    return Diagonal.apply(x, offset=int(offset), dim1=d1, dim2=d2)


@composite("diag_embed", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))]), Sample([rng.standard_normal((3,))], {"offset": -1})])
def diag_embed(x, offset=0, dim1=-2, dim2=-1):
    """Matrices with x's last dim on their (dim1, dim2) diagonal at ``offset``."""
    nd = x.ndim + 1
    d1, d2 = _axis(dim1, nd, "diag_embed"), _axis(dim2, nd, "diag_embed")
    if d1 == d2:
        raise RuntimeError(f"diag_embed: dim1 and dim2 cannot be identical, got {dim1} and {dim2}")
    m = x.shape[-1] + abs(int(offset))
    rest = iter(x.shape[:-1])
    shape = tuple(m if i in (d1, d2) else next(rest) for i in range(nd))
    return DiagEmbed.apply(x, shape=shape, offset=int(offset), dim1=d1, dim2=d2)


@composite("diag", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3,))]), Sample([rng.standard_normal((2,))], {"diagonal": 1}),
    Sample([rng.standard_normal((3, 3))]), Sample([rng.standard_normal((2, 3))], {"diagonal": -1})])
def diag(x, diagonal=0):
    """1-d x: the square matrix with x on diagonal ``diagonal``; 2-d x: that diagonal."""
    if x.ndim == 1:
        return diag_embed(x, diagonal, 0, 1)
    if x.ndim == 2:
        return Diagonal.apply(x, offset=int(diagonal), dim1=0, dim2=1)
    raise ShapeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D (shape "
                     f"{list(x.shape)})")


@composite("trace", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3, 3))]), Sample([rng.standard_normal((2, 3))])])
def trace(x):
    """Sum of the main diagonal of a 2-d tensor."""
    if x.ndim != 2:
        raise ShapeError(f"trace: expected a matrix, but got tensor with dim {x.ndim} "
                         f"(shape {list(x.shape)})")
    return Diagonal.apply(x, offset=0, dim1=0, dim2=1).sum()


@primitive("triangle", public=False)
class Triangle(Function):
    """y = the upper (triu) or lower (tril) triangle of the last two dims, from diagonal
    ``k`` on; the rest is zero. Linear, and its own transpose."""

    @staticmethod
    def forward(ctx, x, k, upper):
        return (ctx.xp.triu if upper else ctx.xp.tril)(x, k)

    @staticmethod
    def vjp(ctx, g):
        return Triangle.apply(g, **ctx.params)

    jvp = linear_jvp


def _tri_samples(rng):
    return [Sample([rng.standard_normal((3, 3))]),
            Sample([rng.standard_normal((2, 3))], {"diagonal": 1}),
            Sample([rng.standard_normal((2, 3, 3))], {"diagonal": -1})]


def _tri(name, upper):
    def public(x, diagonal=0):
        if x.ndim < 2:
            raise ShapeError(f"{name}: input tensor must have at least 2 dimensions, got "
                             f"shape {list(x.shape)}")
        return Triangle.apply(x, k=int(diagonal), upper=upper)
    public.__doc__ = (f"The {'upper' if upper else 'lower'} triangle of the last two dims "
                      f"(from diagonal ``diagonal`` on); the rest set to 0.")
    return composite(name, method=True, samples=_tri_samples)(public)


triu = _tri("triu", True)
tril = _tri("tril", False)
