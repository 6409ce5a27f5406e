"""Padding layers (PyTorch's names): ZeroPad1d/2d/3d, ConstantPad1d/2d/3d,
ReflectionPad1d/2d/3d, ReplicationPad1d/2d/3d, CircularPad1d/2d/3d. Each calls ``F.pad``
with its widths, given as an int (every side) or a tuple ordered (left, right, top, bottom,
front, back), the last dim first."""
from ..core.errors import ShapeError
from . import functional as F
from .module import Module


def _widths(padding, n):
    """An int as 2n equal widths; a sequence as it is (F.pad checks its length)."""
    if isinstance(padding, int):
        return (padding,) * (2 * n)
    return tuple(padding)


class _PadNd(Module):
    _n = 1
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _widths(padding, self._n)

    def forward(self, input):
        if self._mode != "constant":
            # PyTorch pads n dims of an (N, C, *n) or (C, *n) input in these modes
            n = len(self.padding) // 2
            if input.ndim not in (n + 1, n + 2):
                raise ShapeError(f"{type(self).__name__}: padding {self.padding} pads {n} dims "
                                 f"of a {n + 1}-d or {n + 2}-d input, got input of shape "
                                 f"{list(input.shape)}")
            return F.pad(input, self.padding, self._mode)
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


def _kind(base, n, mode, doc):
    return type(f"{base}{n}d", (_PadNd,), {"_n": n, "_mode": mode, "__doc__": doc,
                                            "__module__": __name__})


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim with ``value``: padding (left, right) or an int."""
    _n = 1


class ConstantPad2d(_ConstantPadNd):
    """Pads the last 2 dims with ``value``: padding (left, right, top, bottom) or an int."""
    _n = 2


class ConstantPad3d(_ConstantPadNd):
    """Pads the last 3 dims with ``value``: padding (left, right, top, bottom, front, back)
    or an int."""
    _n = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pads the last dim with zeros: padding (left, right) or an int."""
    _n = 1


class ZeroPad2d(_ZeroPadNd):
    """Pads the last 2 dims with zeros: padding (left, right, top, bottom) or an int."""
    _n = 2


class ZeroPad3d(_ZeroPadNd):
    """Pads the last 3 dims with zeros: padding (left, right, top, bottom, front, back) or
    an int."""
    _n = 3


_REFLECT = "Pads the last {n} dim(s) of a {a}-d or {b}-d input with their mirror image, the " \
           "edge not repeated (each width below that dim's size)."
_REPLICATE = "Pads the last {n} dim(s) of a {a}-d or {b}-d input by repeating the edge values."
_CIRCULAR = "Pads the last {n} dim(s) of a {a}-d or {b}-d input by wrapping around (each " \
            "width at most that dim's size)."

ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = (
    _kind("ReflectionPad", n, "reflect", _REFLECT.format(n=n, a=n + 1, b=n + 2))
    for n in (1, 2, 3))
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = (
    _kind("ReplicationPad", n, "replicate", _REPLICATE.format(n=n, a=n + 1, b=n + 2))
    for n in (1, 2, 3))
CircularPad1d, CircularPad2d, CircularPad3d = (
    _kind("CircularPad", n, "circular", _CIRCULAR.format(n=n, a=n + 1, b=n + 2))
    for n in (1, 2, 3))
