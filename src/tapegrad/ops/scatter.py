"""Writing into tensors by index: index_put / index_put_ (accumulate=), scatter_reduce
(sum, prod, mean, amax, amin; include_self=) and masked_scatter / masked_scatter_.

All are composites of getitem/setitem, their transpose (a scatter-add) and reductions, so
their gradients (every order, both modes) come from those ops' rules.
"""
from .. import backend
from ..core.errors import ShapeError
from ..core.registry import composite
from ..core.tensor import Tensor, _make
from ._util import Sample, broadcast_to, not_traceable, xp_of, const_like
from .elementwise import where
from .shape import GetItem, IndexBackward, SetItem, normalize_key, reshape, setitem
from .index import _scatter_key, _check_range, _checked_data, _array_on, cat
from .products import prod
from .reduce import amax, amin

REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


# -- index_put ----------------------------------------------------------------------------------
def _put_args(x, indices, values, op):
    """(key, values) for ``x[indices] = values``, checked as PyTorch does: index tensors
    (integer or bool, one per leading dim), values of x's dtype that broadcast to the
    indexed shape."""
    if isinstance(indices, Tensor) or not isinstance(indices, (list, tuple)):
        raise TypeError(f"{op}(): argument 'indices' must be a tuple of Tensors, got "
                        f"{type(indices).__name__}")
    for i, t in enumerate(indices):
        if not isinstance(t, Tensor) and not backend.is_array(t):
            raise TypeError(f"{op}(): expected Tensor as element {i} in argument 'indices', "
                            f"but got {type(t).__name__}")
    if not isinstance(values, Tensor):
        values = const_like(values, x, x.dtype)
    if values.dtype != x.dtype:
        raise RuntimeError(f"{op}(): Index put requires the source and destination dtypes "
                           f"match, got {x.dtype} for the destination and {values.dtype} for "
                           f"the source.")
    key = normalize_key(tuple(indices), x._data)
    if len(key) > x.ndim:
        raise IndexError(f"{op}(): too many indices for tensor of dimension {x.ndim} (got "
                         f"{len(key)})")
    xp = xp_of(x)
    for d, k in enumerate(key):
        _check_range(k, x.shape[d], op, d, negative=True)
    try:
        shape = tuple(xp.broadcast_shapes(*(k.shape for k in key))) + x.shape[len(key):]
    except ValueError:
        raise ShapeError(f"{op}(): shape mismatch: indexing tensors could not be broadcast "
                         f"together with shapes {[list(k.shape) for k in key]}") from None
    try:
        ok = tuple(xp.broadcast_shapes(values.shape, shape)) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"{op}(): shape mismatch: value tensor of shape {list(values.shape)} "
                         f"cannot be broadcast to indexing result of shape {list(shape)}")
    return key, values, shape


def _put_samples(rng):
    r = rng.standard_normal

    def ix(*a, dtype=None):
        return Tensor(backend.asarray(a, dtype))
    return [Sample([r((3, 4)), (ix(0, 2),), r((4,))]),
            Sample([r((3, 4)), (ix(0, 0, 2), ix(1, 1, -1)), r(())], {"accumulate": True},
                   name="repeats"),
            Sample([r((3, 4)), (ix(True, False, True),), r((2, 1))], {"accumulate": True},
                   name="mask"),
            Sample([r((3,)), (ix(dtype=backend.int64),), r((0,))], name="empty")]


@composite("index_put", method=True, samples=_put_samples)
def index_put(input, indices, values, accumulate=False):
    """A copy of ``input`` with ``input[indices] = values`` (values broadcast to the indexed
    shape), or ``+=`` with ``accumulate=True``, where repeated indices add up (without it
    the last write wins; PyTorch leaves the order unspecified). ``indices``: a tuple of
    integer or bool tensors, one per leading dim. Gradients: input gets g (zeros where
    overwritten unless accumulating), values gets g gathered at the indices.

    Raises: TypeError for indices that are not a tuple of tensors; RuntimeError for values
    of another dtype; IndexError for an index out of range; ShapeError (a RuntimeError and
    a ValueError) when the indices or values don't broadcast."""
    key, values, shape = _put_args(input, indices, values, "index_put")
    if accumulate:
        return input + _scattered(values, key, shape, input.shape)
    return SetItem.apply(input, values, key=key)


def _scattered(values, key, shape, out_shape):
    """zeros(out_shape) with ``values`` (broadcast to ``shape``) added at ``key``."""
    return IndexBackward.apply(broadcast_to(values, shape), key=key, shape=out_shape)


def index_put_(self, indices, values, accumulate=False):
    """In-place ``index_put``: writes into this tensor (recorded when a gradient flows)."""
    key, values, shape = _put_args(self, indices, values, "index_put_")
    if accumulate:
        return self.add_(_scattered(values, key, shape, self.shape))
    setitem(self, key, values)
    return self


Tensor.index_put_ = index_put_


# -- scatter_reduce -----------------------------------------------------------------------------
def _positions(x, key, n):
    """The flat (C-order) position in x of each of the ``n`` scattered elements (``key``:
    the index arrays of scatter's key, broadcast together), and how many land on each
    place of x (an array of x's shape)."""
    xp = xp_of(x)
    with backend.on_device(x.device):
        flat = xp.zeros(n, backend.int64)
        shape = tuple(xp.broadcast_shapes(*(a.shape for a in key)))
        stride = 1
        for a, size in reversed(list(zip(key, x.shape))):
            flat += (xp.broadcast_to(a, shape) * stride).reshape(-1)
            stride *= size
        counts = xp.bincount(flat, minlength=x.numel()).reshape(x.shape)
    return flat, counts


def _ranks(xp, flat):
    """For each entry of 1-d integer ``flat``: how many equal entries come before it in
    sorted order (0 for the first of each value), so (value, rank) pairs are unique."""
    order = xp.argsort(flat)
    ordered = flat[order]
    rank = xp.empty_like(flat)
    rank[order] = xp.arange(flat.size) - xp.searchsorted(ordered, ordered)
    return rank


def _slots(x, src, flat, counts, pad, include_self):
    """A tensor of x.shape + (K,) holding, in row i, the src values scattered to position i
    (K: the most any position gets) padded with ``pad``; with ``include_self`` x's own value
    comes first. Reducing its last dim reduces each position's group."""
    xp = xp_of(x)
    with backend.on_device(x.device):
        empty = xp.full((x.numel(), int(counts.max())), pad, dtype=x.dtype)
        key = (flat, _ranks(xp, flat))
    slots = SetItem.apply(_make(empty), reshape(src, (-1,)), key=key)
    slots = reshape(slots, x.shape + (slots.shape[-1],))
    if include_self:
        slots = cat([x.unsqueeze(-1), slots], dim=-1)
    return slots


def _scatter_reduce_samples(rng):
    r = rng.standard_normal
    idx = backend.asarray([[0, 1, 0], [2, 2, 2]])
    out = []
    for red in REDUCTIONS:
        out.append(Sample([r((2, 4)), 1, idx, r((2, 3)), red], name=red))
        out.append(Sample([r((3, 2)), 0, backend.asarray([[1, 1], [0, 1]]), r((2, 2)), red],
                          {"include_self": False}, name=red + " exclude self"))
    out.append(Sample([r((3,)), 0, backend.asarray([], backend.int64), r((0,)), "amax"],
                      name="empty index"))
    return out


@composite("scatter_reduce", method=True, samples=_scatter_reduce_samples)
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """out = input, then each src[i][j] (dim=1; likewise for other dims) is reduced into
    out[i][index[i][j]] by ``reduce``: "sum", "prod", "mean", "amax" or "amin"; with
    include_self=False a position that receives values starts from them alone (positions
    that receive none keep input's value). Integer "mean" rounds down, as PyTorch.

    Gradients as PyTorch's: sum and mean pass g (divided by the count for mean); prod
    passes the product of the others (exact with zeros); amax/amin split g evenly among
    every value equal to the result. prod/amax/amin gather each position's values into
    padded rows of the longest group's length and reduce them (memory: input's size times
    that length), so tg.compile refuses them (the length depends on the index values).

    Raises: RuntimeError for another reduce, mismatched dtypes or shapes; IndexError for an
    out-of-range dim or index."""
    if reduce not in REDUCTIONS:
        raise RuntimeError(f"scatter_reduce(): reduce argument must be one of {REDUCTIONS}, "
                           f"got {reduce!r}")
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce(): src must be a tensor, got {type(src).__name__}")
    if input.ndim == 0:     # as a 1-element vector
        out = scatter_reduce(reshape(input, (1,)), dim, _flat_index(index, input),
                             reshape(src, (-1,)), reduce, include_self=include_self)
        return reshape(out, ())
    key, src = _scatter_key(input, dim, index, src, "scatter_reduce")
    if reduce == "sum" and include_self:
        return input + IndexBackward.apply(src, key=key, shape=input.shape)
    not_traceable(f"scatter_reduce(reduce={reduce!r}, include_self={include_self}) (which "
                  f"positions receive values, and how many, depend on the index values)")
    flat, counts = _positions(input, key, src.numel())
    hit = _make(counts > 0)
    if reduce in ("sum", "mean"):
        base = input if include_self else where(hit, 0, input)
        total = base + IndexBackward.apply(src, key=key, shape=input.shape)
        if reduce == "sum":
            return total
        n = _make((counts + int(include_self)).clip(1, None).astype(input.dtype))
        mean = total / n if backend.is_floating(input.dtype) else total // n
        return mean if include_self else where(hit, mean, input)
    if not src.numel():
        return input.clone()
    pad = _pad(xp_of(input), input.dtype, reduce)
    slots = _slots(input, src, flat, counts, pad, include_self)
    red = {"prod": prod, "amax": amax, "amin": amin}[reduce](slots, -1)
    if red.dtype != input.dtype:
        red = red.to(input.dtype)
    return red if include_self else where(hit, red, input)


def _flat_index(index, like):
    idx = _checked_data(index, like, "scatter_reduce", "index") if isinstance(index, Tensor) \
        else _array_on(index, like)
    return _make(idx.reshape(-1))


def _pad(xp, dtype, reduce):
    """The identity of the reduction in ``dtype``: 1 for prod, the lowest value for amax,
    the highest for amin."""
    if reduce == "prod":
        return 1
    if backend.is_floating(dtype):
        return -float("inf") if reduce == "amax" else float("inf")
    info = xp.iinfo(dtype) if dtype.kind in "iu" else None
    if info is None:   # bool
        return reduce == "amin"
    return info.min if reduce == "amax" else info.max


# -- masked_scatter -----------------------------------------------------------------------------
def _masked_key(x, mask, source, op, shape=None):
    """(key of mask's True places, source's first n elements) for x broadcast with mask."""
    m = _checked_data(mask, x, op, "mask") if isinstance(mask, Tensor) else _array_on(mask, x)
    if m.dtype != backend.bool_:
        raise RuntimeError(f"{op}(): only supports boolean masks, but got mask with dtype "
                           f"{m.dtype}")
    if not isinstance(source, Tensor):
        raise TypeError(f"{op}(): source must be a tensor, got {type(source).__name__}")
    if source.dtype != x.dtype:
        raise RuntimeError(f"{op}(): expected self and source to have same dtypes but got "
                           f"{x.dtype} and {source.dtype}")
    xp = xp_of(x)
    try:
        full = tuple(xp.broadcast_shapes(x.shape, m.shape)) if shape is None else shape
        m = xp.broadcast_to(m, full)
    except ValueError:
        raise ShapeError(f"{op}(): the mask of shape {list(m.shape)} can't be broadcast with "
                         f"the tensor of shape {list(x.shape)}") from None
    not_traceable(f"{op} (which source elements are used depends on the mask)")
    if m.ndim:
        key = xp.nonzero(m)
        n = int(key[0].size)
    else:   # a 0-d mask: x[True] is x as a 1-element vector, x[False] an empty one
        key, n = m, int(bool(m))
    if source.numel() < n:
        raise ShapeError(f"{op}(): Number of elements of source ({source.numel()}) < "
                         f"number of ones in mask ({n})")
    vals = GetItem.apply(reshape(source, (-1,)), key=(slice(0, n),))
    return full, key, vals


@composite("masked_scatter", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3)), backend.asarray([[True, False, True]]),
            rng.standard_normal((7,))]),
    Sample([rng.standard_normal((3,)), backend.asarray([[True], [False]]),
            rng.standard_normal((2, 3))], name="broadcast"),
    Sample([rng.standard_normal((2, 2)), backend.asarray([[False, False], [False, False]]),
            rng.standard_normal((1,))], name="no ones")])
def masked_scatter(input, mask, source):
    """input (broadcast with mask) with its masked places filled, in row-major order, by
    source's first elements (source may be larger, any shape). Gradients: input gets g with
    zeros at the mask; source's first elements get g at the mask, the rest 0.

    Raises: RuntimeError for a non-bool mask, another dtype or too small a source;
    ShapeError when mask and input don't broadcast."""
    shape, key, vals = _masked_key(input, mask, source, "masked_scatter")
    x = input if input.shape == shape else broadcast_to(input, shape)
    return SetItem.apply(x, vals, key=key)


def masked_scatter_(self, mask, source):
    """In-place ``masked_scatter`` (mask broadcast to this tensor's shape)."""
    _, key, vals = _masked_key(self, mask, source, "masked_scatter_", shape=self.shape)
    setitem(self, key, vals)
    return self


Tensor.masked_scatter_ = masked_scatter_
