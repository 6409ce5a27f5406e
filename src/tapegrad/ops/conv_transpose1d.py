"""conv_transpose1d: the transposed 1-d convolution, conv_transpose2d with a unit height
(so its gradients of every order are conv2d's closed family, see conv.py)."""
from ..core.errors import ShapeError
from ..core.registry import composite
from ..core.tensor import Tensor
from ._util import Sample
from .conv import _check, conv_transpose2d
from .shape import unsqueeze, squeeze


def _single(v, name):
    """An int or a 1-sequence as an int (stride, padding, output_padding, dilation)."""
    if isinstance(v, int):
        return v
    v = tuple(int(a) for a in v)
    if len(v) != 1:
        raise ShapeError(f"conv_transpose1d: {name} must be an int or a 1-tuple, got {v}")
    return v[0]


def _convt1d_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 2, 4)), r((2, 3, 2)), r((3,))]),
            Sample([r((1, 2, 4)), r((2, 1, 3))],
                   {"stride": 2, "padding": 1, "output_padding": 1}, name="stride pad outpad"),
            Sample([r((1, 4, 3)), r((4, 1, 2)), r((2,))], {"groups": 2, "dilation": 2},
                   name="groups dilation"),
            Sample([r((2, 3)), r((2, 2, 2))], name="unbatched"),
            Sample([r((0, 2, 3)), r((2, 2, 2))], name="empty batch")]


@composite("conv_transpose1d", samples=_convt1d_samples)
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """Transposed 1-d convolution (the gradient of conv1d w.r.t. its input): (N, Cin, L) or
    (Cin, L) input, (Cin, Cout/groups, k) weight, bias (Cout,);
    L_out = (L - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1.

    Raises ShapeError for inputs of the wrong rank or channel count, RuntimeError for
    mismatched dtypes, groups that don't divide the channels or an empty output."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"conv_transpose1d: expected tensors, got {type(input).__name__} and "
                        f"{type(weight).__name__}")
    unbatched = input.ndim == 2
    x = unsqueeze(input, 0) if unbatched else input
    if weight.ndim != 3 or x.ndim != 3:
        raise ShapeError(f"conv_transpose1d: expected a 2-d (unbatched) or 3-d input and a 3-d "
                         f"weight, got input {list(input.shape)} and weight "
                         f"{list(weight.shape)}")
    _check("conv_transpose1d", x, weight, bias, groups, nd=1)
    if x.shape[1] != weight.shape[0]:
        raise ShapeError(f"conv_transpose1d: weight of shape {list(weight.shape)} expects "
                         f"{weight.shape[0]} input channels, but input {list(input.shape)} "
                         f"has {x.shape[1]}")
    s, p = _single(stride, "stride"), _single(padding, "padding")
    op, d = _single(output_padding, "output_padding"), _single(dilation, "dilation")
    if op >= s and op >= d:
        raise ValueError(f"conv_transpose1d: output_padding ({op}) must be smaller than either "
                         f"stride ({s}) or dilation ({d})")
    length = (x.shape[2] - 1) * s - 2 * p + d * (weight.shape[2] - 1) + op + 1
    if length <= 0:
        raise ShapeError(f"conv_transpose1d: the output length {length} is too small (input "
                         f"{list(input.shape)}, weight {list(weight.shape)}, stride {s}, "
                         f"padding {p}, dilation {d}, output_padding {op})")
    out = conv_transpose2d(unsqueeze(x, 2), unsqueeze(weight, 2), bias, (1, s), (0, p),
                           (0, op), groups, (1, d))
    out = squeeze(out, 2)
    return squeeze(out, 0) if unbatched else out
