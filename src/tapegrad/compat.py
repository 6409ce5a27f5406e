"""The small things of ``torch`` that programs touch beside tensor math: ``tg.Size``,
``tg.finfo``/``tg.iinfo``, the constants ``pi``/``e``/``inf``/``nan``/``newaxis``,
``is_floating_point``/``is_complex``, and the thread and matmul-precision settings.

``set_num_threads``/``get_num_threads`` are real (``backend/threads.py``). The other settings
are accepted and remembered but change nothing, and say so here: tapegrad's float32
products are always computed in full float32 (PyTorch's ``"highest"``), and it runs one op
at a time (no inter-op pool).
"""
import math
import os

from .backend.threads import get_num_threads, set_num_threads

from . import backend

__all__ = ["Size", "finfo", "iinfo", "pi", "e", "inf", "nan", "newaxis", "is_floating_point",
           "is_complex", "get_num_threads", "set_num_threads", "get_num_interop_threads",
           "set_num_interop_threads", "get_float32_matmul_precision",
           "set_float32_matmul_precision"]

pi, e, inf, nan, newaxis = math.pi, math.e, math.inf, math.nan, None


class Size(tuple):
    """A shape: a tuple of ints, as ``torch.Size`` (``tg.Size([2, 3]) == x.shape`` holds;
    tapegrad's ``.shape`` itself is a plain tuple)."""

    def __new__(cls, sizes=()):
        sizes = tuple(sizes)
        for s in sizes:
            if not isinstance(s, int) and not hasattr(s, "__index__"):
                raise TypeError(f"Size: expected a sequence of ints, got an element of type "
                                f"{type(s).__name__}")
        return super().__new__(cls, (s.__index__() for s in sizes))

    def numel(self):
        """The number of elements of a tensor of this shape."""
        return math.prod(self)

    def __repr__(self):
        return f"tg.Size({list(self)})"


class finfo:
    """Limits of a floating dtype (default: the default dtype), as ``torch.finfo``: ``bits``,
    ``eps``, ``max``, ``min``, ``tiny`` (= ``smallest_normal``), ``resolution``."""

    def __init__(self, type=None):
        self.dtype = backend.as_dtype(type) or backend.DEFAULT_FLOAT
        if not backend.is_floating(self.dtype):
            raise TypeError(f"finfo: {self.dtype} is not a floating dtype (use tg.iinfo)")
        f = backend.xp.finfo(self.dtype)
        self.bits = int(f.bits)
        self.eps, self.max, self.min = float(f.eps), float(f.max), float(f.min)
        self.tiny = self.smallest_normal = float(f.smallest_normal)
        self.resolution = 10.0 ** -int(f.precision)

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.tiny:g}, tiny={self.tiny:g}, "
                f"dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype, as ``torch.iinfo``: ``bits``, ``max``, ``min``."""

    def __init__(self, type):
        self.dtype = backend.as_dtype(type)
        if self.dtype is None or self.dtype.kind not in "iu":
            raise TypeError(f"iinfo: {self.dtype} is not an integer dtype (use tg.finfo)")
        i = backend.xp.iinfo(self.dtype)
        self.bits, self.max, self.min = int(i.bits), int(i.max), int(i.min)

    def __repr__(self):
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def is_floating_point(input):
    """Whether ``input``'s dtype is a floating one (float16/32/64, bfloat16)."""
    return backend.is_floating(input.dtype)


def is_complex(input):
    """False: tapegrad has no complex dtypes."""
    return False


_settings = {"interop": os.cpu_count() or 1,
             "matmul": "highest"}


def _remember(key, name, n):
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name}: expected a positive integer, got {n!r}")
    _settings[key] = n


def get_num_interop_threads():
    """The value last given to ``set_num_interop_threads`` (tapegrad runs ops in order)."""
    return _settings["interop"]


def set_num_interop_threads(n):
    """Accepted and remembered, no effect: tapegrad runs one op at a time."""
    _remember("interop", "set_num_interop_threads", n)


def get_float32_matmul_precision():
    """The value last given to ``set_float32_matmul_precision`` ("highest" at first)."""
    return _settings["matmul"]


def set_float32_matmul_precision(precision):
    """Accepted and remembered, no effect: float32 products are always full float32."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"set_float32_matmul_precision: expected 'highest', 'high' or "
                         f"'medium', got {precision!r}")
    _settings["matmul"] = precision
