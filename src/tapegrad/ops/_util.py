"""Helpers every op file uses: undoing broadcasting, dim arguments, the array module of
inputs, test samples."""
import operator

from .. import backend
from ..core.errors import ShapeError, not_numbers, wrong_type
from ..core.function import Function
from ..core.registry import primitive, composite, linear_jvp
from ..core.modes import STATE


def normalize_dims(dim, ndim, op="op"):
    """``dim`` (None, int or sequence) as a sorted tuple of non-negative axes, or None.

    Raises IndexError (a dim out of range), RuntimeError (a dim listed twice, as PyTorch)
    or TypeError (a dim that is not an integer), each naming ``op``."""
    if dim is None:
        return None
    lim = max(ndim, 1)
    if type(dim) is int:     # the common case, without building a list
        if not -lim <= dim < lim:
            raise _dim_range_error(op, dim, lim)
        return (dim % lim,)
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    out = []
    for d in dims:
        d = as_int(d, op, "dim")
        if not -lim <= d < lim:
            raise _dim_range_error(op, d, lim)
        out.append(d % lim)
    check_dims_unique(out, op)
    return tuple(sorted(out))


def normalize_dim(dim, ndim, op="op"):
    """One dim (an int, or a 0-d integer tensor) as a non-negative axis: the errors of
    :func:`normalize_dims`, and a TypeError for a sequence."""
    if type(dim) is not int:
        dim = as_int(dim, op, "dim")
    lim = max(ndim, 1)
    if not -lim <= dim < lim:
        raise _dim_range_error(op, dim, lim)
    return dim % lim


def _dim_range_error(op, d, lim):
    return IndexError(f"{op}: dimension out of range (expected to be in range of "
                      f"[{-lim}, {lim - 1}], but got {d})")


def check_dims_unique(dims, op):
    """PyTorch's error for a dim listed twice (``sum(dim=(0, 0))``, ``flip((1, 1))``,
    ``permute(0, 0)``): a RuntimeError naming ``op`` and the dim. ``dims`` are normalized
    (non-negative)."""
    if len(set(dims)) != len(dims):
        d = next(d for i, d in enumerate(dims) if d in dims[:i])
        raise RuntimeError(f"{op}: dim {d} appears multiple times in the list of dims "
                           f"{list(dims)}")


def as_int(v, op, name):
    """``v`` as a Python int (ints, NumPy integers, integer 0-d tensors); anything else (a
    float, a string, a sequence) is a TypeError naming ``op`` and the argument."""
    if type(v) is int:
        return v
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{op}(): argument '{name}' must be int, not {_kind(v)}") from None


def size_args(sizes, op, name="size"):
    """Sizes given as ``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])`` as a tuple of ints; an
    entry that is not an integer is a TypeError naming ``op`` and ``name`` (PyTorch's
    "must be tuple of ints")."""
    if len(sizes) == 1 and not isinstance(sizes[0], int):
        sizes = sizes[0]
    if isinstance(sizes, (str, dict)) or not hasattr(sizes, "__iter__"):
        if hasattr(sizes, "__index__"):     # f(n) with a NumPy integer or 0-d tensor
            return (operator.index(sizes),)
        raise TypeError(f"{op}(): argument '{name}' must be a tuple of ints, not "
                        f"{_kind(sizes)}")
    out = []
    for i, s in enumerate(sizes):
        if type(s) is not int:
            try:
                s = operator.index(s)
            except TypeError:
                raise TypeError(f"{op}(): argument '{name}' must be a tuple of ints, but "
                                f"found element of type {_kind(s)} at pos {i}") from None
        out.append(s)
    return tuple(out)


def _kind(v):
    return type(v).__name__


def check_numbers(op, **args):
    """A TypeError naming ``op`` and the argument, for an argument holding no numbers (a
    string, a dict, a list of strings...), where an op would otherwise take it silently
    (NumPy makes arrays of text)."""
    for name, v in args.items():
        what = not_numbers(v)
        if what is not None:
            raise wrong_type(op, f"'{name}'", what)


def pick_dim(dim, axis, default=None):
    """PyTorch's ``dim=`` with NumPy's ``axis=`` accepted as an alias."""
    if axis is not None:
        if dim is not None and dim is not default:
            raise TypeError("pass either dim= or axis=, not both")
        return axis
    return dim


def pick_keepdim(keepdim, keepdims):
    return bool(keepdims) if keepdims is not None else bool(keepdim)


def pair(v, op, name):
    """An int or a 1- or 2-sequence as a pair (kernel sizes, strides, padding, dilation);
    a non-integer is a TypeError, a sequence of another length a ShapeError."""
    if isinstance(v, int):
        return (v, v)
    v = size_args((v,), op, name)
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) != 2:
        raise ShapeError(f"{op}: {name} must be an int or a pair, got {list(v)}")
    return v


def xp_of(*xs):
    """The array module of these tensors or arrays: NumPy on the CPU, CuPy on a GPU (for
    composites and helpers; a Function's forward and vjp have it as ``ctx.xp``)."""
    for x in xs:
        d = getattr(x, "_data", x)
        if type(d) is not backend.ndarray and backend.is_array(d):
            return backend.array_module(d)
    return backend.xp


def const_like(data, like, dtype=None):
    """A constant tensor (no graph) holding ``data`` on the device of tensor ``like``."""
    from ..core.function import _make
    xp = xp_of(like)
    if xp is backend.xp:
        return _make(xp.asarray(data, dtype=dtype))
    with backend.on_device(like.device):
        return _make(xp.asarray(data, dtype=dtype))


def pad_hw(x, pad, value=0.0):
    """Array (N, C, H, W) padded by ((top, bottom), (left, right)) with ``value``."""
    (pt, pb), (pl, pr) = pad
    if not (pt or pb or pl or pr):
        return x
    n, c, h, w = x.shape
    out = xp_of(x).full((n, c, h + pt + pb, w + pl + pr), value, dtype=x.dtype)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


def broadcast_shapes(op, *shapes):
    """The shape ``shapes`` broadcast to, or a ShapeError naming ``op`` and the shapes."""
    try:
        return tuple(backend.xp.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(f"{op}: the shapes {' and '.join(str(list(s)) for s in shapes)} "
                         f"cannot be broadcast together") from None


def sum_to_array(x, shape):
    """Sum array ``x`` down to ``shape`` (the shape it was broadcast from)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and x.shape[i + lead] != 1)
    y = x.sum(axis=axes, keepdims=True)
    return y.reshape(shape) if lead or y.shape != shape else y


@primitive("sum_to_size", public=False)
class SumTo(Function):
    """y = x summed down to ``shape`` (undoes broadcasting); dy/dx broadcasts back."""

    array_vjp = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return sum_to_array(x, shape)

    @staticmethod
    def vjp(ctx, g):
        return broadcast_to(g, ctx.in_shape)

    jvp = linear_jvp


def sum_to(x, shape):
    """Undo broadcasting: sum ``x`` down to ``shape`` (a no-op when it already has it)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return SumTo.apply(x, shape=shape)


@primitive("broadcast_to", public=False)
class BroadcastTo(Function):
    """y = x repeated along broadcast dims (a read-only view); dy/dx sums back."""

    array_vjp = True
    view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return ctx.xp.broadcast_to(x, shape)

    @staticmethod
    def vjp(ctx, g):
        return sum_to(g, ctx.in_shape)

    jvp = linear_jvp


def _broadcast_samples(rng):
    return [Sample([rng.standard_normal((3,))], {"shape": (2, 3)}),
            Sample([rng.standard_normal((2, 1))], {"shape": (2, 4)}),
            Sample([rng.standard_normal(())], {"shape": (3,)})]


@composite("broadcast_to", method=True, samples=_broadcast_samples)
def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape`` (NumPy rules)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return BroadcastTo.apply(x, shape=shape)


# -- test samples ---------------------------------------------------------------------------
class Sample:
    """One test input for an op: positional args (float64 arrays take gradients) + kwargs.

    ``torch``: how to call the PyTorch reference (a callable of the same args), when the
    op's PyTorch name or signature differs.
    """

    def __init__(self, args, kwargs=None, name="", kink=False):
        self.args, self.kwargs, self.name = list(args), dict(kwargs or {}), name
        self.kink = kink  # sits on a kink or tie: finite differences don't apply

    def __repr__(self):
        shapes = [getattr(a, "shape", a) for a in self.args]
        return f"Sample({shapes}, {self.kwargs})"


SHAPES_UNARY = [(), (3,), (2, 3), (2, 0)]
SHAPES_BINARY = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)),
                 ((0, 3), (3,))]


def unary_samples(low=-2.0, high=2.0, shapes=SHAPES_UNARY, avoid=None, **kwargs):
    """Samples for a unary elementwise op on values in [low, high], kept away from the
    points in ``avoid`` (kinks) so finite differences are valid."""
    def gen(rng):
        out = []
        for s in shapes:
            x = rng.uniform(low, high, s)
            if avoid is not None:
                for a in avoid:
                    x = x + 0.2 * (abs(x - a) < 0.1)
            out.append(Sample([x], kwargs))
        return out
    return gen


def binary_samples(low=-2.0, high=2.0, low2=None, high2=None, shapes=SHAPES_BINARY,
                   scalars=(2.5,)):
    """Samples for a binary broadcasting op, plus tensor-with-python-scalar cases."""
    low2 = low if low2 is None else low2
    high2 = high if high2 is None else high2

    def gen(rng):
        out = [Sample([rng.uniform(low, high, a), rng.uniform(low2, high2, b)])
               for a, b in shapes]
        for s in scalars:
            out.append(Sample([rng.uniform(low, high, (2, 3)), s]))
        return out
    return gen


def guard(arr, check, *args, what):
    """The running composite chose its computation knowing ``check(arr, *args)`` (a
    module-level function) holds for index or data array ``arr``; ``what`` says what held.
    Under tg.compile the replay checks it again on every call and stops with an error when
    it fails, where eager would have computed something else (or raised)."""
    if STATE.trace is not None:
        STATE.trace.guard(arr, check, args, what)


def in_range(a, lo, hi):
    """Every entry in [lo, hi) (or ``a`` is empty)."""
    return a.size == 0 or (lo <= a.min() and a.max() < hi)


def in_range_closed(a, lo, hi):
    """Every entry in [lo, hi], none NaN."""
    return not ((a < lo) | (a > hi) | (a != a)).any()


def finite(a):
    """No NaN or infinity."""
    return bool(xp_of(a).isfinite(a).all())


def max_is(a, value):
    return a.size != 0 and a.max() == value


def not_traceable(what):
    """Say that the running composite derives arrays from index values outside the ops:
    tg.compile's tracer (when one is active) refuses with a TraceError naming ``what``."""
    if STATE.trace is not None:
        STATE.trace.refuse(what)
