"""Tensor factories, named and shaped as in PyTorch (float32 by default), with PyTorch's
positional and keyword forms: sizes as ``zeros(2, 3)``, ``zeros((2, 3))``, ``zeros([2, 3])``
or ``zeros(size=(2, 3))``; ``randint(high, size)`` and ``randint(low, high, size)``; the
``*_like`` functions take ``input=``. Each takes ``device=`` (a ``tg.device`` or string; the
CPU by default) and allocates there; random factories draw from that device's generator
(or ``generator=``). ``layout``/``pin_memory`` are accepted for PyTorch code and ignored
(tapegrad has one layout).

Errors: a size that is not integers is a TypeError, a negative size a ShapeError (both a
RuntimeError, PyTorch's category, and a ValueError), each naming the function.
"""
import operator

from . import backend
from .backend import devices
from .core.errors import ShapeError
from .core.tensor import Tensor, _to_array
from .random import rng


def _int(v, op, what="size"):
    """``v`` as an int (Python and NumPy integers, 0-d integer tensors); TypeError naming
    the function otherwise."""
    if isinstance(v, bool) or isinstance(v, float):
        raise TypeError(f"{op}(): argument '{what}' must be a tuple of ints, but found an "
                        f"element of type {type(v).__name__}")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{op}(): argument '{what}' must be a tuple of ints, but found an "
                        f"element of type {type(v).__name__}") from None


def _shape(size, op="tensor factory", keyword=None):
    """PyTorch's size forms: ``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])``, ``f(size=(2, 3))``."""
    if keyword is not None:
        if size:
            raise TypeError(f"{op}(): size given both positionally and as size=")
        size = (keyword,)
    if len(size) == 1 and not isinstance(size[0], int) and \
            not isinstance(size[0], (str, bytes)) and hasattr(size[0], "__iter__"):
        size = tuple(size[0])
    shape = tuple(_int(s, op) for s in size)
    if any(s < 0 for s in shape):
        raise ShapeError(f"{op}(): Dimension size must be non-negative, got size {list(shape)}")
    return shape


def _finish(arr, requires_grad):
    t = Tensor(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float(dtype, op="tensor factory"):
    dt = backend.as_dtype(dtype) or backend.DEFAULT_FLOAT
    if not backend.is_floating(dt):
        raise TypeError(f"{op}(): expected a floating dtype, got {dt}")
    return dt


def _dtype(dtype):
    return backend.as_dtype(dtype) or backend.DEFAULT_FLOAT


def _alloc(device, name, *args, **kw):
    """``xp.<name>(*args, **kw)`` with the array module of ``device``, allocated there."""
    dev = devices.resolve(device)
    if dev.type == "cpu":
        return getattr(backend.xp, name)(*args, **kw)
    with backend.on_device(dev):
        return getattr(backend.module_for(dev), name)(*args, **kw)


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data``; Python floats become float32, NumPy arrays
    keep their dtype. ``device``: where to put it (default: where ``data`` is, the CPU for
    Python data)."""
    dev = None if device is None else devices.resolve(device)
    return _finish(_to_array(data, dtype, copy=True, device=dev), requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with an array (or tensor) when it can."""
    dev = None if device is None else devices.resolve(device)
    if isinstance(data, Tensor) and (dtype is None or data.dtype == backend.as_dtype(dtype)) \
            and (dev is None or data.device == dev):
        return data
    return Tensor(_to_array(data, dtype, device=dev))


def from_numpy(array, requires_grad=False):
    """A tensor sharing memory with ``array`` (writes to one show in the other)."""
    if not isinstance(array, backend.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return _finish(_to_array(array), requires_grad)


def _filled(name):
    def factory(*size, dtype=None, layout=None, device=None, requires_grad=False,
                pin_memory=False, **kw):
        shape = _shape(size, name, kw.pop("size", None))
        _no_extra(name, kw)
        return _finish(_alloc(device, name, shape, _dtype(dtype)), requires_grad)
    factory.__name__ = factory.__qualname__ = name
    return factory


def _no_extra(op, kw):
    kw.pop("memory_format", None)
    if kw:
        raise TypeError(f"{op}() got an unexpected keyword argument '{next(iter(kw))}'")


zeros = _filled("zeros")
zeros.__doc__ = "A tensor of zeros of ``size`` (float32 unless ``dtype``)."
ones = _filled("ones")
ones.__doc__ = "A tensor of ones of ``size`` (float32 unless ``dtype``)."
empty = _filled("empty")
empty.__doc__ = "An uninitialised tensor of ``size`` (float32 unless ``dtype``)."


def full(size, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False,
         pin_memory=False):
    """A tensor of ``size`` filled with ``fill_value``; the dtype follows the value (bool,
    int64, or float32) unless given."""
    shape = _shape((size,), "full")
    if dtype is None:
        dtype = (backend.bool_ if isinstance(fill_value, bool) else
                 backend.int64 if isinstance(fill_value, int) else backend.DEFAULT_FLOAT)
    return _finish(_alloc(device, "full", shape, fill_value, backend.as_dtype(dtype)),
                   requires_grad)


def arange(start=None, end=None, step=1, *, dtype=None, layout=None, device=None,
           requires_grad=False, pin_memory=False):
    """start, start + step, ... below ``end`` (``arange(end)`` starts at 0; ``end=`` and
    ``start=`` work as keywords). int64 when every bound is an integer, else float32.

    Raises: RuntimeError for step 0 or a step pointing away from end."""
    if end is None:
        if start is None:
            raise TypeError("arange() missing required argument 'end'")
        start, end = 0, start
    elif start is None:
        start = 0
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"arange: upper bound and larger bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step})")
    if dtype is None:
        is_int = all(isinstance(v, int) for v in (start, end, step))
        dtype = backend.int64 if is_int else backend.DEFAULT_FLOAT
    return _finish(_alloc(device, "arange", start, end, step, dtype=backend.as_dtype(dtype)),
                   requires_grad)


def linspace(start, end, steps, *, dtype=None, layout=None, device=None, requires_grad=False,
             pin_memory=False):
    """``steps`` evenly spaced values from start to end, both included."""
    steps = _int(steps, "linspace", "steps")
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps}")
    return _finish(_alloc(device, "linspace", start, end, steps, dtype=_dtype(dtype)),
                   requires_grad)


def eye(n, m=None, *, dtype=None, layout=None, device=None, requires_grad=False,
        pin_memory=False):
    """The n x m (n x n) identity matrix."""
    n = _int(n, "eye", "n")
    m = n if m is None else _int(m, "eye", "m")
    if n < 0 or m < 0:
        raise RuntimeError(f"eye: n and m must be non-negative, got n={n}, m={m}")
    return _finish(_alloc(device, "eye", n, m, dtype=_dtype(dtype)), requires_grad)


def _draw(generator, device):
    return rng(generator, None if device is None else devices.resolve(device))


def rand(*size, generator=None, dtype=None, layout=None, device=None, requires_grad=False,
         pin_memory=False, **kw):
    """Uniform samples in [0, 1) of ``size``."""
    shape = _shape(size, "rand", kw.pop("size", None))
    _no_extra("rand", kw)
    return _finish(_sampled(_draw(generator, device).random, shape, _float(dtype, "rand")),
                   requires_grad)


def randn(*size, generator=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False, **kw):
    """Standard normal samples of ``size``."""
    shape = _shape(size, "randn", kw.pop("size", None))
    _no_extra("randn", kw)
    return _finish(_sampled(_draw(generator, device).standard_normal, shape,
                            _float(dtype, "randn")), requires_grad)


def _sampled(draw, shape, dtype):
    """``draw(shape, dtype=dtype)``; the generators make float32 and float64 only, so 16-bit
    floats are drawn as float32 and rounded."""
    if dtype in backend.HALF:
        return draw(shape, dtype=backend.float32).astype(dtype)
    return draw(shape, dtype=dtype)


def _bounds(op, args, low, high):
    """(low, high) of ``randint``'s forms: (high), (low, high), low=/high= keywords."""
    if len(args) == 2:
        low, high = args
    elif len(args) == 1:
        if high is None:
            high = args[0]
        else:
            low = args[0]
    elif len(args) > 2:
        raise TypeError(f"{op}() takes at most 3 positional arguments (low, high, size)")
    if high is None:
        raise TypeError(f"{op}() missing required argument 'high'")
    low, high = _int(0 if low is None else low, op, "low"), _int(high, op, "high")
    if low >= high:
        raise RuntimeError(f"{op}: expects 'low' to be less than 'high', but got "
                           f"low={low} >= high={high}")
    return low, high


def randint(*args, size=None, low=None, high=None, generator=None, dtype=None, layout=None,
            device=None, requires_grad=False, pin_memory=False):
    """Integers uniform in [low, high): ``randint(high, size)``, ``randint(low, high, size)``
    (or ``low=``, ``high=``, ``size=`` keywords). int64 unless ``dtype`` (floats too).

    Raises: TypeError without a size or high; RuntimeError for low >= high."""
    args = list(args)
    if size is None:
        if not args or isinstance(args[-1], int) or not hasattr(args[-1], "__iter__"):
            raise TypeError("randint() missing required argument 'size' (a tuple of ints): "
                            "randint(high, size) or randint(low, high, size)")
        size = args.pop()
    low, high = _bounds("randint", args, low, high)
    out = _draw(generator, device).integers(low, high, _shape((size,), "randint"),
                                            dtype=backend.int64)
    dtype = backend.as_dtype(dtype) or backend.int64
    return _finish(out if dtype == backend.int64 else out.astype(dtype), requires_grad)


def randperm(n, *, generator=None, dtype=None, layout=None, device=None, requires_grad=False,
             pin_memory=False):
    """A random permutation of 0..n-1 (int64 unless ``dtype``)."""
    n = _int(n, "randperm", "n")
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    return _finish(_draw(generator, device).permutation(n).astype(
        backend.as_dtype(dtype) or backend.int64), requires_grad)


def _like(fn):
    def like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
             memory_format=None, **kw):
        return fn(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad,
                  device=input.device if device is None else device, **kw)
    like.__name__ = like.__qualname__ = fn.__name__ + "_like"
    like.__doc__ = f"``{fn.__name__}`` with the shape, dtype and device of ``input``."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
rand_like = _like(rand)
randn_like = _like(randn)


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None):
    """``full`` with the shape, dtype and device of ``input``."""
    return full(input.shape, fill_value, dtype=dtype or input.dtype,
                requires_grad=requires_grad, device=input.device if device is None else device)


def randint_like(input, *args, low=None, high=None, generator=None, dtype=None, layout=None,
                 device=None, requires_grad=False, memory_format=None):
    """``randint`` with the shape, dtype and device of ``input``: ``randint_like(x, high)``
    or ``randint_like(x, low, high)``."""
    low, high = _bounds("randint_like", list(args), low, high)
    return randint(low, high, input.shape, generator=generator, dtype=dtype or input.dtype,
                   requires_grad=requires_grad, device=input.device if device is None else device)
