"""Pooling layers: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d/3d, AdaptiveMaxPool1d/2d.
Each keeps its arguments and calls the op in ``tg.nn.functional``."""
from . import functional as F
from .module import Module


class _Pool(Module):
    _n = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_Pool):
    """Max over sliding windows of the last dim (``F.max_pool1d``):
    ``y[n, c, i] = max_k x[n, c, i * stride - padding + k * dilation]``; the gradient goes
    to the position of the maximum (the first one on ties).

    Args:
        kernel_size (int): the window length.
        stride (int, optional): the step (``kernel_size`` by default).
        padding (int): implicit -inf on both sides (at most half the kernel).
        dilation (int): the spacing between window elements.
        return_indices (bool): also return the argmax indices.
        ceil_mode (bool): round the output length up instead of down.

    Shapes: (N, C, L) or (C, L) in, (N, C, L_out) out with
    ``L_out = floor((L + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1``.

    Raises:
        tg.ShapeError: an input of another rank, or a window larger than the padded input.
    """
    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool2d(_Pool):
    """Max over sliding 2-d windows of the last two dims (``F.max_pool2d``); the gradient
    goes to the position of each window's maximum.

    Args:
        kernel_size (int or (int, int)): the window size.
        stride (int or (int, int), optional): the step (``kernel_size`` by default).
        padding (int or (int, int)): implicit -inf on each side (at most half the kernel).
        dilation (int or (int, int)): the spacing between window elements.
        return_indices (bool): also return the flat argmax indices per plane.
        ceil_mode (bool): round the output size up instead of down.

    Shapes: (N, C, H, W) or (C, H, W) in, (N, C, H_out, W_out) out, each size
    ``floor((H + 2 padding - dilation (kernel - 1) - 1) / stride) + 1``.

    Raises:
        tg.ShapeError: an input of another rank, or a window larger than the padded input.
    """
    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class _AvgPool(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad = count_include_pad

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPool):
    """Mean over sliding windows of the last dim (``F.avg_pool1d``): each output is the sum of
    its window divided by ``kernel_size`` (by the unpadded count when
    ``count_include_pad=False``); the gradient spreads evenly over the window.

    Args:
        kernel_size (int): the window length.
        stride (int, optional): the step (``kernel_size`` by default).
        padding (int): implicit zeros on both sides.
        ceil_mode (bool): round the output length up instead of down.
        count_include_pad (bool): count the padding zeros in the divisor.

    Shapes: (N, C, L) or (C, L) in, (N, C, L_out) out with
    ``L_out = floor((L + 2 padding - kernel_size) / stride) + 1``.

    Raises:
        tg.ShapeError: an input of another rank.
    """
    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AvgPool2d(_AvgPool):
    """Mean over sliding 2-d windows of the last two dims (``F.avg_pool2d``).

    Args:
        kernel_size (int or (int, int)): the window size.
        stride (int or (int, int), optional): the step (``kernel_size`` by default).
        padding (int or (int, int)): implicit zeros on each side.
        ceil_mode (bool): round the output size up instead of down.
        count_include_pad (bool): count the padding zeros in the divisor.
        divisor_override (int, optional): divide every window's sum by this instead.

    Shapes: (N, C, H, W) or (C, H, W) in, (N, C, H_out, W_out) out, each size
    ``floor((H + 2 padding - kernel) / stride) + 1``.

    Raises:
        tg.ShapeError: an input of another rank.
    """
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class _AdaptivePool(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePool):
    """Average over PyTorch's adaptive windows of (N, C, L) or (C, L) inputs, giving length
    ``output_size``."""

    def forward(self, x):
        return F.adaptive_avg_pool1d(x, self.output_size)


class AdaptiveAvgPool2d(_AdaptivePool):
    """Average over PyTorch's adaptive windows, giving ``output_size`` (an int or a pair;
    None keeps a size)."""

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)


class AdaptiveAvgPool3d(_AdaptivePool):
    """Average over PyTorch's adaptive windows of (N, C, D, H, W) or (C, D, H, W) inputs,
    giving ``output_size`` (an int or a triple; None keeps a size)."""

    def forward(self, x):
        return F.adaptive_avg_pool3d(x, self.output_size)


class _AdaptiveMaxPoolNd(_AdaptivePool):
    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Maximum over PyTorch's adaptive windows of (N, C, L) or (C, L) inputs, giving length
    ``output_size`` (and the maxima's positions when ``return_indices``)."""

    def forward(self, x):
        return F.adaptive_max_pool1d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Maximum over PyTorch's adaptive windows of (N, C, H, W) or (C, H, W) inputs, giving
    ``output_size`` (an int or a pair; None keeps a size), and the maxima's flat indices in
    their planes when ``return_indices``."""

    def forward(self, x):
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)
