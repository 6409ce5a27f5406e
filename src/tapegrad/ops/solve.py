"""Inverse, determinant (exact cofactor gradients at singular matrices), solve, matrix
norms (those of singular values come from ops/svd.py)."""
import collections

from .. import backend
from ..core.function import Function
from ..core.registry import primitive, composite
from ..core.tensor import Tensor, _make
from ..core.errors import ShapeError
from ._util import Sample, sum_to, broadcast_to, xp_of
from .shape import unsqueeze, squeeze, transpose
from .diag import _axis


def _square(x, op):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"{op}: A must be batches of square matrices, but got shape "
                           f"{list(x.shape)}")


def _mT(x):
    return transpose(x, -1, -2)


def _singular(op, shape):
    return RuntimeError(f"{op}: the input matrix is singular (shape {list(shape)}); the "
                        f"operation could not be completed")


def _failed(xp, out, a):
    """Whether solving with ``a`` failed: NumPy raised LinAlgError (``out`` is None), or,
    as CuPy reports no singular matrices, a device gave a non-finite result for finite
    ``a`` (a sync, as PyTorch's check on CUDA)."""
    if out is None:
        return True
    return xp is not backend.xp and not xp.isfinite(out).all() and bool(xp.isfinite(a).all())


@primitive("inverse", public=False)
class Inverse(Function):
    """Y = A^-1 (batched);  dY = -Y dA Y, so the VJP is -Y^T g Y^T."""

    save_output = True

    @staticmethod
    def forward(ctx, a, op="linalg.inv"):
        try:
            out = ctx.xp.linalg.inv(a)
        except ctx.xp.linalg.LinAlgError:
            out = None
        if _failed(ctx.xp, out, a):
            raise _singular(op, a.shape)
        return out

    @staticmethod
    def vjp(ctx, g):
        yt = _mT(ctx.output)
        return -(yt @ g @ yt)

    @staticmethod
    def jvp(ctx, t):
        y = ctx.output
        return -(y @ t @ y)


def _as_float(x):
    return x if backend.is_floating(x.dtype) else x.to(backend.DEFAULT_FLOAT)


def _eye(n):
    """The n x n identity as a host array (test samples)."""
    return backend.asarray([[float(i == j) for j in range(n)] for i in range(n)])


def _mat_samples(rng, shapes=((3, 3), (2, 2, 2), (1, 1))):
    # well-conditioned: identity plus a small random part
    return [Sample([_eye(s[-1]) * 2 + 0.5 * rng.standard_normal(s)]) for s in shapes]


@composite("inverse", method=True, samples=_mat_samples)
def inverse(a):
    """The inverse of a square matrix (or a batch of them); singular input raises
    RuntimeError."""
    a = _as_float(a)
    _square(a, "linalg.inv")
    return Inverse.apply(a)


_MINORS_MAX_N = 12  # beyond this the n^2 minors cost too much: use the SVD (values only)


def _cofactor_svd(ad):
    """Cofactor matrix of (nearly) singular arrays from A = U S V^T:
    adj(A) = det(U) det(V^T) V diag(prod_{j!=i} s_j) U^T. A constant: the first-order
    gradient of det is right, higher orders at large singular matrices are not."""
    xp = xp_of(ad)
    u, sv, vh = xp.linalg.svd(ad)
    ones = xp.ones(sv.shape[:-1] + (1,), sv.dtype)
    left = xp.cumprod(xp.concatenate([ones, sv[..., :-1]], -1), -1)
    right = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(sv, -1)[..., :-1]], -1), -1), -1)
    scale = (xp.linalg.det(u) * xp.linalg.det(vh))[..., None, None]
    adj = scale * (xp.swapaxes(vh, -1, -2) * (left * right)[..., None, :]) @ xp.swapaxes(u, -1, -2)
    return xp.swapaxes(adj, -1, -2)


def _cofactor(a):
    """C = cofactor matrix of A (= adj(A)^T = d det(A) / dA), as tensor ops.
    Well-conditioned A: det(A) * A^-T. Otherwise (singular or nearly): signed minors,
    C_ij = (-1)^(i+j) det(A without row i and column j), an exact polynomial, so the
    gradient of det is right (and differentiable again) at singular matrices too."""
    n = a.shape[-1]
    ad = a._data
    xp = xp_of(ad)
    if n == 0:
        return _make(xp.zeros(ad.shape, ad.dtype))
    if n == 1:
        return _make(xp.ones(ad.shape, ad.dtype))
    if ad.size and xp.all(xp.isfinite(ad)):
        cond = xp.linalg.cond(ad)
        if xp.all(cond < 1e8):
            return unsqueeze(unsqueeze(Det.apply(a), -1), -1) * _mT(Inverse.apply(a))
    if n > _MINORS_MAX_N:
        return _make(_cofactor_svd(ad))
    idx = xp.arange(n)
    keep = xp.asarray([[j for j in range(n) if j != i] for i in range(n)])  # (n, n-1)
    minors = a[..., keep[:, None, :, None], keep[None, :, None, :]]  # (..., n, n, n-1, n-1)
    sign = _make(((-1.0) ** (idx[:, None] + idx[None, :])).astype(ad.dtype))
    return sign * Det.apply(minors)


@primitive("det", public=False)
class Det(Function):
    """y = det(A) (batched);  dy/dA = cofactor matrix of A: det(A) A^-T when A is well
    conditioned; otherwise signed minors (exact at every order, n <= 12) or, for larger
    singular A, the SVD's cofactors (first order only). Singular A gets the right, finite
    gradient, not NaN. ``traceable = False``: the rule picks its formula from A's condition
    number in Python, which a compiled replay could not repeat."""

    save_inputs = True
    traceable = False

    @staticmethod
    def forward(ctx, a):
        return ctx.xp.linalg.det(a)

    @staticmethod
    def vjp(ctx, g):
        return unsqueeze(unsqueeze(g, -1), -1) * _cofactor(ctx.inputs[0])

    @staticmethod
    def jvp(ctx, t):
        return (t * _cofactor(ctx.inputs[0])).sum(dim=(-2, -1))


def _det_samples(rng):
    return _mat_samples(rng) + [
        Sample([backend.asarray([[1.0, 2.0], [2.0, 4.0]])], name="singular"),
        Sample([backend.asarray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])],
               name="singular 3x3"),
        Sample([rng.standard_normal((0, 3, 3))])]


@composite("det", method=True, samples=_det_samples)
def det(a):
    """Determinant of a square matrix (or batch); differentiable at singular matrices."""
    a = _as_float(a)
    _square(a, "linalg.det")
    return Det.apply(a)


@primitive("logabsdet", public=False)
class LogAbsDet(Function):
    """y = log|det(A)|;  dy/dA = A^-T. At a singular A (y = -inf) the gradient is infinite:
    the rules raise RuntimeError naming slogdet (PyTorch returns infinities, which would
    turn every parameter they reach into inf or NaN in one step)."""

    save_inputs = True

    @staticmethod
    def forward(ctx, a):
        return ctx.xp.linalg.slogdet(a)[1]

    @staticmethod
    def _inv_t(ctx):
        return _mT(Inverse.apply(ctx.inputs[0], op="linalg.slogdet (its gradient)"))

    @staticmethod
    def vjp(ctx, g):
        return unsqueeze(unsqueeze(g, -1), -1) * LogAbsDet._inv_t(ctx)

    @staticmethod
    def jvp(ctx, t):
        return (t * LogAbsDet._inv_t(ctx)).sum(dim=(-2, -1))


@primitive("slogdet_sign", public=False)
class SlogDetSign(Function):
    """y = sign(det(A)) (-1, 0 or 1); a constant (piecewise constant: no gradient).
    An op, not a value read in Python, so a compiled replay recomputes it."""

    differentiable = False

    @staticmethod
    def forward(ctx, a):
        return ctx.xp.linalg.slogdet(a)[0]


SlogDet = collections.namedtuple("SlogDet", ["sign", "logabsdet"])


@composite("slogdet", method=True)  # the rule is tested through logdet's samples
def slogdet(a):
    """(sign, log|det|) of a square matrix (or batch); sign carries no gradient."""
    a = _as_float(a)
    _square(a, "linalg.slogdet")
    from .elementwise import where
    sign = SlogDetSign.apply(a)
    lad = LogAbsDet.apply(a)
    # sign is piecewise constant: gradient 0, but part of the graph as in PyTorch
    return SlogDet(where(xp_of(a).zeros(sign.shape, dtype=backend.bool_), lad, sign), lad)


@composite("logdet", method=True, samples=lambda rng: _mat_samples(rng))
def logdet(a):
    """log det(A): nan for negative determinants, -inf for singular A (as PyTorch)."""
    from .elementwise import where
    sign, lad = slogdet(a)
    # branch-free (ops, not a test on values), so tg.compile replays it: adding 0.0 keeps
    # log|det| (and its gradient) as it is where det > 0
    fix = where(sign > 0, 0.0, where(sign == 0, -float("inf"), float("nan")))
    return lad + fix.to(lad.dtype)


@primitive("solve", public=False)
class Solve(Function):
    """X = A^-1 B (B a batch of matrices, batch dims broadcast);
    dB = A^-T g, dA = -dB X^T (summed back over broadcast batch dims)."""

    save_inputs = True
    save_output = True

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = ctx.xp.linalg.solve(a, b)
        except ctx.xp.linalg.LinAlgError:
            out = None
        if _failed(ctx.xp, out, a):
            raise RuntimeError(f"linalg.solve: The solver failed because the input matrix is "
                               f"singular (A shape {list(a.shape)})")
        return out

    @staticmethod
    def vjp(ctx, g):
        a, b = ctx.inputs
        gb = Solve.apply(_mT(a), g)
        ga = sum_to(-(gb @ _mT(ctx.output)), a.shape) if ctx.needs_input_grad[0] else None
        return ga, sum_to(gb, b.shape) if ctx.needs_input_grad[1] else None

    @staticmethod
    def jvp(ctx, ta, tb):
        a, _ = ctx.inputs
        x = ctx.output
        rhs = 0.0 if tb is None else tb
        if ta is not None:
            rhs = rhs - ta @ x
        return Solve.apply(a, broadcast_to(rhs, x.shape) if isinstance(rhs, Tensor) else
                           _make(ctx.xp.zeros(x.shape, x.dtype)))


def _solve_samples(rng):
    a = _mat_samples(rng)[0].args[0]
    r = rng.standard_normal
    return [Sample([a, r((3,))]), Sample([a, r((3, 2))]),
            Sample([_eye(2) * 2 + 0.4 * r((2, 2, 2)), r((2, 2))], name="batched vectors"),
            Sample([a, r((2, 3, 1))], name="broadcast B"),
            Sample([_eye(2) * 2 + 0.4 * r((2, 1, 2, 2)), r((3, 2, 1))], name="broadcast A")]


def solve(A, B, *, left=True):
    """X with A X = B (``left=False``: X A = B). B is a vector (or batch of vectors) when
    B.ndim == 1 or B.shape == A.shape[:-1]; otherwise a (batch of) matrices."""
    from ..core.function import promote_args
    A, B = promote_args((A, B))
    A, B = _as_float(A), _as_float(B)
    _square(A, "linalg.solve")
    if not left:
        return _mT(solve(_mT(A), _mT(B)))
    vec = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    b = unsqueeze(B, -1) if vec else B
    if b.ndim < 2 or b.shape[-2] != A.shape[-1]:
        raise ShapeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"AX = B ({'x'.join(map(str, A.shape[-2:]))} and "
                           f"{'x'.join(map(str, b.shape[-2:]))}; A {list(A.shape)}, "
                           f"B {list(B.shape)})")
    x = Solve.apply(A, b)
    return squeeze(x, -1) if vec else x


composite("linalg.solve", samples=_solve_samples)(solve)


# -- matrix norms ---------------------------------------------------------------------------
_MATRIX_ORDS = ("fro", "nuc", 2, -2, 1, -1, float("inf"), -float("inf"))


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """Matrix norm over the two dims ``dim``: 'fro' (the default), 'nuc' (the sum of the
    singular values), 2 / -2 (the largest / smallest singular value), 1 / -1 (max / min
    absolute column sum), inf / -inf (max / min absolute row sum). The singular-value norms
    differentiate through svdvals (exact at repeated singular values; ties of 2 / -2 share
    the gradient, as amax does). Raises ShapeError for fewer than 2 dims, IndexError for a
    dim out of range, RuntimeError for a bad ord or repeated dims."""
    from .vector_norm import vector_norm
    from .reduce import amax, amin
    if dtype is not None:
        A = A.to(dtype)
    if A.ndim < 2:
        raise ShapeError(f"linalg.matrix_norm: The input tensor A must have at least 2 "
                         f"dimensions, got shape {list(A.shape)}")
    d = tuple(_axis(x, A.ndim, "linalg.matrix_norm") for x in dim)
    if len(d) != 2 or d[0] == d[1]:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple of different dims, "
                           f"got {dim}")
    if ord not in _MATRIX_ORDS:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord!r} not supported (use 'fro', "
                           f"'nuc', 2, -2, 1, -1, inf or -inf)")
    if ord == "fro":
        return vector_norm(A, 2, d, keepdim)
    if ord in ("nuc", 2, -2):
        from .svd import svdvals
        from .shape import movedim
        s = svdvals(_as_float(movedim(A, d, (-2, -1))))
        out = s.sum(dim=-1) if ord == "nuc" else (amax if ord == 2 else amin)(s, dim=-1)
        return unsqueeze(unsqueeze(out, min(d)), max(d)) if keepdim else out
    # 1-norms sum over rows (dim[0]) then take the extreme over columns; inf the other way
    s_dim, e_dim = (d[0], d[1]) if abs(ord) == 1 else (d[1], d[0])
    s = A.abs().sum(dim=s_dim, keepdim=True)
    out = (amax if ord > 0 else amin)(s, dim=e_dim, keepdim=True)
    return out if keepdim else squeeze(out, d)


def _matrix_norm_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 3))]), Sample([r((2, 2, 3))], {"ord": 1}),
            Sample([r((3, 2))], {"ord": float("inf"), "keepdim": True}),
            Sample([r((2, 3))], {"ord": -1}), Sample([r((3, 2, 2))], {"dim": (0, 2)}),
            Sample([r((2, 3))], {"ord": "nuc"}), Sample([r((2, 2, 3))], {"ord": 2}),
            Sample([r((3, 2, 4))], {"ord": -2, "dim": (2, 0), "keepdim": True})]


composite("linalg.matrix_norm", samples=_matrix_norm_samples)(matrix_norm)


def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a vector norm when ``dim`` is an int (or A is 1-d, or ord is None
    and dim is None: the 2-norm of all elements); a matrix norm when ``dim`` is a 2-tuple
    (or A is 2-d and ord is given)."""
    from .vector_norm import vector_norm
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) == 2 or dim is None and ord is not None and A.ndim == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dim or (-2, -1), keepdim,
                           dtype=dtype)
    if dim is None and ord is not None and A.ndim != 1:
        raise ShapeError(f"linalg.norm: If dim is not specified but ord is, the input must "
                           f"be 1D or 2D. Got {A.ndim}D (shape {list(A.shape)})")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


composite("linalg.norm", samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))]), Sample([rng.standard_normal((2, 3))], {"ord": "fro"}),
    Sample([rng.standard_normal((2, 3))], {"ord": 1}),
    Sample([rng.standard_normal((4,))], {"ord": 3}),
    Sample([rng.standard_normal((2, 3))], {"dim": 1})])(linalg_norm)
