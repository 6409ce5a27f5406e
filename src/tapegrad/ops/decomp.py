"""Matrix decompositions by ``torch.linalg``'s names: cholesky, qr, eigh, eigvalsh (svd,
svdvals, pinv and lstsq are in ops/svd.py).

An op has one output, so each decomposition is one primitive whose forward packs its
results into one array (``(..., total)``: each result flattened over its matrix dims, side
by side); the public function unpacks them with slices, which are differentiable, so a
loss that reads only some results sends zeros for the others. The VJP and JVP rules are
tensor ops on the packed output, so every order of derivative follows.

Conventions:

- Hermitian input (cholesky, eigh, eigvalsh): only one triangle is read (the lower one;
  ``UPLO='U'``: the upper one), as in LAPACK and PyTorch, and the gradient is PyTorch's
  symmetric one: the gradient along symmetric perturbations (a symmetric parameter stays
  symmetric under gradient descent). It is not the derivative along perturbations of the
  unread triangle (which is 0), so the registry's finite-difference tests, which perturb
  every entry, can't check these ops: tests/test_linalg_round2.py checks them through
  ``A + A^T``, as PyTorch's own OpInfo tests do.
- Signs: an eigenvector is defined up to its sign, and LAPACK libraries choose differently
  (NumPy's OpenBLAS and PyTorch's MKL disagree on about half of random matrices, a GPU
  again). tapegrad fixes the sign: each eigenvector has its entry of largest magnitude
  positive (the first such entry on a tie), on every device. A loss must not depend on the
  sign (PyTorch's rule), and then the gradient is the same under any convention.
- Repeated eigenvalues: eigenvectors are not differentiable there. The rules divide by
  gaps λ_j - λ_i; tapegrad takes 1 / (λ_j - λ_i) as 0 where the two are exactly equal
  (TensorFlow's convention), so gradients stay finite: a loss of the eigenvalues alone has
  its exact gradient (also through eigh's vectors output, which then gets zeros), while a
  loss of the vectors gets one finite choice, which misses the coupling inside the repeated
  group. PyTorch returns inf or NaN for the latter. Near-equal eigenvalues make the
  gradient large (1 / gap), as in PyTorch.
- QR keeps LAPACK's Householder signs (R's diagonal may be negative): NumPy, CuPy and
  PyTorch all agree on them.
"""
import collections
import math

from ..core.function import Function
from ..core.registry import primitive, composite
from ..core.errors import ShapeError
from ._util import Sample, const_like
from .diag import diagonal, diag_embed, tril, triu
from .elementwise import where
from .index import cat
from .pad import pad
from .shape import reshape, unsqueeze, _mT
from .solve import Solve, Inverse, _as_float

Eigh = collections.namedtuple("Eigh", ["eigenvalues", "eigenvectors"])
QR = collections.namedtuple("QR", ["Q", "R"])


# -- shared helpers (ops/svd.py uses them too) -------------------------------------------------
def check_matrix(A, op, square=False):
    """A float tensor (integers become the default float) that is a batch of matrices (of
    square ones when ``square``); ShapeError naming ``op`` otherwise."""
    A = _as_float(A)
    if A.ndim < 2 or square and A.shape[-1] != A.shape[-2]:
        what = "square matrices" if square else "matrices"
        raise ShapeError(f"{op}: A must be a batch of {what} (at least 2 dims), but got shape "
                         f"{list(A.shape)}")
    return A


def lapack(xp, op, fn, a, **kw):
    """``fn(a, **kw)`` from the array module's linalg; LAPACK's failure to converge as
    PyTorch's RuntimeError naming ``op``."""
    try:
        return fn(a, **kw)
    except xp.linalg.LinAlgError:
        raise RuntimeError(f"{op}: the algorithm failed to converge on the input of shape "
                           f"{list(a.shape)} (does it hold NaN or inf?)") from None


def pack(xp, batch, *arrays):
    """Arrays with leading dims ``batch`` as one (*batch, total) array."""
    nb = len(batch)
    return xp.concatenate([a.reshape(batch + (math.prod(a.shape[nb:]),)) for a in arrays],
                          axis=-1)


def pack_t(batch, *tensors):
    """:func:`pack` for tensors (differentiably: the JVP rules' packed tangents)."""
    nb = len(batch)
    return cat([reshape(t, batch + (math.prod(t.shape[nb:]),)) for t in tensors], dim=-1)


def unpack(p, batch, shapes):
    """The tensors a packed tensor holds (differentiable slices), given their matrix dims."""
    out, at = [], 0
    for s in shapes:
        n = math.prod(s)
        out.append(reshape(p[..., at:at + n], batch + tuple(s)))
        at += n
    return out


def inv_gaps(w):
    """F_ij = 1 / (w_j - w_i) for w_i != w_j and 0 where they are equal (the diagonal, and
    exactly repeated values). The inner ``where`` keeps the unused branch finite, so the
    derivative of F is finite as well."""
    e = unsqueeze(w, -2) - unsqueeze(w, -1)
    same = e == 0
    return where(same, 0.0, 1.0 / where(same, 1.0, e))


def sym(x):
    """(x + x^T) / 2: the symmetric part (what a symmetric perturbation sees)."""
    return (x + _mT(x)) * 0.5


def signs(xp, u, axis):
    """+1/-1 per vector of ``u`` (vectors along ``axis``; the result keeps a 1 there) making
    each vector's entry of largest magnitude positive."""
    idx = xp.expand_dims(xp.argmax(xp.abs(u), axis=axis), axis)
    return xp.where(xp.take_along_axis(u, idx, axis=axis) < 0, -1.0, 1.0).astype(u.dtype)


def right_solve(b, r, transposed=False):
    """B R^-1 (``transposed``: B R^-T), batched, by one solve with R^T (R)."""
    return _mT(Solve.apply(r if transposed else _mT(r), _mT(b)))


# -- Cholesky -----------------------------------------------------------------------------------
@primitive("cholesky_lower", public=False)
class Cholesky(Function):
    """L with A = L L^T, L lower triangular with a positive diagonal (A's lower triangle is
    read). With Φ(X) = tril(X) with its diagonal halved, dL = L Φ(L^-1 sym(dA) L^-T)
    (JVP), and the VJP is its adjoint, L^-T sym(Φ(L^T g)) L^-1 (PyTorch's symmetric
    gradient). Primitive: a composite of elementary ops can't compute L."""

    save_output = True

    @staticmethod
    def forward(ctx, a, op):
        xp = ctx.xp
        # the matrix LAPACK sees, built explicitly so every backend reads the same triangle
        a = xp.tril(a) + xp.swapaxes(xp.tril(a, -1), -1, -2)
        try:
            out = xp.linalg.cholesky(a)
        except xp.linalg.LinAlgError:
            out = None
        # CuPy reports no failure: a factorization that stopped leaves a diagonal entry <= 0
        # (or NaN) where the leading minor is not positive-definite
        if out is None or out.size and not bool((xp.diagonal(out, 0, -2, -1) > 0).all()):
            raise RuntimeError(f"{op}: the input of shape {list(a.shape)} is not "
                               f"positive-definite; the factorization could not be completed")
        return out

    @staticmethod
    def vjp(ctx, g):
        L = ctx.output
        p = tril(_mT(L) @ g)   # only tril(g) matters: L^T triu(g, 1) is strictly upper
        p = (p + _mT(tril(p, -1))) * 0.5   # sym(Φ(.)): diagonal halved, mirrored
        li = Inverse.apply(L)
        return _mT(li) @ p @ li

    @staticmethod
    def jvp(ctx, t):
        L = ctx.output
        li = Inverse.apply(L)
        x = li @ sym(t) @ _mT(li)
        return L @ (tril(x, -1) + diag_embed(diagonal(x, 0, -2, -1) * 0.5))


def _cholesky(A, upper, op):
    A = check_matrix(A, op, square=True)
    L = Cholesky.apply(A, op=op)
    return _mT(L) if upper else L


@composite("linalg.cholesky")
def cholesky(A, *, upper=False):
    """torch.linalg.cholesky: L with A = L L^T (``upper=True``: U = L^T, A = U^T U) for a
    batch (..., n, n) of symmetric positive-definite matrices; only the lower triangle of A
    is read. Gradient: PyTorch's symmetric one (see the module's notes). Raises ShapeError
    for non-square input and RuntimeError when A is not positive-definite."""
    return _cholesky(A, upper, "linalg.cholesky")


@composite("cholesky", method=True)
def cholesky_legacy(input, upper=False):
    """torch.cholesky / Tensor.cholesky (``upper`` may be positional): the same as
    :func:`tapegrad.linalg.cholesky`."""
    return _cholesky(input, upper, "cholesky")


# -- symmetric eigendecomposition -------------------------------------------------------------
@primitive("eigh_packed", public=False)
class EighPacked(Function):
    """(w, V) with A = V diag(w) V^T, w ascending, packed as [w, V]. With C = V^T sym(dA) V
    and F_ij = 1 / (w_j - w_i) (0 for equal values): dw = diag(C), dV = V (F o C). The VJP
    is the adjoint: V (diag(gw) + F o skew(V^T gV)) V^T, symmetric. Primitive: LAPACK's
    syevd computes it."""

    save_output = True

    @staticmethod
    def forward(ctx, a, uplo, op):
        xp = ctx.xp
        n = a.shape[-1]
        ctx.layout = (a.shape[:-2], ((n,), (n, n)))
        w, v = lapack(xp, op, xp.linalg.eigh, a, UPLO=uplo)
        if n:
            v = v * signs(xp, v, -2)
        return pack(xp, a.shape[:-2], w, v)

    @staticmethod
    def vjp(ctx, g):
        w, v = unpack(ctx.output, *ctx.layout)
        gw, gv = unpack(g, *ctx.layout)
        x = _mT(v) @ gv
        return v @ (inv_gaps(w) * ((x - _mT(x)) * 0.5) + diag_embed(gw)) @ _mT(v)

    @staticmethod
    def jvp(ctx, t):
        w, v = unpack(ctx.output, *ctx.layout)
        c = _mT(v) @ sym(t) @ v
        return pack_t(ctx.layout[0], diagonal(c, 0, -2, -1), v @ (inv_gaps(w) * c))


def _uplo(UPLO, op):
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"{op}: UPLO must be 'L' or 'U', got {UPLO!r}")
    return UPLO


@composite("linalg.eigh")
def eigh(A, UPLO="L"):
    """torch.linalg.eigh: eigenvalues (ascending) and orthonormal eigenvectors (columns) of a
    batch (..., n, n) of symmetric matrices, as a namedtuple (eigenvalues, eigenvectors).
    Reads the lower triangle (``UPLO='U'``: the upper one). Each eigenvector's entry of
    largest magnitude is positive. Gradient: symmetric; at exactly repeated eigenvalues the
    coupling 1/(w_j - w_i) is taken as 0 (see the module's notes). Raises ShapeError for
    non-square input, RuntimeError for another UPLO."""
    A = check_matrix(A, "linalg.eigh", square=True)
    p = EighPacked.apply(A, uplo=_uplo(UPLO, "linalg.eigh"), op="linalg.eigh")
    n = A.shape[-1]
    return Eigh(*unpack(p, A.shape[:-2], ((n,), (n, n))))


@primitive("eigvalsh", public=False)
class EigvalsH(Function):
    """w = eigenvalues of symmetric A (ascending); dw = diag(V^T sym(dA) V), so the VJP is
    V diag(g) V^T. Primitive so the forward computes values only (LAPACK skips the
    vectors); the rules take V from :func:`eigh` of the input, so they are differentiable
    again (second order goes through the eigenvectors)."""

    save_inputs = True

    @staticmethod
    def forward(ctx, a, uplo, op):
        return lapack(ctx.xp, op, ctx.xp.linalg.eigvalsh, a, UPLO=uplo)

    @staticmethod
    def _v(ctx):
        return eigh(ctx.inputs[0], ctx.params["uplo"]).eigenvectors

    @staticmethod
    def vjp(ctx, g):
        v = EigvalsH._v(ctx)
        return (v * unsqueeze(g, -2)) @ _mT(v)

    @staticmethod
    def jvp(ctx, t):
        v = EigvalsH._v(ctx)
        return ((_mT(v) @ sym(t)) * _mT(v)).sum(dim=-1)


@composite("linalg.eigvalsh")
def eigvalsh(A, UPLO="L"):
    """torch.linalg.eigvalsh: the eigenvalues (ascending) of a batch of symmetric matrices,
    reading one triangle. Its gradient is exact at repeated eigenvalues too (where the sorted
    values have a kink, it is the one of the eigenvector basis LAPACK returned)."""
    A = check_matrix(A, "linalg.eigvalsh", square=True)
    return EigvalsH.apply(A, uplo=_uplo(UPLO, "linalg.eigvalsh"), op="linalg.eigvalsh")


# -- QR -----------------------------------------------------------------------------------------
def _qr_vjp_tall(q, r, gq, gr):
    """VJP of A = QR for m >= n (Q m x n, R n x n): with M = gR R^T - Q^T gQ and N the
    symmetric matrix with M's upper triangle, gA = (gQ + Q N) R^-T."""
    m = gr @ _mT(r) - _mT(q) @ gq
    n = triu(m) + _mT(triu(m, 1))
    return right_solve(gq + q @ n, r, transposed=True)


def _qr_jvp_tall(q, r, da):
    """JVP of A = QR for m >= n: with X = Q^T dA R^-1 and Ω = tril(X, -1) - tril(X, -1)^T
    (Q^T dQ, skew), dR = (X - Ω) R and dQ = dA R^-1 - Q (X - Ω)."""
    dar = right_solve(da, r)
    x = _mT(q) @ dar
    lo = tril(x, -1)
    up = x - lo + _mT(lo)      # X - Ω: upper triangular
    return dar - q @ up, up @ r


@primitive("qr_packed", public=False)
class QRPacked(Function):
    """(Q, R) with A = QR (Householder, LAPACK's signs), packed. m >= n: see _qr_vjp_tall
    and _qr_jvp_tall. m < n: A = [X | Y] with X = Q U square and Y = Q V, R = [U | V]; X
    follows the square rule with gQ + Y gV^T for gQ, gY = Q gV, and dV = Q^T (dY - dQ V).
    ``complete`` with m > n: the last m - n columns of Q are any basis of the complement;
    as PyTorch's SVD does for such columns, their cotangent is ignored and their tangent is
    0 (PyTorch's QR raises instead). Primitive: LAPACK's geqrf computes it."""

    save_output = True

    @staticmethod
    def forward(ctx, a, complete, op):
        xp = ctx.xp
        q, r = lapack(xp, op, xp.linalg.qr, a, mode="complete" if complete else "reduced")
        ctx.layout = (a.shape[:-2], (q.shape[-2:], r.shape[-2:]))
        return pack(xp, a.shape[:-2], q, r)

    @staticmethod
    def vjp(ctx, g):
        q, r = unpack(ctx.output, *ctx.layout)
        gq, gr = unpack(g, *ctx.layout)
        m, n = q.shape[-2], r.shape[-1]
        if m >= n:
            return _qr_vjp_tall(q[..., :n], r[..., :n, :], gq[..., :n], gr[..., :n, :])
        u, v, gu, gv = r[..., :m], r[..., m:], gr[..., :m], gr[..., m:]
        gx = _qr_vjp_tall(q, u, gq + (q @ v) @ _mT(gv), gu)
        return cat([gx, q @ gv], dim=-1)

    @staticmethod
    def jvp(ctx, t):
        q, r = unpack(ctx.output, *ctx.layout)
        m, n = q.shape[-2], r.shape[-1]
        if m >= n:
            dq, dr = _qr_jvp_tall(q[..., :n], r[..., :n, :], t)
            if q.shape[-1] > n:   # complete: the basis of the complement does not move
                dq, dr = pad(dq, (0, m - n)), pad(dr, (0, 0, 0, m - n))
        else:
            dq, du = _qr_jvp_tall(q, r[..., :m], t[..., :m])
            dr = cat([du, _mT(q) @ (t[..., m:] - dq @ r[..., m:])], dim=-1)
        return pack_t(ctx.layout[0], dq, dr)


def _qr_samples(rng):
    r = rng.standard_normal
    return [Sample([r((4, 3))]), Sample([r((3, 3))]), Sample([r((2, 3, 5))]),
            Sample([r((3, 4))], {"mode": "complete"}), Sample([r((0, 3, 2))])]


_QR_MODES = ("reduced", "complete", "r")


def _qr(A, mode, op):
    A = check_matrix(A, op)
    if mode not in _QR_MODES:
        raise RuntimeError(f"{op}: mode must be one of 'reduced' (the default), 'complete' "
                           f"or 'r', got {mode!r}")
    m, n = A.shape[-2:]
    complete = mode == "complete" and m > n
    p = QRPacked.apply(A, complete=complete, op=op)
    k = m if complete else min(m, n)
    q, r = unpack(p, A.shape[:-2], ((m, k), (k, n)))
    if mode == "r":   # PyTorch returns an empty Q; R stays differentiable here
        q = const_like([], A, dtype=A.dtype)
    return QR(q, r)


@composite("linalg.qr", samples=_qr_samples)
def qr(A, mode="reduced"):
    """torch.linalg.qr: A = QR for a batch (..., m, n), as a namedtuple (Q, R), k = min(m,
    n). ``mode``: 'reduced' (Q (m, k), R (k, n)), 'complete' (Q (m, m), R (m, n)), or 'r'
    (R only; Q is an empty tensor). Differentiable in every mode (PyTorch's QR refuses
    'complete' with m > n and 'r'; see QRPacked). R's diagonal has LAPACK's signs, as in
    PyTorch. The gradient needs the first k columns of A independent (R invertible)."""
    return _qr(A, mode, "linalg.qr")


@composite("qr", method=True, samples=lambda rng: [Sample([rng.standard_normal((4, 3))])])
def qr_legacy(input, some=True):
    """torch.qr / Tensor.qr: ``some=True`` is mode 'reduced', ``some=False`` 'complete'."""
    return _qr(input, "reduced" if some else "complete", "qr")
