"""Matrix products. ``matmul`` is the primitive; the 1-d cases are handled by giving the
vector a unit dimension so one rule covers every case."""
import builtins
import collections
import math
import string

from .. import backend
from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite
from ..core.tensor import Tensor, _make
from ._util import Sample, sum_to, broadcast_to
from .shape import unsqueeze, squeeze, transpose


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

    array_vjp = True
    promote = True
    save_inputs = True
    saves = ((1,), (0,))

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                             f"{list(a.shape)} and {list(b.shape)}")
        try:
            return backend.matmul(a, b)
        except ValueError:
            raise ShapeError(f"matmul: shapes {list(a.shape)} and {list(b.shape)} cannot be "
                             f"multiplied (inner sizes {a.shape[-1]} and "
                             f"{b.shape[-2] if b.ndim > 1 else b.shape[0]} differ)") from None

    @staticmethod
    def vjp(ctx, g):
        a, b = ctx.inputs    # (only what the needed gradients read; the other: its shape)
        na, nb = ctx.needs_input_grad
        g2 = g
        if b.ndim == 1:
            g2 = unsqueeze(g2, -1)
        if a.ndim == 1:
            g2 = unsqueeze(g2, -2)
        ga = gb = None
        if na:
            ga = Matmul.apply(g2, transpose(unsqueeze(b, -1) if b.ndim == 1 else b, -1, -2))
            ga = squeeze(ga, -2) if a.ndim == 1 else ga
            ga = sum_to(ga, a.shape)
        if nb:
            gb = Matmul.apply(transpose(unsqueeze(a, 0) if a.ndim == 1 else a, -1, -2), g2)
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
        raise ShapeError(f"mm: expected 2-D tensors, got shapes {list(a.shape)} and "
                         f"{list(b.shape)}")
    return Matmul.apply(a, b)


@composite("bmm", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 3, 2))]),
    Sample([rng.standard_normal((1, 3, 1)), rng.standard_normal((1, 1, 2))])])
def bmm(a, b):
    """Batched matrix product of (B, n, m) and (B, m, p) tensors (no broadcasting)."""
    if a.ndim != 3 or b.ndim != 3:
        raise ShapeError(f"bmm: batch1 and batch2 must be 3D tensors, got shapes "
                         f"{list(a.shape)} and {list(b.shape)}")
    if b.shape[:2] != (a.shape[0], a.shape[2]):
        raise ShapeError(f"bmm: expected size for first two dimensions of batch2 tensor to "
                         f"be: [{a.shape[0]}, {a.shape[2]}] but got: {list(b.shape[:2])} "
                         f"(shapes {list(a.shape)} and {list(b.shape)})")
    return Matmul.apply(a, b)


@composite("mv", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3)), rng.standard_normal((3,))])])
def mv(a, v):
    """Matrix-vector product of a (n, m) matrix and a (m,) vector."""
    if a.ndim != 2 or v.ndim != 1 or a.shape[1] != v.shape[0]:
        raise ShapeError(f"mv: size mismatch, got mat {list(a.shape)} and vec "
                         f"{list(v.shape)} (expected a 2-D matrix and a matching 1-D vector)")
    return Matmul.apply(a, v)


@composite("dot", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3,)), rng.standard_normal((3,))])])
def dot(a, b):
    """Dot product of two 1-d tensors of equal length."""
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ShapeError(f"dot: expected two 1-D tensors of the same size, got shapes "
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
        raise ShapeError(f"inner: last dimensions of the inputs must match, got shapes "
                         f"{list(a.shape)} and {list(b.shape)}")
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 1]))


@composite("outer", method=True, aliases=("ger",), samples=lambda rng: [
    Sample([rng.standard_normal((3,)), rng.standard_normal((2,))]),
    Sample([rng.standard_normal((0,)), rng.standard_normal((2,))])])
def outer(a, b):
    """Outer product: out[i, j] = a[i] * b[j] (1-d inputs)."""
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"outer: expected 1-D tensors, got shapes {list(a.shape)} and "
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
            raise ShapeError(f"einsum(): the subscripts '{terms[i]}' of operand {i} do not "
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


def _einsum_gemm(a, b, ta, tb, out):
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
    prod_ = lambda cs: math.prod(size[c] for c in cs)  # noqa: E731
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
        if ctx.xp is backend.xp and any(a.dtype in backend.HALF for a in arrays):
            return backend.half_product(     # (NumPy's einsum takes no bfloat16)
                lambda *xs: Einsum.forward(ctx, *xs, terms=terms, out=out), *arrays)
        if len(arrays) == 2:
            r = _einsum_gemm(*arrays, *terms, out)
            if r is not None:
                return r
        return ctx.xp.einsum(",".join(terms) + "->" + out, *arrays, optimize=len(arrays) > 1)

    @staticmethod
    def vjp(ctx, g):
        xp = ctx.xp
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
                raise ShapeError(f"einsum(): subscript {c} has size {s} for operand {i} "
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
        raise ShapeError(f"tensordot: contracted dims {da} of {list(a.shape)} and {db} of "
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
