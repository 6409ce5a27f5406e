"""Matrix products. ``matmul`` is the primitive; the 1-d cases are handled by giving the
vector a unit dimension so one rule covers every case."""
import builtins
import collections
import string

from .. import backend
from ..core.function import Function, primitive, composite, linear_jvp
from ..core.tensor import Tensor, _make
from ._util import Sample, sum_to, broadcast_to
from .shape import unsqueeze, squeeze, transpose

xp = backend.xp


def _matmul_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 3)), r((3, 4))]), Sample([r((3,)), r((3, 4))]),
            Sample([r((2, 3)), r((3,))]), Sample([r((3,)), r((3,))]),
            Sample([r((2, 2, 3)), r((3, 4))]), Sample([r((2, 1, 2, 3)), r((3, 3, 2))]),
            Sample([r((0, 3)), r((3, 2))])]


@primitive("matmul", method=True, dunders=("__matmul__",), rdunders=("__rmatmul__",),
           samples=_matmul_samples)
class Matmul(Function):
    """y = a @ b (NumPy's matmul: batched, broadcasting, 1-d operands allowed);
    dy/da = g @ b^T, dy/db = a^T @ g, summed back over broadcast batch dims."""

    promote = True
    save_inputs = True

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                               f"{list(a.shape)} and {list(b.shape)}")
        try:
            return a @ b
        except ValueError:
            raise RuntimeError(f"matmul: shapes {list(a.shape)} and {list(b.shape)} cannot be "
                               f"multiplied (inner sizes {a.shape[-1]} and "
                               f"{b.shape[-2] if b.ndim > 1 else b.shape[0]} differ)") from None

    @staticmethod
    def vjp(ctx, g):
        a, b = ctx.inputs
        na, nb = ctx.needs_input_grad
        a2 = unsqueeze(a, 0) if a.ndim == 1 else a
        b2 = unsqueeze(b, -1) if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:
            g2 = unsqueeze(g2, -1)
        if a.ndim == 1:
            g2 = unsqueeze(g2, -2)
        ga = gb = None
        if na:
            ga = g2 @ transpose(b2, -1, -2)
            ga = squeeze(ga, -2) if a.ndim == 1 else ga
            ga = sum_to(ga, a.shape)
        if nb:
            gb = transpose(a2, -1, -2) @ g2
            gb = squeeze(gb, -1) if b.ndim == 1 else gb
            gb = sum_to(gb, b.shape)
        return ga, gb

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.inputs
        out = None if ta is None else ta @ b
        if tb is not None:
            out = a @ tb if out is None else out + a @ tb
        return out


@composite("mm", method=True)
def mm(a, b):
    """Matrix product of two 2-d tensors."""
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {list(a.shape)} and "
                           f"{list(b.shape)}")
    return Matmul.apply(a, b)


@composite("bmm", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 3, 2))]),
    Sample([rng.standard_normal((1, 3, 1)), rng.standard_normal((1, 1, 2))])])
def bmm(a, b):
    """Batched matrix product of (B, n, m) and (B, m, p) tensors (no broadcasting)."""
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"bmm: batch1 and batch2 must be 3D tensors, got shapes "
                           f"{list(a.shape)} and {list(b.shape)}")
    if b.shape[:2] != (a.shape[0], a.shape[2]):
        raise RuntimeError(f"bmm: expected size for first two dimensions of batch2 tensor to "
                           f"be: [{a.shape[0]}, {a.shape[2]}] but got: {list(b.shape[:2])} "
                           f"(shapes {list(a.shape)} and {list(b.shape)})")
    return Matmul.apply(a, b)


@composite("mv", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3)), rng.standard_normal((3,))])])
def mv(a, v):
    """Matrix-vector product of a (n, m) matrix and a (m,) vector."""
    if a.ndim != 2 or v.ndim != 1 or a.shape[1] != v.shape[0]:
        raise RuntimeError(f"mv: size mismatch, got mat {list(a.shape)} and vec "
                           f"{list(v.shape)} (expected a 2-D matrix and a matching 1-D vector)")
    return Matmul.apply(a, v)


@composite("dot", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3,)), rng.standard_normal((3,))])])
def dot(a, b):
    """Dot product of two 1-d tensors of equal length."""
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise RuntimeError(f"dot: expected two 1-D tensors of the same size, got shapes "
                           f"{list(a.shape)} and {list(b.shape)}")
    return Matmul.apply(a, b)


@composite("inner", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3,)), rng.standard_normal((3,))]),
    Sample([rng.standard_normal((2, 3)), rng.standard_normal((4, 3))]),
    Sample([rng.standard_normal(()), rng.standard_normal((2,))])])
def inner(a, b):
    """Sum of products over the last dims: out[i.., j..] = sum_k a[i.., k] b[j.., k]
    (a 0-d operand multiplies)."""
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"inner: last dimensions of the inputs must match, got shapes "
                           f"{list(a.shape)} and {list(b.shape)}")
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 1]))


@composite("outer", method=True, aliases=("ger",), samples=lambda rng: [
    Sample([rng.standard_normal((3,)), rng.standard_normal((2,))]),
    Sample([rng.standard_normal((0,)), rng.standard_normal((2,))])])
def outer(a, b):
    """Outer product: out[i, j] = a[i] * b[j] (1-d inputs)."""
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got shapes {list(a.shape)} and "
                           f"{list(b.shape)}")
    return unsqueeze(a, 1) * unsqueeze(b, 0)


# -- einsum ---------------------------------------------------------------------------------
_LETTERS = string.ascii_letters


def _parse_einsum(eq, shapes):
    """Explicit form of an einsum equation: one letter string per operand (ellipses
    spelled out with unused letters) and the output string."""
    eq = eq.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise RuntimeError(f"einsum(): the equation '{eq}' names {len(terms)} operands but "
                           f"{len(shapes)} were given")
    bad = set(eq) - set(_LETTERS) - set(",.->")
    if bad:
        raise RuntimeError(f"einsum(): invalid subscript(s) {sorted(bad)} in '{eq}'")
    free = [c for c in _LETTERS if c not in eq]
    n_ell = 0
    for t, s in zip(terms, shapes):
        if "..." in t:
            n_ell = builtins.max(n_ell, len(s) - (len(t) - 3))
    ell = "".join(free[:n_ell])
    full = []
    for i, (t, s) in enumerate(zip(terms, shapes)):
        if "..." in t:
            k = len(s) - (len(t) - 3)
            t = t.replace("...", ell[n_ell - k:] if k > 0 else "")
        if len(t) != len(s):
            raise RuntimeError(f"einsum(): the subscripts '{terms[i]}' of operand {i} do not "
                               f"match its {len(s)} dimensions (shape {list(s)})")
        full.append(t)
    if not arrow:
        counts = collections.Counter("".join(full))
        out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    if len(set(out)) != len(out):
        raise RuntimeError(f"einsum(): output subscripts must appear only once ('{eq}')")
    for c in out:
        if c not in "".join(full):
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                               f"equation for any input operand ('{eq}')")
    return tuple(full), out


def _einsum_gemm(xp_, a, b, ta, tb, out):
    """A two-operand einsum as one batched GEMM (NumPy's einsum does not use BLAS when
    there are batch subscripts): sum away private subscripts, permute to (batch, kept,
    contracted), reshape, matmul, and permute back. None when a subscript repeats."""
    if len(set(ta)) != len(ta) or len(set(tb)) != len(tb) or a.dtype != b.dtype:
        return None
    size = dict(zip(ta, a.shape))
    size.update(zip(tb, b.shape))
    batch = [c for c in out if c in ta and c in tb]
    ka = [c for c in out if c in ta and c not in tb]
    kb = [c for c in out if c in tb and c not in ta]
    con = [c for c in ta if c in tb and c not in out]
    sa = tuple(i for i, c in enumerate(ta) if c not in tb and c not in out)
    sb = tuple(i for i, c in enumerate(tb) if c not in ta and c not in out)
    if sa:
        a, ta = a.sum(axis=sa), "".join(c for i, c in enumerate(ta) if i not in sa)
    if sb:
        b, tb = b.sum(axis=sb), "".join(c for i, c in enumerate(tb) if i not in sb)
    prod_ = lambda cs: int(xp_.prod([size[c] for c in cs])) if cs else 1  # noqa: E731
    a2 = a.transpose([ta.index(c) for c in batch + ka + con]).reshape(
        prod_(batch), prod_(ka), prod_(con))
    b2 = b.transpose([tb.index(c) for c in batch + con + kb]).reshape(
        prod_(batch), prod_(con), prod_(kb))
    r = (a2 @ b2).reshape([size[c] for c in batch + ka + kb])
    order = batch + ka + kb
    return r.transpose([order.index(c) for c in out])


@primitive("einsum", public=False)
class Einsum(Function):
    """y = einsum(spec, *xs): a multilinear contraction. The VJP for operand k is again an
    einsum, of g with the other operands, writing operand k's subscripts; a subscript
    repeated in operand k (a diagonal) is written through an identity matrix and one that
    appears only in operand k (summed away) through a vector of ones."""

    save_inputs = True

    @staticmethod
    def forward(ctx, *arrays, terms, out):
        if len(arrays) == 2:
            r = _einsum_gemm(ctx.xp, *arrays, *terms, out)
            if r is not None:
                return r
        return ctx.xp.einsum(",".join(terms) + "->" + out, *arrays, optimize=len(arrays) > 1)

    @staticmethod
    def vjp(ctx, g):
        xs = ctx.inputs
        terms, out = ctx.params["terms"], ctx.params["out"]
        grads = []
        for k, need in enumerate(ctx.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            ops = [g] + [x for j, x in enumerate(xs) if j != k]
            ts = [out] + [t for j, t in enumerate(terms) if j != k]
            avail = set("".join(ts))
            free = iter(c for c in _LETTERS if c not in "".join(terms) + out)
            target = []
            for c, size in zip(terms[k], xs[k].shape):
                if c in target:  # repeated subscript: a diagonal of operand k
                    f = next(free)
                    target.append(f)
                    ops.append(_make(xp.eye(size, dtype=g.dtype)))
                    ts.append(c + f)
                    continue
                if c not in avail:  # summed away inside operand k: broadcast back
                    ops.append(_make(xp.ones(size, dtype=g.dtype)))
                    ts.append(c)
                    avail.add(c)
                target.append(c)
            grads.append(Einsum.apply(*ops, terms=tuple(ts), out="".join(target)))
        return tuple(grads)

    @staticmethod
    def jvp(ctx, *tangents):
        xs = ctx.inputs
        out = None
        for k, t in enumerate(tangents):
            if t is None:
                continue
            ops = list(xs[:k]) + [t] + list(xs[k + 1:])
            d = Einsum.apply(*ops, **ctx.params)
            out = d if out is None else out + d
        return out


def _einsum_samples(rng):
    r = rng.standard_normal
    return [Sample(["ij,jk->ik", r((2, 3)), r((3, 2))]),
            Sample(["bij,bjk->bik", r((2, 2, 3)), r((2, 3, 2))]),
            Sample(["ii->i", r((3, 3))]), Sample(["ii", r((3, 3))]),
            Sample(["ij->", r((2, 3))]), Sample(["ij->j", r((2, 3))]),
            Sample(["i,j->ij", r((3,)), r((2,))]), Sample(["ij,ij->i", r((2, 3)), r((2, 3))]),
            Sample(["...ij,...jk", r((2, 2, 3)), r((3, 2))]),
            Sample(["ij,jk,kl->il", r((2, 3)), r((3, 2)), r((2, 2))]),
            Sample(["iij->ij", r((2, 2, 3))]), Sample(["ij,kj", r((2, 3)), r((3, 3))]),
            Sample(["i,i->", r((3,)), r((3,))]), Sample([",i->i", r(()), r((3,))])]


@composite("einsum", samples=_einsum_samples)
def einsum(equation, *operands):
    """Einstein summation, PyTorch's ``einsum(eq, *tensors)`` (or a list of tensors):
    explicit ('ij,jk->ik') and implicit ('ij,jk') outputs, repeated subscripts
    (diagonals), ellipsis broadcasting and size-1 broadcasting. Differentiable at every
    order: its VJPs are einsums."""
    from ..core.function import promote_args
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ops = promote_args(tuple(o if isinstance(o, Tensor) else Tensor(o) for o in operands))
    terms, out = _parse_einsum(equation, [o.shape for o in ops])
    sizes = {}
    for i, (t, o) in enumerate(zip(terms, ops)):
        for c, s in zip(t, o.shape):
            prev = sizes.get(c, 1)
            if s != prev and s != 1 and prev != 1:
                raise RuntimeError(f"einsum(): subscript {c} has size {s} for operand {i} "
                                   f"which does not broadcast with previously seen size "
                                   f"{prev} (shapes {[list(o.shape) for o in ops]})")
            sizes[c] = builtins.max(prev, s) if s != 1 else prev
    # size-1 dims broadcast: expand them so each subscript has one size
    ops = [broadcast_to(o, tuple(sizes[c] for c in t)) for t, o in zip(terms, ops)]
    return Einsum.apply(*ops, terms=terms, out=out)


def _tensordot_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 3, 2)), r((3, 2, 2))], {"dims": 2}),
            Sample([r((2, 3)), r((3, 2))], {"dims": 1}),
            Sample([r((2, 3)), r((2,))], {"dims": ([0], [0])}),
            Sample([r((2, 3)), r((2,))], {"dims": 0})]


@composite("tensordot", samples=_tensordot_samples)
def tensordot(a, b, dims=2):
    """Contract the last ``dims`` dims of a with the first ``dims`` of b (or the dims given
    as a pair of lists); an einsum."""
    if isinstance(dims, int):
        if dims < 0 or dims > builtins.min(a.ndim, b.ndim):
            raise RuntimeError(f"tensordot: dims={dims} out of range for shapes "
                               f"{list(a.shape)} and {list(b.shape)}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
        da = [d % builtins.max(a.ndim, 1) for d in da]
        db = [d % builtins.max(b.ndim, 1) for d in db]
    if len(da) != len(db) or any(a.shape[i] != b.shape[j] for i, j in zip(da, db)):
        raise RuntimeError(f"tensordot: contracted dims {da} of {list(a.shape)} and {db} of "
                           f"{list(b.shape)} differ in number or size")
    la = _LETTERS[:a.ndim]
    lb = list(_LETTERS[a.ndim:a.ndim + b.ndim])
    for i, j in zip(da, db):
        lb[j] = la[i]
    lb = "".join(lb)
    out = "".join(c for i, c in enumerate(la) if i not in da) + \
        "".join(c for j, c in enumerate(lb) if j not in db)
    from ..core.function import promote_args
    return Einsum.apply(*promote_args((a, b)), terms=(la, lb), out=out)


# -- diagonals and triangles ----------------------------------------------------------------
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
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D (shape "
                       f"{list(x.shape)})")


@composite("trace", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3, 3))]), Sample([rng.standard_normal((2, 3))])])
def trace(x):
    """Sum of the main diagonal of a 2-d tensor."""
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim} "
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
            raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions, got "
                               f"shape {list(x.shape)}")
        return Triangle.apply(x, k=int(diagonal), upper=upper)
    public.__doc__ = (f"The {'upper' if upper else 'lower'} triangle of the last two dims "
                      f"(from diagonal ``diagonal`` on); the rest set to 0.")
    return composite(name, method=True, samples=_tri_samples)(public)


triu = _tri("triu", True)
tril = _tri("tril", False)


# -- inverse, determinant, solve ------------------------------------------------------------
def _square(x, op):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise RuntimeError(f"{op}: A must be batches of square matrices, but got shape "
                           f"{list(x.shape)}")


def _mT(x):
    return transpose(x, -1, -2)


def _singular(op, shape):
    return RuntimeError(f"{op}: the input matrix is singular (shape {list(shape)}); the "
                        f"operation could not be completed")


@primitive("inverse", public=False)
class Inverse(Function):
    """Y = A^-1 (batched);  dY = -Y dA Y, so the VJP is -Y^T g Y^T."""

    save_output = True

    @staticmethod
    def forward(ctx, a):
        try:
            return ctx.xp.linalg.inv(a)
        except ctx.xp.linalg.LinAlgError:
            raise _singular("linalg.inv", a.shape) from None

    @staticmethod
    def vjp(ctx, g):
        yt = _mT(ctx.output)
        return -(yt @ g @ yt)

    @staticmethod
    def jvp(ctx, t):
        y = ctx.output
        return -(y @ t @ y)


def _as_float(x):
    return x if x.dtype.kind == "f" else x.to(backend.DEFAULT_FLOAT)


def _mat_samples(rng, shapes=((3, 3), (2, 2, 2), (1, 1))):
    # well-conditioned: identity plus a small random part
    return [Sample([xp.eye(s[-1]) * 2 + 0.5 * rng.standard_normal(s)]) for s in shapes]


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
    keep = xp.array([[j for j in range(n) if j != i] for i in idx])  # (n, n-1)
    minors = a[..., keep[:, None, :, None], keep[None, :, None, :]]  # (..., n, n, n-1, n-1)
    sign = _make(((-1.0) ** (idx[:, None] + idx[None, :])).astype(ad.dtype))
    return sign * Det.apply(minors)


@primitive("det", public=False)
class Det(Function):
    """y = det(A) (batched);  dy/dA = cofactor matrix of A: det(A) A^-T when A is well
    conditioned; otherwise signed minors (exact at every order, n <= 12) or, for larger
    singular A, the SVD's cofactors (first order only). Singular A gets the right, finite
    gradient, not NaN."""

    save_inputs = True

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
        Sample([xp.array([[1.0, 2.0], [2.0, 4.0]])], name="singular"),
        Sample([xp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])],
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
    """y = log|det(A)|;  dy/dA = A^-T."""

    save_inputs = True

    @staticmethod
    def forward(ctx, a):
        return ctx.xp.linalg.slogdet(a)[1]

    @staticmethod
    def vjp(ctx, g):
        return unsqueeze(unsqueeze(g, -1), -1) * _mT(Inverse.apply(ctx.inputs[0]))

    @staticmethod
    def jvp(ctx, t):
        return (t * _mT(Inverse.apply(ctx.inputs[0]))).sum(dim=(-2, -1))


SlogDet = collections.namedtuple("SlogDet", ["sign", "logabsdet"])


@composite("slogdet", method=True)  # the rule is tested through logdet's samples
def slogdet(a):
    """(sign, log|det|) of a square matrix (or batch); sign carries no gradient."""
    a = _as_float(a)
    _square(a, "linalg.slogdet")
    from .elementwise import where
    sign = _make(xp.sign(xp.linalg.det(a._data)).astype(a.dtype))
    lad = LogAbsDet.apply(a)
    # sign is piecewise constant: gradient 0, but part of the graph as in PyTorch
    return SlogDet(where(xp.zeros(sign.shape, bool), lad, sign), lad)


@composite("logdet", method=True, samples=lambda rng: _mat_samples(rng))
def logdet(a):
    """log det(A): nan for negative determinants, -inf for singular A (as PyTorch)."""
    sign, lad = slogdet(a)
    s = sign._data
    fix = xp.where(s > 0, 0.0, xp.where(s == 0, -xp.inf, xp.nan)).astype(lad.dtype)
    return lad + _make(fix) if (s <= 0).any() else lad


@primitive("solve", public=False)
class Solve(Function):
    """X = A^-1 B (B a batch of matrices, batch dims broadcast);
    dB = A^-T g, dA = -dB X^T (summed back over broadcast batch dims)."""

    save_inputs = True
    save_output = True

    @staticmethod
    def forward(ctx, a, b):
        try:
            return ctx.xp.linalg.solve(a, b)
        except ctx.xp.linalg.LinAlgError:
            raise RuntimeError(f"linalg.solve: The solver failed because the input matrix is "
                               f"singular (A shape {list(a.shape)})") from None

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
                           _make(xp.zeros(x.shape, x.dtype)))


def _solve_samples(rng):
    a = _mat_samples(rng)[0].args[0]
    r = rng.standard_normal
    return [Sample([a, r((3,))]), Sample([a, r((3, 2))]),
            Sample([xp.eye(2) * 2 + 0.4 * r((2, 2, 2)), r((2, 2))], name="batched vectors"),
            Sample([a, r((2, 3, 1))], name="broadcast B"),
            Sample([xp.eye(2) * 2 + 0.4 * r((2, 1, 2, 2)), r((3, 2, 1))], name="broadcast A")]


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
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"AX = B ({'x'.join(map(str, A.shape[-2:]))} and "
                           f"{'x'.join(map(str, b.shape[-2:]))}; A {list(A.shape)}, "
                           f"B {list(B.shape)})")
    x = Solve.apply(A, b)
    return squeeze(x, -1) if vec else x


composite("linalg.solve", samples=_solve_samples)(solve)


# -- matrix norms ---------------------------------------------------------------------------
def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """Matrix norm over the two dims ``dim``: 'fro' (the default), 1 / -1 (max / min
    absolute column sum), inf / -inf (max / min absolute row sum). 2, -2 and 'nuc' need
    singular values and are not supported."""
    from .reduce import vector_norm, amax, amin
    if dtype is not None:
        A = A.to(dtype)
    if A.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 "
                           f"dimensions, got shape {list(A.shape)}")
    d = tuple(_axis(x, A.ndim, "linalg.matrix_norm") for x in dim)
    if len(d) != 2 or d[0] == d[1]:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple of different dims, "
                           f"got {dim}")
    if ord == "fro":
        return vector_norm(A, 2, d, keepdim)
    if ord not in (1, -1, float("inf"), -float("inf")):
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} is not supported "
                                  f"(use 'fro', 1, -1, inf or -inf)")
    # 1-norms sum over rows (dim[0]) then take the extreme over columns; inf the other way
    s_dim, e_dim = (d[0], d[1]) if abs(ord) == 1 else (d[1], d[0])
    s = A.abs().sum(dim=s_dim, keepdim=True)
    out = (amax if ord > 0 else amin)(s, dim=e_dim, keepdim=True)
    return out if keepdim else squeeze(out, d)


def _matrix_norm_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 3))]), Sample([r((2, 2, 3))], {"ord": 1}),
            Sample([r((3, 2))], {"ord": float("inf"), "keepdim": True}),
            Sample([r((2, 3))], {"ord": -1}), Sample([r((3, 2, 2))], {"dim": (0, 2)})]


composite("linalg.matrix_norm", samples=_matrix_norm_samples)(matrix_norm)


def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a vector norm when ``dim`` is an int (or A is 1-d, or ord is None
    and dim is None: the 2-norm of all elements); a matrix norm when ``dim`` is a 2-tuple
    (or A is 2-d and ord is given)."""
    from .reduce import vector_norm
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) == 2 or dim is None and ord is not None and A.ndim == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dim or (-2, -1), keepdim,
                           dtype=dtype)
    if dim is None and ord is not None and A.ndim != 1:
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must "
                           f"be 1D or 2D. Got {A.ndim}D (shape {list(A.shape)})")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


composite("linalg.norm", samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))]), Sample([rng.standard_normal((2, 3))], {"ord": "fro"}),
    Sample([rng.standard_normal((2, 3))], {"ord": 1}),
    Sample([rng.standard_normal((4,))], {"ord": 3}),
    Sample([rng.standard_normal((2, 3))], {"dim": 1})])(linalg_norm)
