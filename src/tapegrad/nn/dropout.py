"""Dropout layers: Dropout (elementwise) and Dropout1d/2d/3d (whole channels). In training
mode each zeroes with probability ``p`` and scales the rest by 1/(1-p); in eval mode it is
the identity. The masks come from ``generator`` if given, else from tapegrad's default
generator (``tg.manual_seed``)."""
from . import functional as F
from .module import Module


class _DropoutNd(Module):
    _fn = staticmethod(F.dropout)

    def __init__(self, p=0.5, inplace=False, generator=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace, self.generator = p, inplace, generator

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.generator is not None:
            return self._fn(x, self.p, True, generator=self.generator)
        return self._fn(x, self.p, True)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes each element independently."""


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L) inputs (``F.dropout1d``)."""
    _fn = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) inputs (``F.dropout2d``; a 3-d input is taken
    as (N, C, L), with PyTorch's warning)."""
    _fn = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) inputs (``F.dropout3d``)."""
    _fn = staticmethod(F.dropout3d)
