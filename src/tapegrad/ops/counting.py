"""Counting and index factories, PyTorch's names: bincount, histc, unique, tril_indices,
triu_indices. Their results are counts, indices or the input's distinct values: constants
without a gradient (PyTorch defines none either).

bincount, histc and unique are primitives with ``differentiable = False``, so tg.compile
replays them on each call's data; the index factories take no tensor and allocate on
``device=``.
"""
import math as _m

from .. import backend
from ..backend import devices
from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite
from ..core.tensor import _make
from ._util import Sample, normalize_dims


# -- bincount -----------------------------------------------------------------------------------
@primitive("bincount", public=False)
class Bincount(Function):
    """counts[v] = number of entries equal to v (or the sum of their weights)."""

    differentiable = False

    @staticmethod
    def forward(ctx, x, weights, minlength):
        if weights is None:
            return ctx.xp.bincount(x, minlength=minlength)
        # PyTorch: float weights keep their dtype, other weights count in float64
        dt = weights.dtype if backend.is_floating(weights.dtype) else backend.float64
        return ctx.xp.bincount(x, weights.astype(backend.float64),
                               minlength=minlength).astype(dt)


@composite("bincount", method=True, samples=lambda rng: [
    Sample([backend.asarray([1, 3, 3, 0])]),
    Sample([backend.asarray([2, 0, 2]), rng.integers(-3, 3, (3,))], {"minlength": 5}),
    Sample([backend.asarray([], backend.int64)])])
def bincount(input, weights=None, minlength=0):
    """The number of times each value 0, 1, ..., max(input) occurs in the 1-d non-negative
    integer ``input`` (at least ``minlength`` bins); with ``weights`` (1-d, input's length)
    each occurrence adds its weight (float weights keep their dtype, others give float64).
    No gradient.

    Raises: RuntimeError for an input that is not 1-d non-negative integers, mismatched
    weights or a negative minlength."""
    data = input._data
    if data.ndim != 1 or data.dtype.kind not in "iub" or (data.size and data.min() < 0):
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs (got "
                           f"shape {list(input.shape)}, dtype {input.dtype})")
    if weights is not None and (weights.ndim != 1 or weights.shape[0] != data.shape[0]):
        raise ShapeError(f"bincount: weights should be 1-d and have the same length as "
                         f"input (input {list(input.shape)}, weights {list(weights.shape)})")
    if int(minlength) < 0:
        raise RuntimeError(f"bincount: minlength should be >= 0, got {minlength}")
    return Bincount.apply(input, weights, minlength=int(minlength))


# -- histc --------------------------------------------------------------------------------------
@primitive("histc", public=False)
class Histc(Function):
    """Counts of x in ``bins`` equal bins over [lo, hi] (PyTorch's rule: bin floor((x - lo)
    / (hi - lo) * bins) in x's dtype, x == hi in the last bin, outside values and NaN
    ignored)."""

    differentiable = False

    @staticmethod
    def forward(ctx, x, bins, lo, hi):
        xp = ctx.xp
        if lo == hi and x.size:   # the data's range (widened by 1 each side if flat)
            lo, hi = float(xp.min(x)), float(xp.max(x))
        if lo == hi:
            lo, hi = lo - 1, hi + 1
        if not (_m.isfinite(lo) and _m.isfinite(hi)):
            raise RuntimeError(f"torch.histc: range of [{lo}, {hi}] is not finite")
        inside = (x >= lo) & (x <= hi)
        v = x[inside]
        pos = ((v - x.dtype.type(lo)) / x.dtype.type(hi - lo) * bins).astype(backend.int64)
        pos = xp.minimum(pos, bins - 1)
        return xp.bincount(pos, minlength=bins).astype(x.dtype)


@composite("histc", method=True)   # float input, constant output: tested in test_ops_round2
def histc(input, bins=100, min=0, max=0):
    """A histogram of ``input``'s values (any shape, floating): ``bins`` equal-width bins
    over [min, max]; min == max (the default) uses the data's range. Values outside and NaN
    are ignored; the result has input's dtype. No gradient.

    Raises: TypeError for a non-floating input; RuntimeError for bins <= 0, max < min or
    an infinite range."""
    if not backend.is_floating(input.dtype):
        raise TypeError(f"histc: expected a floating tensor, got {input.dtype}")
    bins = int(bins)
    if bins <= 0:
        raise RuntimeError(f"torch.histc: bins must be > 0, but got {bins}")
    if max < min:
        raise RuntimeError(f"torch.histc: max must be larger than min (got min={min}, "
                           f"max={max})")
    return Histc.apply(input, bins=bins, lo=float(min), hi=float(max))


# -- unique -------------------------------------------------------------------------------------
@primitive("unique", public=False)
class Unique(Function):
    """One part of np.unique's answer: the sorted distinct values, the inverse (each entry's
    place among them) or the counts; NaNs stay distinct, as PyTorch."""

    differentiable = False

    @staticmethod
    def forward(ctx, x, dim, part):
        xp = ctx.xp
        kw = {"equal_nan": False} if dim is None else {}
        values, inverse, counts = xp.unique(x, return_inverse=True, return_counts=True,
                                            axis=dim, **kw)
        if part == "inverse":
            return inverse.reshape(x.shape if dim is None else (-1,)).astype(backend.int64)
        if part == "counts":
            return counts.astype(backend.int64)
        return values


@composite("unique", method=True, samples=lambda rng: [
    Sample([backend.asarray([3, 1, 3, 2])], {"return_inverse": True, "return_counts": True}),
    Sample([backend.asarray([[3, 1], [3, 1], [0, 5]])], {"dim": 0, "return_counts": True}),
    Sample([rng.integers(0, 3, (2, 3))], {"return_inverse": True})])
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values of ``input``, sorted (``sorted=False`` also sorts, as PyTorch on
    the CPU), flattened, or the distinct slices along ``dim``; with ``return_inverse`` also
    each entry's index into them (input's shape, or one per slice), with ``return_counts``
    how often each occurs. A tensor, or a tuple when either flag is set. No gradient (a
    constant even for an input that requires one).

    Raises: IndexError for an out-of-range dim."""
    d = None if dim is None else normalize_dims(dim, input.ndim, "unique")[0]
    x = input.detach()
    out = [Unique.apply(x, dim=d, part="values")]
    if return_inverse:
        out.append(Unique.apply(x, dim=d, part="inverse"))
    if return_counts:
        out.append(Unique.apply(x, dim=d, part="counts"))
    return out[0] if len(out) == 1 else tuple(out)


# -- triangle index factories -------------------------------------------------------------------
def _triangle(name, row, col, offset, dtype, device):
    """Tensor (2, N) of the (row, col) pairs of the lower (``name`` = "tril") or upper
    triangle of a row x col matrix at ``offset`` diagonals, in row-major order."""
    row, col, offset = int(row), int(col), int(offset)
    if row < 0 or col < 0:
        raise RuntimeError(f"{name}_indices: row and col must be non-negative, got row={row}, "
                           f"col={col}")
    dt = backend.as_dtype(dtype) or backend.int64
    if dt.kind not in "iu":
        raise TypeError(f"{name}_indices: dtype must be an integer type, got {dt}")
    dev = devices.resolve(device)
    xp = backend.module_for(dev)
    with backend.on_device(dev):
        idx = getattr(xp, name + "_indices")(row, offset, col)
        return _make(xp.stack(idx).astype(dt))


@composite("tril_indices")
def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The indices of the lower triangle of a row x col matrix (on and below diagonal
    ``offset``) as a (2, N) tensor: row indices, then column indices, in row-major order.

    Raises: RuntimeError for a negative row or col; TypeError for a non-integer dtype."""
    return _triangle("tril", row, col, offset, dtype, device)


@composite("triu_indices")
def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The indices of the upper triangle (on and above diagonal ``offset``); see
    tril_indices."""
    return _triangle("triu", row, col, offset, dtype, device)

