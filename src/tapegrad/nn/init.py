"""Parameter initialisation (PyTorch's ``nn.init``), drawing from tapegrad's generator.

Every function fills its tensor in place (no graph is recorded, the version counter is
bumped) and returns it. ``generator`` is a ``tg.Generator`` or NumPy Generator; without one
the default stream seeded by ``tg.manual_seed`` is used. Samples are drawn in float64 and
cast to the tensor's dtype.
"""
import math

from .. import backend
from ..core.tensor import Tensor
from ..random import rng


__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_",
           "zeros_", "eye_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "orthogonal_"]


def _fill(tensor, arr, name):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{name} expects a tg.Tensor, got {type(tensor).__name__}")
    data = tensor._data
    if not backend.is_floating(data.dtype) and name not in ("constant_", "zeros_", "ones_"):
        raise TypeError(f"init.{name} needs a floating point tensor, got {data.dtype}")
    xp = backend.array_module(data)
    xp.copyto(data, xp.asarray(arr), casting="unsafe")
    tensor._vc[0] += 1
    return tensor


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (linear/conv/sigmoid 1, tanh 5/3, relu
    sqrt(2), leaky_relu sqrt(2 / (1 + slope^2)), selu 3/4)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
              "conv_transpose2d", "conv_transpose3d", "sigmoid", "identity")
    if nonlinearity in linear:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}; use one of linear, conv2d, "
                     f"sigmoid, tanh, relu, leaky_relu, selu")


def _fans(tensor):
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor with fewer than "
                         f"2 dimensions (shape {list(shape)})")
    receptive = 1
    for s in shape[2:]:
        receptive *= s
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} not supported, use 'fan_in' or 'fan_out'")
    fan_in, fan_out = _fans(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _rng(generator, tensor):
    """Where ``tensor``'s random values come from: ``generator``, else its device's."""
    return rng(generator, tensor.device)


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with samples from U(a, b)."""
    return _fill(tensor, _rng(generator, tensor).uniform(a, b, tensor.shape), "uniform_")


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with samples from N(mean, std^2)."""
    return _fill(tensor, _rng(generator, tensor).normal(mean, std, tensor.shape), "normal_")


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std^2) samples redrawn until they lie in [a, b]."""
    g = _rng(generator, tensor)
    out = g.normal(mean, std, tensor.shape)
    bad = (out < a) | (out > b)
    while bad.any():
        out[bad] = g.normal(mean, std, int(bad.sum()))
        bad = (out < a) | (out > b)
    return _fill(tensor, out, "trunc_normal_")


def constant_(tensor, val):
    """Fill ``tensor`` with ``val`` in place, without recording on the tape.

    Args:
        tensor (Tensor): the tensor to fill (a parameter, usually).
        val (float): the value.

    Returns:
        Tensor: ``tensor``.
    """
    return _fill(tensor, val, "constant_")


def ones_(tensor):
    """Fill ``tensor`` with 1 in place, without recording on the tape.

    Returns:
        Tensor: ``tensor``.
    """
    return _fill(tensor, 1, "ones_")


def zeros_(tensor):
    """Fill ``tensor`` with 0 in place, without recording on the tape.

    Returns:
        Tensor: ``tensor``.
    """
    return _fill(tensor, 0, "zeros_")


def eye_(tensor):
    """Fill the 2-d ``tensor`` with the identity matrix (ones on the diagonal, zeros
    elsewhere; rectangular shapes allowed), in place.

    Returns:
        Tensor: ``tensor``.

    Raises:
        ValueError: ``tensor`` is not 2-d.
    """
    if tensor.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {list(tensor.shape)}")
    return _fill(tensor, backend.array_module(tensor._data).eye(*tensor.shape), "eye_")


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    fan_in, fan_out = _fans(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al., 2015)."""
    if tensor.numel() == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    if tensor.numel() == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian matrix, with the
    signs fixed so the distribution is uniform (Saxe et al., 2013); trailing dimensions
    are flattened."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_ needs a tensor with 2 or more dimensions, got shape "
                         f"{list(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(generator, tensor).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    xp = backend.array_module(flat)
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(tensor.shape), "orthogonal_")


# PyTorch's deprecated names without the trailing underscore
uniform, normal, constant = uniform_, normal_, constant_
xavier_uniform, xavier_normal = xavier_uniform_, xavier_normal_
kaiming_uniform, kaiming_normal, orthogonal = kaiming_uniform_, kaiming_normal_, orthogonal_
