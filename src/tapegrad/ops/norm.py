"""Normalisation: batch_norm, layer_norm, group_norm.

All three are composites of one shared normaliser, (x - mean) * (var + eps)**-0.5 with the
biased variance, so gradients of every order come from the primitives. The per-channel
affine weight is folded into the (small) scale before it meets the (large) input.
"""
from .. import backend
from ..core.errors import ShapeError
from ..core.registry import composite
from ..core.modes import no_grad
from ..core.tensor import Tensor, _make
from ._util import Sample, xp_of
from .reduce import mean
from .shape import reshape


def _normalize(x, dims, eps):
    """(x - mu, (var + eps)**-0.5, mu, var) over ``dims`` (kept), biased variance."""
    mu = mean(x, dim=dims, keepdim=True)
    xc = x - mu
    var = mean(xc * xc, dim=dims, keepdim=True)
    return xc, (var + eps) ** -0.5, mu, var


def _affine(y_c, inv, weight, bias, shape):
    """y_c * inv * weight + bias, with weight and bias reshaped to ``shape``."""
    scale = inv if weight is None else inv * reshape(weight, shape)
    y = y_c * scale
    return y if bias is None else y + reshape(bias, shape)


def _as_stat(t, x):
    """(a running statistic as the tensor its update is written to, the same read on x's
    device). A raw array is wrapped, not copied, so the update reaches it, and one on another
    device is read through a copy on x's (a tensor is taken as it is: there the op raises)."""
    if t is None or isinstance(t, Tensor):
        return t, t
    t = _make(t if backend.is_array(t) else xp_of(x).asarray(t))
    return t, t.to(x.device)


def _store(buf, new):
    """Write the updated statistic ``new`` into ``buf``, on buf's device."""
    buf._write(new.to(buf.device)._data, "batch_norm")


def _bn_samples(rng):
    r = rng.standard_normal
    rm, rv = r((3,)), rng.uniform(0.5, 2.0, (3,))
    return [Sample([r((4, 3)), None, None, r((3,)), r((3,))], {"training": True},
                   name="train 2d"),
            Sample([r((2, 3, 2, 2))], {"running_mean": rm.copy(), "running_var": rv.copy(),
                                       "training": True}, name="train 4d stats"),
            Sample([r((2, 3, 2))], {"running_mean": rm, "running_var": rv}, name="eval")]


@composite("batch_norm", samples=_bn_samples)
def batch_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel (dim 1).

    Training: batch mean and biased variance over every dim but 1; the running stats are
    updated in place: r = (1 - momentum) * r + momentum * batch_stat, with the UNBIASED
    variance for running_var (as PyTorch). Eval: the running stats, which take no gradient.
    """
    x = input
    if momentum is None:
        raise TypeError("batch_norm(): momentum must be a float, not None (nn.BatchNorm "
                        "turns momentum=None into a cumulative-average factor)")
    if x.numel() == 0:          # nothing to normalise: an empty copy (PyTorch's rule)
        return x * 1.0
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expected an input with at least 2 dims (N, C, ...), "
                         f"got shape {list(x.shape)}")
    c = x.shape[1]
    shape = (1, c) + (1,) * (x.ndim - 2)
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (c,):
            raise ShapeError(f"batch_norm: {name} should have shape [{c}] for input of shape "
                             f"{list(x.shape)}, got {list(t.shape)}")
    mean_buf, running_mean = _as_stat(running_mean, x)
    var_buf, running_var = _as_stat(running_var, x)
    if training or running_mean is None or running_var is None:
        n = x.numel() // c if c else 0
        if training and n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {list(x.shape)}")
        dims = (0,) + tuple(range(2, x.ndim))
        xc, inv, mu, var = _normalize(x, dims, eps)
        if training:
            # the new statistics are computed with ops (tg.compile records them); the write
            # casts to the buffer's dtype
            with no_grad():
                m = float(momentum)
                if running_mean is not None:
                    new = (1 - m) * running_mean.detach() + m * reshape(mu.detach(), (c,))
                    _store(mean_buf, new)
                if running_var is not None:
                    unbiased = reshape(var.detach(), (c,)) * (n / max(n - 1, 1))
                    new = (1 - m) * running_var.detach() + m * unbiased
                    _store(var_buf, new)
        return _affine(xc, inv, weight, bias, shape)
    with no_grad():   # the running statistics are constants here (as in PyTorch)
        rm = reshape(_cast(running_mean.detach(), x.dtype), shape)
        inv = _cast((reshape(running_var.detach(), shape) + eps) ** -0.5, x.dtype)
    return _affine(x - rm, inv, weight, bias, shape)


def _cast(t, dtype):
    return t if t.dtype == dtype else t.to(dtype)


def _ln_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 3)), (3,), r((3,)), r((3,))]),
            Sample([r((2, 2, 3))], {"normalized_shape": (2, 3)}, name="2 dims no affine"),
            Sample([r((4,)), 4, r((4,))], name="1-d weight only")]


@composite("layer_norm", samples=_ln_samples)
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last len(normalized_shape) dims (biased variance), then
    y * weight + bias elementwise over those dims."""
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(ns)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != ns or input.ndim < k:
        raise ShapeError(f"layer_norm: given normalized_shape={list(ns)}, expected input with "
                         f"shape [*, {', '.join(map(str, ns))}], but got input of size "
                         f"{list(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != ns:
            raise ShapeError(f"layer_norm: {name} should have shape {list(ns)}, got "
                             f"{list(t.shape)}")
    dims = tuple(range(input.ndim - k, input.ndim))
    xc, inv, _, _ = _normalize(input, dims, eps)
    y = xc * inv
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def _gn_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 4, 3)), 2, r((4,)), r((4,))]),
            Sample([r((1, 6, 2, 2)), 3], name="4d no affine"),
            Sample([r((2, 2)), 1, r((2,))], name="2d one group")]


@composite("group_norm", samples=_gn_samples)
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Split the channels (dim 1) into num_groups groups and normalise each group of each
    sample over its channels and spatial dims; then a per-channel affine."""
    x = input
    if x.ndim < 2:
        raise ShapeError(f"group_norm: expected an input with at least 2 dims (N, C, ...), "
                         f"got shape {list(x.shape)}")
    n, c = x.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise ShapeError(f"group_norm: expected number of channels in input to be divisible "
                         f"by num_groups, but got input of shape {list(x.shape)} and "
                         f"num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ShapeError(f"group_norm: {name} should have shape [{c}], got "
                             f"{list(t.shape)}")
    xg = reshape(x, (n, num_groups, -1))
    xc, inv, _, _ = _normalize(xg, (2,), eps)
    y = reshape(xc * inv, x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * reshape(weight, shape)
    return y if bias is None else y + reshape(bias, shape)
