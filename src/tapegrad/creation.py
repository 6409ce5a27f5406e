"""Tensor factories, named and shaped as in PyTorch (float32 by default). Each takes
``device=`` (a ``tg.device`` or string; the CPU by default) and allocates there; random
factories draw from that device's generator."""
from . import backend
from .backend import devices
from .core.tensor import Tensor, _to_array
from .random import rng


def _shape(size):
    if len(size) == 1 and not isinstance(size[0], int):
        size = size[0]
    return tuple(int(s) for s in size)


def _finish(arr, requires_grad):
    t = Tensor(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float(dtype):
    return backend.as_dtype(dtype) or backend.DEFAULT_FLOAT


def _alloc(device, name, *args, **kw):
    """``xp.<name>(*args, **kw)`` with the array module of ``device``, allocated there."""
    dev = devices.resolve(device)
    if dev.type == "cpu":
        return getattr(backend.xp, name)(*args, **kw)
    with backend.on_device(dev):
        return getattr(backend.module_for(dev), name)(*args, **kw)


def tensor(data, dtype=None, requires_grad=False, device=None):
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


def zeros(*size, dtype=None, requires_grad=False, device=None):
    return _finish(_alloc(device, "zeros", _shape(size), _float(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad=False, device=None):
    return _finish(_alloc(device, "ones", _shape(size), _float(dtype)), requires_grad)


def empty(*size, dtype=None, requires_grad=False, device=None):
    return _finish(_alloc(device, "empty", _shape(size), _float(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False, device=None):
    if dtype is None:
        dtype = (backend.bool_ if isinstance(fill_value, bool) else
                 backend.int64 if isinstance(fill_value, int) else backend.DEFAULT_FLOAT)
    return _finish(_alloc(device, "full", _shape((size,)), fill_value, backend.as_dtype(dtype)),
                   requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, int) for v in (start, end, step))
        dtype = backend.int64 if is_int else backend.DEFAULT_FLOAT
    return _finish(_alloc(device, "arange", start, end, step, dtype=backend.as_dtype(dtype)),
                   requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None):
    return _finish(_alloc(device, "linspace", start, end, steps, dtype=_float(dtype)),
                   requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False, device=None):
    return _finish(_alloc(device, "eye", n, m, dtype=_float(dtype)), requires_grad)


def _draw(generator, device):
    return rng(generator, None if device is None else devices.resolve(device))


def rand(*size, dtype=None, requires_grad=False, generator=None, device=None):
    """Uniform samples in [0, 1)."""
    return _finish(_draw(generator, device).random(_shape(size), dtype=_float(dtype)),
                   requires_grad)


def randn(*size, dtype=None, requires_grad=False, generator=None, device=None):
    """Standard normal samples."""
    return _finish(_draw(generator, device).standard_normal(_shape(size), dtype=_float(dtype)),
                   requires_grad)


def randint(low, high=None, size=(), dtype=None, generator=None, device=None):
    """Integers in [low, high) (``randint(high, size)`` also works)."""
    if high is None:
        low, high = 0, low
    out = _draw(generator, device).integers(low, high, _shape((size,)), dtype=backend.int64)
    dtype = backend.as_dtype(dtype) or backend.int64
    return Tensor(out if dtype == backend.int64 else out.astype(dtype))   # (floats too)


def randperm(n, dtype=None, generator=None, device=None):
    return Tensor(_draw(generator, device).permutation(n).astype(
        backend.as_dtype(dtype) or backend.int64))


def _like(fn):
    def like(t, dtype=None, requires_grad=False, device=None, **kw):
        return fn(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad,
                  device=t.device if device is None else device, **kw)
    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"``{fn.__name__}`` with the shape, dtype and device of ``t``."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
rand_like = _like(rand)
randn_like = _like(randn)


def full_like(t, fill_value, dtype=None, requires_grad=False, device=None):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad,
                device=t.device if device is None else device)


def randint_like(t, low, high=None, dtype=None, device=None):
    return randint(low, high, t.shape, dtype=dtype or t.dtype,
                   device=t.device if device is None else device)
