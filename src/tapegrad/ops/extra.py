"""More of PyTorch's functions (each also a Tensor method): comparisons and selections,
nan-aware reductions, the addmm family, diff/kron/cross/rot90, small math ops, index ops.
Tensor-only methods (new_*, in-place fills, ...) are in methods.py.

Everything here is a composite of existing ops (so gradients of every order, in both modes,
come from their rules), except ``nonzero`` and ``isclose``: their results are integer or
bool constants, so they are primitives with ``differentiable = False`` that a trace replays.
"""
import collections
import math as _m

from .. import backend
from ..core.errors import ShapeError
from ..core.function import Function, promote_args
from ..core.registry import primitive, composite
from ..core.tensor import Tensor, _make
from ._util import Sample, normalize_dims, broadcast_to, binary_samples, unary_samples, \
    not_traceable, xp_of, const_like, size_args, check_numbers
from .elementwise import where, clamp
from .shape import reshape, transpose, flip, getitem, GetItem, SetItem, \
    IndexBackward
from .index import cat, index_select, _index_array, _array_on, _check_range
from .reduce import sum as _sum, amin, amax

MinMax = collections.namedtuple("MinMax", ["min", "max"])


def _t(x, like):
    """A Python number as a tensor on ``like``'s device (in its dtype when a float one)."""
    if isinstance(x, Tensor):
        return x
    dt = like.dtype if isinstance(like, Tensor) and backend.is_floating(like.dtype) else None
    return const_like(x, like, dt)


def _dim(dim, x, op):
    return normalize_dims(dim, x.ndim, op)[0]


def _float(x):
    return x.float() if isinstance(x, Tensor) and not backend.is_floating(x.dtype) else x


# -- clamp_min / clamp_max / clamp_ ------------------------------------------------------------
@composite("clamp_min", method=True, samples=lambda rng: [
    Sample([rng.uniform(-2, 2, (2, 3))], {"min": 0.05}),
    Sample([rng.uniform(-2, 2, (2, 3)), rng.uniform(-0.5, 0.5, (3,))], name="tensor")])
def clamp_min(x, min):
    """max(x, min) (``clamp(x, min=min)``)."""
    return clamp(x, min=min)


@composite("clamp_max", method=True, samples=lambda rng: [
    Sample([rng.uniform(-2, 2, (2, 3))], {"max": 0.05}),
    Sample([rng.uniform(-2, 2, (2, 3)), rng.uniform(-0.5, 0.5, (3,))], name="tensor")])
def clamp_max(x, max):
    """min(x, max) (``clamp(x, max=max)``)."""
    return clamp(x, max=max)




# -- comparisons and selections (no gradient) --------------------------------------------------
@primitive("nonzero", public=False)
class NonZero(Function):
    """Indices (n, ndim) of the nonzero entries (row-major order); integer, no gradient."""

    differentiable = False

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.argwhere(x).astype(backend.int64)


@composite("nonzero", method=True, samples=lambda rng: [
    Sample([rng.integers(0, 2, (3, 4))]),
    Sample([rng.uniform(-1, 1, (5,)) > 0]),
    Sample([rng.integers(0, 2, (2, 3))], {"as_tuple": True})])
def nonzero(x, *, as_tuple=False):
    """Indices of the nonzero entries: an (n, ndim) int64 tensor, or with ``as_tuple`` one
    1-d tensor per dim (a 0-d input counts as 1-d)."""
    if x.ndim == 0 and as_tuple:
        x = reshape(x, (1,))
    out = NonZero.apply(x)
    if not as_tuple:
        return out
    return tuple(getitem(out, (slice(None), i)) for i in range(x.ndim))


@primitive("isclose", public=False)
class IsClose(Function):
    """|a - b| <= atol + rtol * |b| elementwise (bool, no gradient)."""

    differentiable = False
    promote = True

    @staticmethod
    def forward(ctx, a, b, rtol, atol, equal_nan):
        return ctx.xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def _close_samples(rng):
    a = rng.standard_normal((2, 3))
    a = rng.integers(-3, 4, (2, 3))   # (integers: these ops have no gradient)
    return [Sample([a, a.copy()]),
            Sample([a, rng.integers(-3, 4, (3,))], {"rtol": 0.5, "atol": 1})]


@composite("isclose", method=True, samples=_close_samples)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|a - b| <= atol + rtol * |b| elementwise (NaNs equal only with ``equal_nan``)."""
    return IsClose.apply(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


@composite("allclose", method=True, samples=_close_samples)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when ``isclose`` holds everywhere (a Python bool)."""
    not_traceable("allclose (a Python bool read from tensor values)")
    return bool(IsClose.apply(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)._data.all())


@composite("equal", method=True, samples=lambda rng: [
    Sample([rng.integers(0, 2, (2, 3)), rng.integers(0, 2, (2, 3))]),
    Sample([rng.integers(0, 2, (2, 3)), rng.integers(0, 2, (3,))])])
def equal(a, b):
    """True when a and b have the same shape and the same values (a Python bool)."""
    not_traceable("equal (a Python bool read from tensor values)")
    return a.shape == b.shape and bool((a._data == b._data).all())


# -- NaN-ignoring reductions -------------------------------------------------------------------
def _nan_samples(rng):
    x = rng.standard_normal((3, 4))
    x[0, 1] = x[2, 3] = float("nan")
    return [Sample([rng.standard_normal((3, 4))]), Sample([x], {"dim": 1}),
            Sample([x], {"dim": 0, "keepdim": True})]


@composite("nansum", method=True, samples=_nan_samples)
def nansum(x, dim=None, keepdim=False, *, dtype=None):
    """Sum treating NaN as 0; their gradient is 0."""
    x = x.to(dtype) if dtype is not None else x
    if not backend.is_floating(x.dtype):     # integers have no NaN
        return _sum(x, dim, keepdim)
    return _sum(where(x.isnan(), 0.0, x), dim, keepdim)


@composite("nanmean", method=True, samples=_nan_samples)
def nanmean(x, dim=None, keepdim=False, *, dtype=None):
    """Mean over the non-NaN entries (NaN where all are NaN, as 0/0)."""
    x = x.to(dtype) if dtype is not None else x
    if not backend.is_floating(x.dtype):
        raise RuntimeError(f"nanmean(): expected a float input, got {x.dtype}")
    n = _sum((x == x).to(x.dtype), dim, keepdim)   # x == x: not NaN
    return nansum(x, dim, keepdim) / n


# -- fused arithmetic --------------------------------------------------------------------------
def _three(rng):
    return [Sample([rng.standard_normal((2, 3)), rng.standard_normal((2, 3)),
                    rng.uniform(0.5, 2, (3,))], {"value": 0.5}),
            Sample([rng.standard_normal((3,)), rng.standard_normal((2, 1)),
                    rng.uniform(0.5, 2, (2, 3))])]


@composite("addcmul", method=True, samples=_three)
def addcmul(x, tensor1, tensor2, *, value=1):
    """x + value * tensor1 * tensor2 (broadcasting)."""
    return x + value * (tensor1 * tensor2)


@composite("addcdiv", method=True, samples=_three)
def addcdiv(x, tensor1, tensor2, *, value=1):
    """x + value * tensor1 / tensor2 (broadcasting)."""
    return x + value * (tensor1 / tensor2)


@composite("addmm", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 4)), rng.standard_normal((2, 3)),
            rng.standard_normal((3, 4))]),
    Sample([rng.standard_normal((4,)), rng.standard_normal((2, 3)),
            rng.standard_normal((3, 4))], {"beta": 0.5, "alpha": 2.0})])
def addmm(x, mat1, mat2, *, beta=1, alpha=1):
    """beta * x + alpha * (mat1 @ mat2); x broadcasts to the product's shape. With beta=0,
    x is ignored (NaN and inf in it don't propagate)."""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise ShapeError(f"addmm(): mat1 and mat2 must be matrices, got {mat1.ndim}-D and "
                         f"{mat2.ndim}-D")
    if mat1.shape[1] != mat2.shape[0]:
        raise ShapeError(f"addmm(): mat1 and mat2 shapes cannot be multiplied "
                         f"({mat1.shape[0]}x{mat1.shape[1]} and {mat2.shape[0]}x"
                         f"{mat2.shape[1]})")
    return _add_scaled(x, mat1 @ mat2, beta, alpha, "addmm")


def _add_scaled(x, prod, beta, alpha, op):
    try:
        xp_of(prod).broadcast_shapes(x.shape, prod.shape)
    except ValueError:
        raise ShapeError(f"{op}(): the input of shape {list(x.shape)} can't be broadcast to "
                         f"the product's shape {list(prod.shape)}") from None
    p = prod if alpha == 1 else alpha * prod
    if beta == 0:   # x still gets a (zero) gradient, as in PyTorch
        return p + _zero(x)
    return (x if beta == 1 else beta * x) + p


@composite("baddbmm", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 5)),
            rng.standard_normal((2, 5, 4))]),
    Sample([rng.standard_normal((1, 4)), rng.standard_normal((2, 3, 5)),
            rng.standard_normal((2, 5, 4))], {"beta": 2.0, "alpha": -0.5})])
def baddbmm(x, batch1, batch2, *, beta=1, alpha=1):
    """beta * x + alpha * (batch1 @ batch2) for 3-D batches (x broadcasts)."""
    if batch1.ndim != 3 or batch2.ndim != 3:
        raise ShapeError(f"baddbmm(): batch1 and batch2 must be 3-D tensors, got "
                         f"{batch1.ndim}-D and {batch2.ndim}-D")
    b, n, k = batch1.shape
    if batch2.shape[:2] != (b, k):
        raise ShapeError(f"baddbmm(): Expected size for first two dimensions of batch2 tensor "
                         f"to be: [{b}, {k}] but got: [{batch2.shape[0]}, {batch2.shape[1]}].")
    return _add_scaled(x, batch1 @ batch2, beta, alpha, "baddbmm")


# -- differences, products, rotations ----------------------------------------------------------
def _slice(x, d, start, stop):
    return getitem(x, (slice(None),) * d + (slice(start, stop),))


@composite("diff", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3, 4))]),
    Sample([rng.standard_normal((4, 3))], {"n": 2, "dim": 0}),
    Sample([rng.standard_normal((2, 3)), 1, -1, rng.standard_normal((2, 1)),
            rng.standard_normal((2, 2))], name="prepend append")])
def diff(x, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference out[i] = x[i+1] - x[i] along ``dim``, after putting
    ``prepend`` / ``append`` before / after x along it (a number counts as one slice)."""
    if x.ndim == 0:
        raise ShapeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = _dim(dim, x, "diff")
    parts = []
    for v in (prepend, x, append):
        if v is None:
            continue
        if not isinstance(v, Tensor) or v.ndim == 0:
            shape = x.shape[:d] + (1,) + x.shape[d + 1:]
            v = broadcast_to(_t(v, x), shape)
        elif v.ndim != x.ndim:
            raise ShapeError(f"diff expects prepend or append to be the same dimension as "
                             f"input, got {v.ndim} and {x.ndim}")
        parts.append(v)
    if len(parts) > 1:
        x = cat(parts, dim=d)
    for _ in range(n):
        if x.shape[d] == 0:
            break
        x = _slice(x, d, 1, None) - _slice(x, d, 0, -1) if x.dtype != backend.bool_ else \
            _make(_slice(x, d, 1, None)._data ^ _slice(x, d, 0, -1)._data)
    return x


@composite("kron", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3)), rng.standard_normal((2, 2))]),
    Sample([rng.standard_normal((3,)), rng.standard_normal((2, 2))])])
def kron(a, b):
    """Kronecker product: out[i*B + k] = a[i] * b[k] along every dim (the shorter shape is
    padded with leading 1s)."""
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    a = reshape(a, tuple(v for s in sa for v in (s, 1)))
    b = reshape(b, tuple(v for s in sb for v in (1, s)))
    return reshape(a * b, tuple(p * q for p, q in zip(sa, sb)))


@composite("cross", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3)), rng.standard_normal((2, 3))]),
    Sample([rng.standard_normal((3, 2)), rng.standard_normal((3, 1))], {"dim": 0})])
def cross(a, b, dim=None):
    """Cross product of 3-vectors along ``dim`` (a and b broadcast). dim=None takes the
    first dim of size 3, as torch.cross does (torch.linalg.cross defaults to -1)."""
    a, b = promote_args((a, b))
    try:
        shape = xp_of(a).broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"cross(): the shapes {list(a.shape)} and {list(b.shape)} cannot be "
                         f"broadcast together") from None
    if dim is None:
        dims = [i for i, s in enumerate(shape) if s == 3]
        if not dims:
            raise ShapeError(f"cross(): no dimension of size 3 in input (shape "
                             f"{list(shape)})")
        d = dims[0]
    else:
        d = normalize_dims(dim, len(shape), "cross")[0]
    sa = (1,) * (len(shape) - a.ndim) + tuple(a.shape)
    sb = (1,) * (len(shape) - b.ndim) + tuple(b.shape)
    if sa[d] != 3 or sb[d] != 3:
        raise ShapeError(f"linalg.cross: inputs dimension {d} must have length 3. Got "
                         f"{sa[d]} and {sb[d]}")
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)
    a1, a2, a3 = (_slice(a, d, i, i + 1) for i in range(3))
    b1, b2, b3 = (_slice(b, d, i, i + 1) for i in range(3))
    return cat([a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1], dim=d)


@composite("rot90", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))]),
    Sample([rng.standard_normal((2, 3, 4))], {"k": 2, "dims": (1, 2)}),
    Sample([rng.standard_normal((2, 3))], {"k": -1})])
def rot90(x, k=1, dims=(0, 1)):
    """Rotate by 90 degrees k times in the plane ``dims``, from dims[0] toward dims[1]."""
    dims = size_args((dims,), "rot90", "dims")
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected total rotation dims == 2, but got dims = "
                           f"{len(dims)}")
    if x.ndim < 2:
        raise ShapeError(f"rot90: expected total dims >= 2, but got total dims = {x.ndim}")
    d0, d1 = (_dim(d, x, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90: expected rotation dims to be different, but got dim0 = "
                           f"{d0} and dim1 = {d1}")
    k = k % 4
    if k == 1:
        return transpose(flip(x, d1), d0, d1)
    if k == 2:
        return flip(x, d0, d1)
    if k == 3:
        return transpose(flip(x, d0), d0, d1)
    return x


# -- elementwise math --------------------------------------------------------------------------
@composite("frac", method=True, samples=unary_samples(-3.0, 3.0, avoid=(-2, -1, 0, 1, 2)))
def frac(x):
    """x - trunc(x) (the sign follows x); dfrac/dx = 1."""
    return x - x.trunc()


@composite("sgn", method=True, samples=lambda rng: [
    Sample([rng.integers(-2, 3, (2, 3))]),
    Sample([rng.uniform(-2, 2, (2, 3))], kink=True)])
def sgn(x):
    """sign(x) for real tensors (x / |x| for complex ones, which tapegrad has not). Its
    gradient is 0, connected to x as in PyTorch (tg.sign's result is a constant)."""
    out = x.sign()
    if backend.is_floating(x.dtype):
        out = out + _zero(x)
    return out


def _zero(x):
    """Zeros connected to x (selected, so inf or NaN in x does not leak into it)."""
    return where(xp_of(x).zeros(x.shape, dtype=backend.bool_), x, 0.0)


@composite("hypot", method=True, samples=binary_samples(0.3, 2.0))
def hypot(a, b):
    """sqrt(a**2 + b**2); d/da = a / hypot."""
    return (a * a + b * b).sqrt()


@composite("xlogy", method=True, samples=binary_samples(0.2, 2.0, scalars=(2.5,)))
def xlogy(x, y):
    """x * log(y), and 0 where x == 0 (unless y is NaN). d/dx = log(y), d/dy = x / y, as in
    PyTorch, except that both are 0 where x == 0 and y <= 0 or y = inf (y is replaced by 1
    there, so no NaN or inf reaches the gradient; PyTorch gives NaN for d/dy at 0, 0)."""
    x, y = _float(x), _float(y)
    if not isinstance(x, Tensor):
        x = _t(float(x), y)
    if not isinstance(y, Tensor):
        y = _t(float(y), x)
    x, y = promote_args((x, y))
    bad = where(x == 0, where(y <= 0, True, y == float("inf")), False)
    return x * where(bad, 1.0, y).log()


@composite("sinc", method=True, samples=unary_samples(avoid=(0,)))
def sinc(x):
    """sin(pi x) / (pi x), 1 at 0 (x is replaced by 1 there before dividing, so no NaN
    reaches the gradient)."""
    x = _float(x)
    zero = x == 0
    px = where(zero, 1.0, x) * _m.pi
    return where(zero, 1.0, px.sin() / px)


# -- repeats, splits and index ops -------------------------------------------------------------
@composite("repeat_interleave", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3)), 2]),
    Sample([rng.standard_normal((2, 3)), backend.asarray([1, 0, 2])], {"dim": 1}),
    Sample([rng.standard_normal((3,)), 3], {"dim": 0})])
def repeat_interleave(x, repeats=None, dim=None, *, output_size=None):
    """Repeat each entry ``repeats`` times (an int or one count per entry) along ``dim``
    (of the flattened x when dim is None). ``repeat_interleave(counts)`` alone gives
    ``arange(n)`` repeated by counts."""
    xp = xp_of(x)
    if repeats is None:
        repeats, x, dim = x, _make(xp.arange(x.shape[0])), 0
    if dim is None:
        x, dim = reshape(x, (-1,)), 0
    d = _dim(dim, x, "repeat_interleave")
    n = x.shape[d] if x.ndim else 1
    if isinstance(repeats, Tensor):
        r = _index_array(repeats, x, "repeat_interleave", "repeats")
        if r.ndim > 1 or r.size not in (1, n):
            raise ShapeError(f"repeat_interleave(): repeats must have the same size as input "
                             f"along dim, but got repeats.size(0) = {r.size} and "
                             f"input.size({d}) = {n}")
        if (r < 0).any():
            raise RuntimeError("repeat_interleave(): repeats can not be negative")
        if r.size != 1:
            not_traceable("repeat_interleave with a tensor of repeats")
        r = r.reshape(-1)
        repeats = r if r.size == n else int(r[0])
    elif repeats < 0:
        raise RuntimeError("repeat_interleave(): repeats can not be negative")
    if x.ndim == 0:
        x = reshape(x, (1,))
    return index_select(x, d, _make(xp.repeat(xp.arange(n), repeats)))


@composite("tensor_split", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((7, 2)), 3]),
    Sample([rng.standard_normal((2, 5)), [1, 3]], {"dim": 1}),
    Sample([rng.standard_normal((4,)), (1, 6)])])
def tensor_split(x, indices_or_sections, dim=0):
    """Split into pieces along ``dim``: an int n gives n pieces, the first (size % n) one
    longer; a list of indices splits before each. Every piece is a view."""
    if x.ndim == 0:
        raise ShapeError("tensor_split expected at least a 1-dimensional tensor, but got a "
                         "tensor with 0 dims")
    d = _dim(dim, x, "tensor_split")
    n = x.shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        if ios.ndim > 1 or ios.dtype.kind not in "iu":
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to be a "
                               "zero-dimensional or one-dimensional tensor of integers")
        not_traceable("tensor_split with a tensor of indices")
        ios = ios._data.tolist()
    if isinstance(ios, int):
        if ios <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {ios}")
        q, r = divmod(n, ios)
        bounds = [i * q + min(i, r) for i in range(ios + 1)]
    else:
        bounds = [0] + [min(max(int(i) + (n if int(i) < 0 else 0), 0), n) for i in ios] + [n]
    return tuple(_slice(x, d, a, max(a, b)) for a, b in zip(bounds[:-1], bounds[1:]))


@composite("masked_select", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3)), rng.uniform(size=(2, 3)) > 0.5]),
    Sample([rng.standard_normal((3,)), backend.asarray([[True], [False]])], name="broadcast")])
def masked_select(x, mask):
    """The entries of x (broadcast with mask) where mask is True, as a 1-d tensor."""
    check_numbers("masked_select", input=x, mask=mask)
    if not isinstance(x, Tensor):      # a number, as PyTorch takes it
        x = const_like(x, mask) if isinstance(mask, Tensor) else Tensor(x)
    xp = xp_of(x)
    m = mask._data if isinstance(mask, Tensor) else _array_on(mask, x)
    if m.dtype != backend.bool_:
        raise RuntimeError(f"masked_select(): expected BoolTensor for mask, got {m.dtype}")
    try:
        shape = xp.broadcast_shapes(x.shape, m.shape)
    except ValueError:
        raise ShapeError(f"masked_select(): the mask of shape {list(m.shape)} can't be "
                         f"broadcast with the tensor of shape {list(x.shape)}") from None
    not_traceable("masked_select (its output size depends on the mask)")
    return GetItem.apply(broadcast_to(x, shape), key=xp.broadcast_to(m, shape))


def _index_key(x, dim, index, op):
    """(dim, key) picking x[..., index, ...] along dim for a 1-d (or 0-d) integer index."""
    idx = _index_array(index, x, op)
    if idx.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector, got shape "
                         f"{list(idx.shape)}")
    if idx.ndim == 0:
        idx = reshape(index, (1,))._data if isinstance(index, Tensor) else idx.reshape(1)
    d = _dim(dim, x, op)
    _check_range(idx, x.shape[d] if x.ndim else 1, op, d)
    return d, (slice(None),) * d + (idx,) if x.ndim else (idx,)


def _index_samples(rng):
    return [Sample([rng.standard_normal((3, 4)), 0, backend.asarray([2, 0]),
                    rng.standard_normal((2, 4))]),
            Sample([rng.standard_normal((3, 4)), 1, backend.asarray([3, 1, 0]),
                    rng.standard_normal((3, 3))])]


@composite("index_add", method=True, samples=lambda rng: _index_samples(rng) + [
    Sample([rng.standard_normal((3,)), 0, backend.asarray([1, 1]), rng.standard_normal((2,))],
           {"alpha": 2.0}, name="repeats")])
def index_add(x, dim, index, source, *, alpha=1):
    """out = x, then out[..., index[i], ...] += alpha * source[..., i, ...] along ``dim``
    (repeated indices add up); the gradient of source gathers g at index."""
    d, key = _index_key(x, dim, index, "index_add")
    _check_source(x, d, key, source, "index_add")
    src = source if alpha == 1 else alpha * source
    if x.ndim == 0:
        return x + reshape(src, ()) if src.ndim else x + src
    return x + IndexBackward.apply(src, key=key, shape=x.shape)


def _check_source(x, d, key, source, op):
    want = list(x.shape)
    if want:
        want[d] = key[-1].shape[0]
    if isinstance(source, Tensor) and list(source.shape) != want and \
            not (source.ndim == 0 and want == [1]):
        raise ShapeError(f"{op}(): source of shape {list(source.shape)} does not match the "
                         f"expected shape {want} (self with dim {d} the size of index)")


@composite("index_copy", method=True, samples=_index_samples)
def index_copy(x, dim, index, source):
    """out = x with out[..., index[i], ...] = source[..., i, ...] along ``dim`` (with
    repeated indices the last write wins; PyTorch leaves it unspecified)."""
    d, key = _index_key(x, dim, index, "index_copy")
    _check_source(x, d, key, source, "index_copy")
    if x.ndim == 0:
        return reshape(source, ()) if source.ndim else source + 0 * x
    return SetItem.apply(x, source, key=key)


@composite("index_fill", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3, 4)), 1, backend.asarray([0, 2]), -1.5]),
    Sample([rng.standard_normal((3, 4)), 0, backend.asarray([1]), rng.standard_normal(())],
           name="tensor value")])
def index_fill(x, dim, index, value):
    """out = x with ``value`` (a number or a 0-d tensor) in every slice index[i] along dim."""
    d, key = _index_key(x, dim, index, "index_fill")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(f"index_fill(): only supports a 0-dimensional value tensor, "
                             f"but got tensor with {value.ndim} dimension(s).")
        value = value.to(x.dtype)
    if x.ndim == 0:
        return where(const_like(key[0].size > 0, x), value, x)
    return SetItem.apply(x, value, key=key)


@composite("take", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3)), backend.asarray([[0, 5], [-1, 2]])]),
    Sample([rng.standard_normal((4,)), backend.asarray([3, 3, 0])])])
def take(x, index):
    """x flattened, indexed by ``index`` (any shape; negative entries count from the end)."""
    idx = _index_array(index, x, "take")
    n = x.numel()
    _check_range(idx, n, "take", 0, negative=True)
    it = index if isinstance(index, Tensor) else _make(idx)
    # index arithmetic by ops on the index tensor, so tg.compile recomputes it per call
    return GetItem.apply(reshape(x, (-1,)), key=((it % max(n, 1))._data,))


@composite("aminmax", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((3, 4))]),
    Sample([rng.standard_normal((3, 4))], {"dim": 1}),
    Sample([rng.standard_normal((3, 4))], {"dim": 0, "keepdim": True})])
def aminmax(x, *, dim=None, keepdim=False):
    """(min, max) over ``dim`` (everything when None), as a namedtuple with .min and .max;
    ties share the gradient, as in amin/amax."""
    return MinMax(amin(x, dim, keepdim), amax(x, dim, keepdim))
