"""Convolution layers: Conv1d, Conv2d (padding_mode 'zeros', 'reflect', 'replicate',
'circular'), ConvTranspose1d, ConvTranspose2d (``output_size`` in forward).

Each holds its weight and bias and calls the op in ``tg.nn.functional``. Initialisation is
PyTorch's (kaiming_uniform_ with a=sqrt(5), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
"""
from ..core.errors import ShapeError
from . import functional as F
from .layers import _param, _reset_weight_bias, _tuple
from .module import Module

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _n = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", output_padding=0,
                 dtype=None, device=None, generator=None):
        super().__init__()
        n = self._n
        if groups <= 0:
            raise ValueError(f"groups must be a positive integer, got {groups}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must both be divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, but got "
                             f"padding_mode={padding_mode!r}")
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, n)
        self.stride = _tuple(stride, n)
        self.dilation = _tuple(dilation, n)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 f"('same', 'valid')")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n)
        self.output_padding = _tuple(output_padding, n)
        self.groups = groups
        self.padding_mode = padding_mode
        self._reversed_padding_repeated_twice = self._pad_widths()
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = _param(*shape, dtype=dtype, device=device)
        if bias:
            self.bias = _param(out_channels, dtype=dtype, device=device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def _pad_widths(self):
        """F.pad's widths (last dim first) for a non-zeros padding_mode: the padding
        repeated on both sides, or 'same''s split (the extra one on the right, as PyTorch)."""
        out = []
        for i in reversed(range(self._n)):
            if self.padding == "same":
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                out += [total // 2, total - total // 2]
            elif self.padding == "valid":
                out += [0, 0]
            else:
                out += [self.padding[i]] * 2
        return tuple(out)

    def _conv_forward(self, x, conv):
        """conv(x, weight, bias, ...) with the padding done by F.pad for non-zeros modes."""
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                    self.groups)

    def reset_parameters(self, generator=None):
        # PyTorch computes fan_in from the weight as stored (also for transposed convs)
        """Re-draw the parameters as PyTorch does: ``weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
        (``kaiming_uniform_`` with ``a = sqrt(5)``, ``fan_in`` from the weight as stored, also for
        transposed convolutions) and the bias from the same range.

        Args:
            generator (tg.Generator, optional): draw from this stream instead of the default.
        """
        _reset_weight_bias(self.weight, self.bias, generator)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._n:
            s += f", dilation={self.dilation}"
        if self._transposed and self.output_padding != (0,) * self._n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) or (C, L) inputs; weight (out, in/groups, k).
    ``padding_mode`` 'reflect', 'replicate' or 'circular' pads with F.pad first."""
    _n = 1

    def forward(self, x):
        return self._conv_forward(x, F.conv1d)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) or (C, H, W) inputs; weight (out, in/groups, kh,
    kw). ``padding_mode`` 'reflect', 'replicate' or 'circular' pads with F.pad first."""
    _n = 2

    def forward(self, x):
        return self._conv_forward(x, F.conv2d)


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 dtype=None, device=None, generator=None):
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple, got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype, device, generator)

    def _output_padding(self, x, output_size):
        """The output_padding giving ``output_size`` (PyTorch's rule: each size must lie in
        [min, min + stride - 1], min being the size without output padding)."""
        if output_size is None:
            return self.output_padding
        n = self._n
        lead = 2 if x.ndim == n + 2 else 1
        output_size = tuple(int(s) for s in output_size)
        if len(output_size) == lead + n:
            output_size = output_size[lead:]
        if len(output_size) != n:
            raise ShapeError(f"{type(self).__name__}: for a {x.ndim}-d input, output_size must "
                             f"have {n} or {lead + n} elements (got {len(output_size)})")
        lo = [(x.shape[lead + d] - 1) * self.stride[d] - 2 * self.padding[d] +
              self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(n)]
        hi = [m + s - 1 for m, s in zip(lo, self.stride)]
        if any(not a <= s <= b for s, a, b in zip(output_size, lo, hi)):
            raise ShapeError(f"{type(self).__name__}: requested an output size of "
                             f"{output_size}, but valid sizes range from {lo} to {hi} (for an "
                             f"input of shape {list(x.shape)})")
        return tuple(s - a for s, a in zip(output_size, lo))


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution; weight (in, out/groups, k). ``forward(x, output_size)``
    picks the output_padding that gives that length."""
    _n = 1

    def forward(self, x, output_size=None):
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution; weight (in, out/groups, kh, kw). ``forward(x,
    output_size)`` picks the output_padding that gives that size."""
    _n = 2

    def forward(self, x, output_size=None):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)
