"""Arithmetic for optimizer updates that runs on arrays (eager ``step()``) and on tensors
(while tg.compile traces a step): each helper picks the array's own module (NumPy or
CuPy, so state stays on the parameter's device) or the tensor's methods.

Scalar state (step counters, NAdam's mu product, ASGD's eta and mu) is a 0-d float64
array on the host, as PyTorch keeps it (on the CPU unless ``capturable``): a traced
update reads and writes it as state instead of baking its value in.
"""
import math

from .. import backend
from ..core.tensor import Tensor
from ..ops.elementwise import where as _where


def new_scalar(value=0.0):
    """A 0-d float64 host array holding ``value`` (a step counter when 0)."""
    out = backend.xp.zeros((), backend.xp.float64)
    out[...] = value
    return out


def new_step():
    """A step counter: a 0-d float64 array (a tensor in state_dict, as PyTorch's), so a
    traced update reads and writes it as state instead of baking its value in."""
    return new_scalar(0.0)


def number(x):
    """A value computed from scalar state, for use as a scalar: a Python float in eager
    updates (so it scales float32 arrays as a Python number does), a tensor while traced."""
    return x if isinstance(x, Tensor) else float(x)


def traced(x):
    """Whether ``x`` (a state value) is a tensor, i.e. the update is being traced."""
    return isinstance(x, Tensor)


def power(base, exponent):
    """base ** exponent by the array library's pow on host scalars (or the tensors' pow
    while traced): an eager update then rounds as its traced replay does (NumPy's pow
    and Python's differ in the last bit for some inputs)."""
    if isinstance(base, Tensor) or isinstance(exponent, Tensor):
        return base ** exponent
    return backend.xp.power(base, exponent)


def sqrt(x):
    """Square root of a Python float, an array, a NumPy scalar or a tensor (updates run on
    either; a square root, never ``** 0.5``, so eager and traced updates round alike)."""
    if isinstance(x, Tensor):
        return x.sqrt()
    if isinstance(x, float):
        return math.sqrt(x)
    return backend.array_module(x).sqrt(x)


def sign(x):
    """Elementwise sign (-1, 0 or 1) of an array or a tensor."""
    return x.sign() if isinstance(x, Tensor) else backend.array_module(x).sign(x)


def where(cond, a, b, like):
    """``a`` where ``cond`` else ``b`` (numbers or arrays), in the dtype of ``like`` (as
    PyTorch's masked writes into a tensor of that dtype)."""
    if isinstance(like, Tensor):
        out = _where(cond, a, b)
        return out if out.dtype == like.dtype else out.to(like.dtype)
    return backend.array_module(like).where(cond, a, b).astype(like.dtype, copy=False)


def decay_(w, g, lr, weight_decay, decoupled):
    """PyTorch's two weight decays: decoupled (AdamW's) shrinks ``w`` in place by
    ``1 - lr * weight_decay`` and returns ``g``; L2 returns ``g + weight_decay * w``."""
    if weight_decay:
        if decoupled:
            w *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * w
    return g


def check_hyper(opt, **values):
    """PyTorch's checks on hyperparameters: each named value must be >= 0 (``betas``: each
    in [0, 1)); a ValueError names the optimizer, the argument and the value."""
    for name, v in values.items():
        if name == "betas":
            for i, b in enumerate(v):
                if not 0.0 <= b < 1.0:
                    raise ValueError(f"{opt}: invalid beta parameter at index {i}: {b} "
                                     f"(expected 0 <= beta < 1)")
        elif not 0.0 <= v:
            raise ValueError(f"{opt}: invalid {name} value: {v} (expected >= 0)")


def buffer(state, key, w):
    """``state[key]``, made (zeros like ``w``, on its device) if a loaded state lacks it."""
    if key not in state:
        state[key] = zeros_like(w)
    return state[key]


def zeros_like(w):
    """Zeros with the shape, dtype and device of array or tensor ``w`` (optimizer state)."""
    if isinstance(w, Tensor):
        return w.new_zeros(w.shape)
    return backend.array_module(w).zeros_like(w)


def full_like(w, value):
    """``value`` everywhere, with the shape, dtype and device of array ``w``."""
    return backend.array_module(w).full_like(w, value)


def assign_(dst, value):
    """dst <- value in place (value broadcast), for an array or a tensor."""
    if isinstance(dst, Tensor):
        dst.copy_(value)
    else:
        dst[...] = value


def maximum_(a, b):
    """a <- max(a, b) in place, for an array or a tensor."""
    if isinstance(a, Tensor):
        a.copy_(a.maximum(b))
    else:
        backend.array_module(a).maximum(a, b, out=a)


def clamp_(a, lo, hi):
    """a <- min(max(a, lo), hi) in place, for an array or a tensor."""
    if isinstance(a, Tensor):
        a.copy_(a.clamp(lo, hi))
    else:
        backend.array_module(a).clip(a, lo, hi, out=a)


def lerp_(a, end, weight):
    """a <- a + weight * (end - a) in place, computed as PyTorch's ``lerp_`` does (from
    ``end`` when weight >= 0.5), so moving averages round as PyTorch's."""
    if weight < 0.5:
        tmp = end - a
        tmp *= weight
        a += tmp
    else:
        assign_(a, end - (end - a) * (1 - weight))


def mul_add_(a, beta, value, x, y):
    """a <- beta * a + value * x * y in place (PyTorch's ``a.mul_(beta).addcmul_(x, y,
    value=value)``, with its order of rounding: (value * x) * y)."""
    a *= beta
    a += value * x * y
