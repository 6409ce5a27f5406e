"""The singular value decomposition and what is built on it: svd, svdvals, pinv, lstsq.

As in ops/decomp.py (whose notes on packing, signs and repeated values apply here), the SVD
is one primitive with a packed output. Signs: each left singular vector u_j has its entry
of largest magnitude positive and v_j follows (u_j v_j^T is what the SVD fixes); extra
columns of ``full_matrices`` are normalized alone. At exactly repeated singular values the
couplings 1 / (s_j^2 - s_i^2) are taken as 0, and 1 / s as 0 at s = 0, so a loss of the
singular values alone has its exact, finite gradient; PyTorch returns inf or NaN when the
loss reads U or Vh there.
"""
import collections

from .. import backend
from ..core.function import Function
from ..core.registry import primitive, composite
from ..core.errors import ShapeError
from ..core.tensor import Tensor
from ._util import Sample, const_like, xp_of, guard
from .decomp import check_matrix, lapack, pack, pack_t, unpack, inv_gaps, signs
from .diag import diagonal, diag_embed
from .elementwise import where
from .pad import pad
from .shape import unsqueeze, squeeze, _mT

SVD = collections.namedtuple("SVD", ["U", "S", "Vh"])
SVDLegacy = collections.namedtuple("SVDLegacy", ["U", "S", "V"])
Lstsq = collections.namedtuple("Lstsq", ["solution", "residuals", "rank", "singular_values"])


def _svd_signs(xp, u, vh, k):
    """U and Vh with each pair (u_j, v_j), j < k, flipped so that u_j's entry of largest
    magnitude is positive; the extra vectors of full_matrices by their own entries."""
    if u.shape[-2]:
        su = signs(xp, u, -2)                       # (..., 1, columns of U)
        u = u * su
        if vh.shape[-1]:
            rows = xp.swapaxes(su[..., :k], -1, -2)
            if vh.shape[-2] > k:
                rows = xp.concatenate([rows, signs(xp, vh[..., k:, :], -1)], axis=-2)
            vh = vh * rows
    elif vh.shape[-1]:
        vh = vh * signs(xp, vh, -1)
    return u, vh


def _safe_inv(s):
    """1 / s, and 0 where s == 0."""
    zero = s == 0
    return where(zero, 0.0, 1.0 / where(zero, 1.0, s))


@primitive("svd_packed", public=False)
class SVDPacked(Function):
    """(U, S, Vh) with A = U diag(S) Vh, S descending, packed; k = min(m, n) pairs.
    With F_ij = 1 / (s_j^2 - s_i^2) (0 for equal values), J = F o (U^T gU - gU^T U) and
    K = F o (V^T gV - gV^T V) (gV = gVh^T):
      gA = U (J S + S K + diag(gS)) V^T + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T).
    JVP, with dP = U^T dA V: dS = diag(dP), dU = U (F o (dP S + S dP^T)) + (I - U U^T) dA V
    S^-1, dV = V (F o (S dP + dP^T S)) + (I - V V^T) dA^T U S^-1. With full_matrices the
    columns of U and rows of Vh past k are any basis of the complement: their cotangents
    are ignored and their tangents are 0 (as PyTorch). Primitive: LAPACK's gesdd."""

    save_output = True

    @staticmethod
    def forward(ctx, a, full_matrices, op):
        xp = ctx.xp
        u, s, vh = lapack(xp, op, xp.linalg.svd, a, full_matrices=full_matrices)
        u, vh = _svd_signs(xp, u, vh, s.shape[-1])
        ctx.layout = (a.shape[:-2], (u.shape[-2:], s.shape[-1:], vh.shape[-2:]))
        return pack(xp, a.shape[:-2], u, s, vh)

    @staticmethod
    def _parts(ctx, p):
        """U, S, V (not Vh) of the first k pairs, from a packed output or cotangent."""
        u, s, vh = unpack(p, *ctx.layout)
        k = s.shape[-1]
        return u[..., :k], s, _mT(vh[..., :k, :])

    @staticmethod
    def vjp(ctx, g):
        u, s, v = SVDPacked._parts(ctx, ctx.output)
        gu, gs, gv = SVDPacked._parts(ctx, g)
        f = inv_gaps(s * s)
        j = f * (_mT(u) @ gu - _mT(gu) @ u)
        k = f * (_mT(v) @ gv - _mT(gv) @ v)
        sr, sc = unsqueeze(s, -2), unsqueeze(s, -1)   # S on the right (columns), left (rows)
        ga = u @ (j * sr + sc * k + diag_embed(gs)) @ _mT(v)
        m, n, kk = u.shape[-2], v.shape[-2], s.shape[-1]
        si = _safe_inv(s)
        if m > kk:   # the part of gU outside U's span (0 for square A)
            gu_s = gu * unsqueeze(si, -2)
            ga = ga + (gu_s - u @ (_mT(u) @ gu_s)) @ _mT(v)
        if n > kk:
            gv_s = gv * unsqueeze(si, -2)
            ga = ga + u @ _mT(gv_s - v @ (_mT(v) @ gv_s))
        return ga

    @staticmethod
    def jvp(ctx, t):
        u, s, v = SVDPacked._parts(ctx, ctx.output)
        dp = _mT(u) @ t @ v
        f = inv_gaps(s * s)
        sr, sc = unsqueeze(s, -2), unsqueeze(s, -1)
        du = u @ (f * (dp * sr + sc * _mT(dp)))
        dv = v @ (f * (sc * dp + _mT(dp) * sr))
        m, n, kk = u.shape[-2], v.shape[-2], s.shape[-1]
        si = unsqueeze(_safe_inv(s), -2)
        if m > kk:
            x = t @ v * si
            du = du + x - u @ (_mT(u) @ x)
        if n > kk:
            y = _mT(t) @ u * si
            dv = dv + y - v @ (_mT(v) @ y)
        (_, su), _, (vr, _) = ctx.layout[1]
        du = pad(du, (0, su - kk))                 # full_matrices: the complement stays
        dvh = pad(_mT(dv), (0, 0, 0, vr - kk))
        return pack_t(ctx.layout[0], du, diagonal(dp, 0, -2, -1), dvh)


def _svd(A, full_matrices, op):
    A = check_matrix(A, op)
    p = SVDPacked.apply(A, full_matrices=bool(full_matrices), op=op)
    m, n = A.shape[-2:]
    k = min(m, n)
    mu, nv = (m, n) if full_matrices else (k, k)
    return SVD(*unpack(p, A.shape[:-2], ((m, mu), (k,), (nv, n))))


def _svd_samples(rng):
    r = rng.standard_normal
    return [Sample([r((3, 3))]), Sample([r((4, 2))], {"full_matrices": False}),
            Sample([r((2, 2, 4))], {"full_matrices": False}), Sample([r((1, 1))]),
            Sample([r((0, 3, 3))])]


@composite("linalg.svd", samples=_svd_samples)
def svd(A, full_matrices=True):
    """torch.linalg.svd: A = U diag(S) Vh for a batch (..., m, n), as a namedtuple (U, S,
    Vh); S descending, k = min(m, n). ``full_matrices=True`` (the default): U (m, m) and Vh
    (n, n), whose vectors past k are any basis of the complement (not differentiated);
    False: U (m, k), Vh (k, n). Signs: u_j's largest entry positive (see the module's notes;
    a loss must not depend on the signs). Gradients of U and Vh need distinct (and, for
    m != n, nonzero) singular values; those of S alone are exact everywhere."""
    return _svd(A, full_matrices, "linalg.svd")


@composite("svd", method=True, samples=lambda rng: [Sample([rng.standard_normal((3, 2))])])
def svd_legacy(input, some=True, compute_uv=True):
    """torch.svd / Tensor.svd: (U, S, V) with A = U diag(S) V^T (V, not Vh); ``some=True``
    is ``full_matrices=False``. ``compute_uv=False``: U and V are zero-filled (m, m) and (n,
    n) matrices, as in PyTorch."""
    if not compute_uv:
        s = svdvals(input)
        zero = const_like(0.0, input, dtype=s.dtype)
        m, n = input.shape[-2:]
        return SVDLegacy(zero.expand(*input.shape[:-2], m, m).clone(), s,
                         zero.expand(*input.shape[:-2], n, n).clone())
    u, s, vh = _svd(input, not some, "svd")
    return SVDLegacy(u, s, _mT(vh))


@primitive("svdvals", public=False)
class SvdVals(Function):
    """s = singular values (descending); ds = diag(U^T dA V), so the VJP is U diag(g) V^T.
    Primitive so the forward computes values only; the rules take U and V from :func:`svd`
    of the input (reduced), so they are differentiable again."""

    save_inputs = True

    @staticmethod
    def forward(ctx, a, op):
        return lapack(ctx.xp, op, ctx.xp.linalg.svd, a, compute_uv=False)

    @staticmethod
    def _uv(ctx):
        u, _, vh = _svd(ctx.inputs[0], False, ctx.params["op"])
        return u, vh

    @staticmethod
    def vjp(ctx, g):
        u, vh = SvdVals._uv(ctx)
        return (u * unsqueeze(g, -2)) @ vh

    @staticmethod
    def jvp(ctx, t):
        u, vh = SvdVals._uv(ctx)
        return ((_mT(u) @ t) * vh).sum(dim=-1)


def _svdvals_samples(rng):
    r = rng.standard_normal
    return [Sample([r((3, 3))]), Sample([r((2, 4, 2))]), Sample([r((2, 5))]),
            Sample([r((0, 2, 2))])]


@composite("linalg.svdvals", samples=_svdvals_samples)
def svdvals(A):
    """torch.linalg.svdvals: the singular values (descending) of a batch of matrices. The
    gradient U diag(g) V^T is exact at repeated singular values too (one subgradient at a
    kink of the sorted values)."""
    A = check_matrix(A, "linalg.svdvals")
    return SvdVals.apply(A, op="linalg.svdvals")


# -- pseudo-inverse and least squares -------------------------------------------------------
@primitive("pinv", public=False)
class Pinv(Function):
    """X = A^+ (singular values at most max(atol, rtol * s_max) taken as 0; ``hermitian``:
    from eigh, with |eigenvalues|). Where the rank is locally constant (Golub and Pereyra):
      dX = -X dA X + X X^T dA^T (I - A X) + (I - X A) dA^T X^T X,
    and the VJP is its adjoint (PyTorch's pinv_backward), both in tensor ops of A and X so
    they are differentiable again. Primitive: through the SVD's rules the gradient would be
    wrong at repeated singular values (pinv(I)), where this formula is exact."""

    save_inputs = True
    save_output = True

    @staticmethod
    def forward(ctx, a, atol, rtol, hermitian, op):
        xp = ctx.xp
        if hermitian:
            w, v = lapack(xp, op, xp.linalg.eigh, a)
            s, left, right = xp.abs(w), v, xp.swapaxes(v, -1, -2)
            inv_w = w
        else:
            left, s, right = lapack(xp, op, xp.linalg.svd, a, full_matrices=False)
            inv_w = s
        smax = s.max(axis=-1, keepdims=True) if s.shape[-1] else s[..., :1]
        tol = xp.maximum(atol[..., None] if hasattr(atol, "ndim") else atol,
                         (rtol[..., None] if hasattr(rtol, "ndim") else rtol) * smax)
        keep = s > tol
        d = xp.where(keep, 1.0 / xp.where(keep, inv_w, 1.0), 0.0).astype(a.dtype)
        return xp.swapaxes(right, -1, -2) * d[..., None, :] @ xp.swapaxes(left, -1, -2)

    @staticmethod
    def vjp(ctx, g):
        a, x = ctx.inputs[0], ctx.output
        xt, gt = _mT(x), _mT(g)
        if a.shape[-2] <= a.shape[-1]:
            k = gt @ x
            kx = k @ xt
            ga = -_mT(x @ k) + kx - (a @ x) @ kx + (xt @ x) @ (gt - k @ a)
        else:
            k = x @ gt
            xk = xt @ k
            ga = -_mT(k @ x) + (gt - a @ k) @ x @ xt + xk - xk @ x @ a
        return ga, None, None

    @staticmethod
    def jvp(ctx, t, *_):
        a, x = ctx.inputs[0], ctx.output
        tt = _mT(t)
        return -(x @ t @ x) + x @ (_mT(x) @ (tt - tt @ (a @ x))) + \
            ((tt - (x @ a) @ tt) @ _mT(x)) @ x


def _tol(v, A, what):
    """atol/rtol as PyTorch takes them: a number, or a tensor broadcasting over A's batch."""
    if v is None or isinstance(v, Tensor):
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"linalg.pinv: {what} must be a number or a tensor, got "
                        f"{type(v).__name__}")
    return float(v)


def _pinv_samples(rng):
    r = rng.standard_normal
    return [Sample([r((3, 3))]), Sample([r((4, 2))]), Sample([r((2, 2, 3))]),
            Sample([r((3, 2))], {"rtol": 1e-3}), Sample([r((0, 2, 2))])]


@composite("linalg.pinv", samples=_pinv_samples)
def pinv(A, rcond=None, hermitian=False, *, atol=None, rtol=None):
    """torch.linalg.pinv: the pseudo-inverse of a batch (..., m, n), through the SVD (or,
    ``hermitian=True``, the eigendecomposition of the lower triangle). Singular values <=
    max(atol, rtol * s_max) count as 0; rtol defaults to eps * max(m, n) when atol is None
    or 0, else to 0 (PyTorch's rule); ``rcond`` is the older name of rtol. Its gradient is
    exact where the rank does not change (also at repeated singular values)."""
    A = check_matrix(A, "linalg.pinv")
    if rcond is not None:
        rtol = rcond
    atol, rtol = _tol(atol, A, "atol"), _tol(rtol, A, "rtol")
    if rtol is None:
        eps = float(xp_of(A).finfo(A.dtype).eps)
        rtol = eps * max(A.shape[-2:]) if atol is None or (
            not isinstance(atol, Tensor) and atol <= 0) else 0.0
    return Pinv.apply(A, 0.0 if atol is None else atol, rtol, hermitian=bool(hermitian),
                      op="linalg.pinv")


@composite("pinverse", method=True, samples=lambda rng: [Sample([rng.standard_normal((3, 2))])])
def pinverse(input, rcond=1e-15):
    """torch.pinverse / Tensor.pinverse: :func:`pinv` with ``rtol=rcond``."""
    return pinv(input, rtol=rcond)


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def _full_rank(rank, n):
    """Every matrix of the batch has rank n (lstsq then fills residuals)."""
    return bool((rank == n).all())


def _lstsq_samples(rng):
    r = rng.standard_normal
    return [Sample([r((4, 2)), r((4, 3))]), Sample([r((3, 3)), r((3,))]),
            Sample([r((2, 4, 3)), r((1, 4, 2))], {"driver": "gelsd"}),
            Sample([r((2, 3)), r((2, 2))])]


@composite("linalg.lstsq", samples=_lstsq_samples)
def lstsq(A, B, rcond=None, *, driver=None):
    """torch.linalg.lstsq: X minimizing ||A X - B|| (the least-norm one if A is rank
    deficient) for A (..., m, n) and B (..., m, k) or (..., m) (batch dims broadcast), as
    the namedtuple (solution, residuals, rank, singular_values), filled as PyTorch's CPU
    drivers fill them: residuals (the squared residual of each column) when m > n, A has
    full rank and the driver is not 'gelsy' (the default); rank unless 'gels';
    singular_values for 'gelsd' and 'gelss'; the others are empty. The solution is pinv(A)
    @ B with rtol = rcond (default eps * max(m, n)); ranks count singular values above
    rcond * s_max. Its gradient is the gradient of pinv(A) @ B, as in PyTorch; residuals
    are differentiable too (PyTorch drops gradients through them); singular_values carry no
    gradient, as PyTorch's."""
    from .solve import _as_float
    A = check_matrix(A, "linalg.lstsq")
    B = _as_float(B)
    driver = "gelsy" if driver is None else driver
    if driver not in _DRIVERS:
        raise RuntimeError(f"linalg.lstsq: parameter `driver` should be one of "
                           f"{', '.join(_DRIVERS)}, got {driver!r}")
    vec = B.ndim == A.ndim - 1
    if B.ndim < 1 or not (vec or B.ndim == A.ndim) or B.shape[-1 if vec else -2] != A.shape[-2]:
        raise ShapeError(f"linalg.lstsq: B must have the shape (..., m, k) or (..., m) with "
                         f"m = {A.shape[-2]} rows as A, got A {list(A.shape)} and B "
                         f"{list(B.shape)}")
    b = unsqueeze(B, -1) if vec else B
    m, n = A.shape[-2:]
    if rcond is None:
        rcond = float(xp_of(A).finfo(A.dtype).eps) * max(m, n)
    x = pinv(A, rtol=rcond) @ b
    empty = const_like([], A, dtype=A.dtype)
    s = svdvals(A) if driver != "gels" else None
    rank = empty.to(backend.int64)
    if s is not None:
        s_max = s[..., :1] if s.shape[-1] else s.sum(dim=-1, keepdim=True)
        rank = (s > rcond * s_max).sum(dim=-1)
    residuals = empty
    if m > n and driver != "gelsy" and (driver == "gels" or _full_rank(rank._data, n)):
        guard(rank._data, _full_rank, n, what=f"A has full rank {n}")
        residuals = ((A @ x - b) ** 2).sum(dim=-2)
    return Lstsq(squeeze(x, -1) if vec else x, residuals, rank,
                 s.detach() if driver in ("gelsd", "gelss") else empty)
