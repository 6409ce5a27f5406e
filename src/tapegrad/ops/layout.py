"""Layout ops, PyTorch's names: select, ravel, the stacks (hstack, vstack, dstack,
column_stack), atleast_1d/2d/3d, split_with_sizes, Tensor.unfold, block_diag,
cartesian_prod and meshgrid.

All are composites of views, reshapes, pads and cat, so their gradients (every order,
both modes) come from those ops' rules.
"""
from .. import backend
from ..core.errors import ShapeError
from ..core.registry import composite
from ..core.tensor import Tensor, _make
from ._util import Sample, normalize_dims, broadcast_to, xp_of
from .shape import GetItem, reshape, movedim
from .index import cat, stack, split, _tensors, _promoted
from .pad import PadConstant


def _dim(dim, x, op):
    return normalize_dims(dim, x.ndim, op)[0]


@composite("select", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3)), 1, -1]),
    Sample([rng.standard_normal((3, 4, 2)), 0, 2]),
    Sample([rng.standard_normal((3,)), 0, 1])])
def select(input, dim, index):
    """input[..., index, ...] with ``index`` taken along ``dim`` (a view, that dim removed;
    a negative index counts from the end). The gradient fills g into zeros at that slice.

    Raises: IndexError for a 0-d input, an out-of-range dim or index."""
    if input.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _dim(dim, input, "select")
    n = input.shape[d]
    index = int(index)
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(input.shape)} at dimension {d}")
    return GetItem.apply(input, key=(slice(None),) * d + (index % n,))


@composite("ravel", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((2, 3))]), Sample([rng.standard_normal(())])])
def ravel(input):
    """input flattened to 1-d (a view when the layout allows)."""
    return reshape(input, (-1,))


# -- atleast_nd -----------------------------------------------------------------------------
def _atleast(tensors, nd, op):
    """One tensor -> one result; several (or a list) -> a tuple, as PyTorch's atleast_*."""
    single = len(tensors) == 1 and isinstance(tensors[0], Tensor)
    items = list(tensors[0]) if len(tensors) == 1 and not single else list(tensors)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected Tensors, got {type(t).__name__} at position {i}")
    out = tuple(_lift(t, nd) for t in items)
    return out[0] if single else out


def _lift(t, nd):
    """t with size-1 dims added as NumPy's atleast_nd: () -> (1,) -> (1, 1) -> (1, 1, 1);
    (n,) -> (1, n) -> (1, n, 1); (m, n) -> (m, n, 1)."""
    if t.ndim >= nd:
        return t
    if nd == 1:
        shape = (1,)
    elif nd == 2:
        shape = (1, 1) if t.ndim == 0 else (1,) + t.shape
    else:
        shape = {0: (1, 1, 1), 1: (1,) + t.shape + (1,), 2: t.shape + (1,)}[t.ndim]
    return reshape(t, shape)


def _atleast_samples(rng):
    return [Sample([rng.standard_normal(())]), Sample([rng.standard_normal((3,))]),
            Sample([rng.standard_normal((2, 3))]), Sample([rng.standard_normal((2, 1, 3, 1))])]


@composite("atleast_1d", samples=_atleast_samples)
def atleast_1d(*tensors):
    """Each tensor with at least 1 dim (0-d becomes (1,)); one tensor in, one out, several
    (or a list) in, a tuple out."""
    return _atleast(tensors, 1, "atleast_1d")


@composite("atleast_2d", samples=_atleast_samples)
def atleast_2d(*tensors):
    """Each tensor with at least 2 dims: () -> (1, 1), (n,) -> (1, n)."""
    return _atleast(tensors, 2, "atleast_2d")


@composite("atleast_3d", samples=_atleast_samples)
def atleast_3d(*tensors):
    """Each tensor with at least 3 dims: () -> (1, 1, 1), (n,) -> (1, n, 1),
    (m, n) -> (m, n, 1)."""
    return _atleast(tensors, 3, "atleast_3d")


# -- stacks -----------------------------------------------------------------------------------
def _sequence(tensors, more, op):
    """The tensors of ``op([a, b])`` (PyTorch's form) or ``op(a, b)`` (two or more: a
    single tensor is a TypeError, as PyTorch's)."""
    if isinstance(tensors, Tensor) and more:
        tensors = (tensors,) + more
    elif more:
        raise TypeError(f"{op}() takes one sequence of tensors, got {len(more) + 1} arguments")
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}(): expected a sequence of Tensors, got {type(tensors).__name__}")
    if not tensors:
        raise RuntimeError(f"{op} expects a non-empty TensorList")
    return _tensors(list(tensors), (), op)[0]


def _stack_samples(rng):
    r = rng.standard_normal
    return [Sample([r((3,)), r((2,))]), Sample([r((2, 3)), r((2, 1))]),
            Sample([r(()), r((2,))]), Sample([r((2, 1, 3)), r((2, 2, 3))])]


@composite("hstack", samples=_stack_samples)
def hstack(tensors, *more):
    """The tensors (at least 1-d) joined along dim 1, or along dim 0 when all are 1-d
    (``hstack([a, b])``; ``hstack(a, b)`` also works).

    Raises: RuntimeError for an empty list or sizes that don't match."""
    items = [_lift(t, 1) for t in _sequence(tensors, more, "hstack")]
    return cat(items, dim=0 if all(t.ndim == 1 for t in items) else 1)


@composite("vstack", aliases=("row_stack",), samples=lambda rng: [
    Sample([rng.standard_normal((3,)), rng.standard_normal((3,))]),
    Sample([rng.standard_normal((2, 3)), rng.standard_normal((1, 3))]),
    Sample([rng.standard_normal(()), rng.standard_normal((1,))])])
def vstack(tensors, *more):
    """The tensors, made at least 2-d ((n,) -> (1, n)), joined along dim 0."""
    return cat([_lift(t, 2) for t in _sequence(tensors, more, "vstack")], dim=0)


@composite("dstack", samples=lambda rng: [
    Sample([rng.standard_normal((3,)), rng.standard_normal((3,))]),
    Sample([rng.standard_normal((2, 3)), rng.standard_normal((2, 3, 2))])])
def dstack(tensors, *more):
    """The tensors, made at least 3-d, joined along dim 2 (depth)."""
    return cat([_lift(t, 3) for t in _sequence(tensors, more, "dstack")], dim=2)


@composite("column_stack", samples=lambda rng: [
    Sample([rng.standard_normal((3,)), rng.standard_normal((3, 2))]),
    Sample([rng.standard_normal(()), rng.standard_normal((1,))])])
def column_stack(tensors, *more):
    """The tensors as columns: 0-d and 1-d tensors become (n, 1) columns, then hstack."""
    items = _sequence(tensors, more, "column_stack")
    return hstack([reshape(t, (t.numel(), 1)) if t.ndim < 2 else t for t in items])


# -- splits and windows -----------------------------------------------------------------------
@composite("split_with_sizes", method=True, samples=lambda rng: [
    Sample([rng.standard_normal((5, 2)), [2, 3]]),
    Sample([rng.standard_normal((2, 5)), [1, 0, 4]], {"dim": 1})])
def split_with_sizes(input, split_sizes, dim=0):
    """Views of ``input`` along ``dim`` with the listed sizes (which must sum to the dim's
    size); ``split`` with a list."""
    if not isinstance(split_sizes, (list, tuple)):
        raise TypeError(f"split_with_sizes(): argument 'split_sizes' must be a list of ints, "
                        f"got {type(split_sizes).__name__}")
    return split(input, list(split_sizes), dim)


def _unfold_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 5)), 1, 2, 1]), Sample([r((7,)), 0, 3, 2]),
            Sample([r((4, 3)), 0, 2, 3], name="step past size"), Sample([r(()), 0, 1, 1]),
            Sample([r((2, 3)), -1, 0, 1], name="empty windows")]


@composite("unfold", method=True, samples=_unfold_samples)
def unfold(input, dimension, size, step):
    """``Tensor.unfold``: every window of ``size`` elements along ``dimension``, ``step``
    apart, as a new last dim; the dim becomes (n - size) // step + 1 long. The gradient adds
    back over overlapping windows (an index gather; getitem's rule scatter-adds).

    Raises: IndexError for an out-of-range dim; RuntimeError when size exceeds the dim or
    step is not positive."""
    x = reshape(input, (1,)) if input.ndim == 0 else input
    d = normalize_dims(dimension, input.ndim, "unfold")[0]
    n = x.shape[d]
    size, step = int(size), int(step)
    if size > n or size < 0:
        raise ShapeError(f"unfold: maximum size for tensor at dimension {d} is {n} but size "
                         f"is {size}")
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    xp = xp_of(x)
    with backend.on_device(x.device):
        windows = (xp.arange((n - size) // step + 1) * step)[:, None] + xp.arange(size)
    out = GetItem.apply(x, key=(slice(None),) * d + (windows,))
    return movedim(out, d + 1, -1) if input.ndim else reshape(out, (size,))


# -- block_diag, cartesian_prod, meshgrid -------------------------------------------------------
@composite("block_diag", samples=lambda rng: [
    Sample([rng.standard_normal((2, 2)), rng.standard_normal((1, 3))]),
    Sample([rng.standard_normal(()), rng.standard_normal((2,)), rng.standard_normal((2, 0))]),
    Sample([rng.standard_normal((2, 3))])])
def block_diag(*tensors):
    """The block-diagonal matrix with the given blocks (0-d is 1x1, (n,) is 1xn), zeros
    elsewhere, dtypes promoted. Each block is padded with zeros to the full width (one pad
    op) and the rows joined, so each block's gradient is its slice of g.

    Raises: RuntimeError for a block with more than 2 dims."""
    if not tensors:
        return _make(backend.xp.zeros((1, 0), backend.DEFAULT_FLOAT))
    items = _tensors(list(tensors), (), "block_diag")[0]
    for i, t in enumerate(items):
        if t.ndim > 2:
            raise ShapeError(f"block_diag: Input tensors must have 2 or fewer dimensions. "
                             f"Input {i} has {t.ndim} dimensions (shape {list(t.shape)})")
    blocks = [reshape(t, (1, 1) if t.ndim == 0 else (1, t.shape[0]) if t.ndim == 1
                      else t.shape) for t in _promoted(items)]
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        right = width - left - b.shape[1]
        rows.append(PadConstant.apply(b, widths=((0, 0), (left, right)), value=0.0)
                    if left or right else b)
        left += b.shape[1]
    return cat(rows, dim=0)


def _grid_inputs(tensors, op):
    """The tensors of ``meshgrid(a, b)`` or ``meshgrid([a, b])``, checked as PyTorch does."""
    items = list(tensors[0]) if len(tensors) == 1 and not isinstance(tensors[0], Tensor) \
        else list(tensors)
    if not items:
        raise RuntimeError(f"{op} expects a non-empty TensorList")
    for t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected Tensors, got {type(t).__name__}")
        if t.ndim > 1:
            raise ShapeError(f"{op}: Expected 0D or 1D tensor in the tensor list but got a "
                             f"tensor of shape {list(t.shape)}")
        if t.dtype != items[0].dtype:
            raise RuntimeError(f"{op} expects all tensors to have the same dtype, got "
                               f"{items[0].dtype} and {t.dtype}")
        if t.device != items[0].device:
            raise RuntimeError(f"{op} expects all tensors to have the same device, got "
                               f"{items[0].device} and {t.device}")
    return items


@composite("meshgrid", samples=lambda rng: [
    Sample([rng.standard_normal((2,)), rng.standard_normal((3,))], {"indexing": "ij"}),
    Sample([rng.standard_normal((2,)), rng.standard_normal(()), rng.standard_normal((4,))],
           {"indexing": "xy"}),
    Sample([rng.standard_normal((3,))], {"indexing": "xy"})])
def meshgrid(*tensors, indexing=None):
    """Coordinate grids: output i holds tensor i (0-d or 1-d) broadcast along the others'
    dims. indexing="ij" (PyTorch's default when None): output shape (n0, n1, ...);
    "xy": the first two dims swapped, (n1, n0, n2, ...) as NumPy's default. Each output is
    a broadcast view, so its gradient sums back.

    Raises: RuntimeError for an empty list, a tensor with more than 1 dim, mixed dtypes or
    devices, or another indexing."""
    items = _grid_inputs(tensors, "meshgrid")
    indexing = "ij" if indexing is None else indexing
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'meshgrid: indexing must be one of "xy" or "ij", but received: '
                           f'{indexing}')
    sizes = [t.numel() for t in items]
    axes = list(range(len(items)))      # the output dim that tensor i runs along
    if indexing == "xy" and len(items) > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(items)
    for a, n in zip(axes, sizes):
        shape[a] = n
    out = []
    for t, a, n in zip(items, axes, sizes):
        one = [1] * len(items)
        one[a] = n
        out.append(broadcast_to(reshape(t, tuple(one)), tuple(shape)))
    return tuple(out)


@composite("cartesian_prod", samples=lambda rng: [
    Sample([rng.standard_normal((2,)), rng.standard_normal((3,))]),
    Sample([rng.standard_normal((2,)), rng.standard_normal((1,)), rng.standard_normal((2,))]),
    Sample([rng.standard_normal((3,))])])
def cartesian_prod(*tensors):
    """Every combination of one entry from each 1-d tensor, as rows of an (N, k) tensor in
    itertools.product's order (one tensor: itself)."""
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cartesian_prod(): expected Tensor as element {i} in argument 0, "
                            f"but got {type(t).__name__}")
        if t.ndim != 1:
            raise ShapeError(f"cartesian_prod: Expect a 1D vector, but got shape "
                             f"{list(getattr(t, 'shape', ()))}")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, (-1,)) for g in grids], dim=1)

