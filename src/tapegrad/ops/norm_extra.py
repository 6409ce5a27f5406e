"""More normalisation: normalize (x / max(||x||_p, eps)), rms_norm and instance_norm.

All are composites of existing primitives (vector_norm, mean, the normaliser batch_norm and
group_norm share in norm.py), so gradients of every order come from those.
"""
from ..core.errors import ShapeError
from ..core.modes import no_grad
from ..core.registry import composite
from ..core.tensor import Tensor
from ._util import Sample, normalize_dims, xp_of
from .extra import clamp_min
from .norm import _normalize, _affine, _as_stat, _store, batch_norm
from .reduce import mean
from .shape import reshape
from .vector_norm import vector_norm


def _normalize_samples(rng):
    r = rng.standard_normal
    return [Sample([r((3, 4))]), Sample([r((2, 3, 2))], {"p": 1.0, "dim": -1}),
            Sample([r((4,))], {"dim": 0, "p": 3.0}), Sample([r(())], {"dim": 0}, name="0-d"),
            Sample([r((2, 3))], {"eps": 10.0}, name="eps clamps"),
            Sample([r((0, 3))], {"dim": 1}, name="empty")]


@composite("normalize", samples=_normalize_samples)
def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """y = x / max(||x||_p, eps) along ``dim`` (``F.normalize``). Where the norm is below
    ``eps`` the divisor is the constant eps (no gradient through the norm there, as in
    PyTorch). ``out=`` is not supported (tapegrad has no out= arguments): TypeError.

    Raises IndexError for a dim out of range."""
    if out is not None:
        raise TypeError("normalize: out= is not supported; assign the result instead")
    if not isinstance(input, Tensor):
        raise TypeError(f"normalize: expected a tensor, got {type(input).__name__}")
    d = normalize_dims(dim, input.ndim, "normalize")
    return input / clamp_min(vector_norm(input, p, dim=d, keepdim=True), eps)


def _trailing(op, x, normalized_shape, weight):
    """normalized_shape as a tuple, checked against x's trailing dims and weight."""
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else \
        tuple(int(s) for s in normalized_shape)
    k = len(ns)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != ns:
        raise ShapeError(f"{op}: given normalized_shape={list(ns)}, expected input with "
                         f"shape [*, {', '.join(map(str, ns))}], but got input of shape "
                         f"{list(x.shape)}")
    if weight is not None and tuple(weight.shape) != ns:
        raise ShapeError(f"{op}: expected weight of the shape normalized_shape={list(ns)}, "
                         f"got weight of shape {list(weight.shape)}")
    return tuple(range(x.ndim - k, x.ndim))


def _rms_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 3)), (3,), r((3,))]), Sample([r((2, 2, 3)), (2, 3)], name="2 dims"),
            Sample([r((4,)), 4], {"eps": 0.5}, name="1-d eps"),
            Sample([r((0, 3)), [3], r((3,))], name="empty")]


@composite("rms_norm", samples=_rms_samples)
def rms_norm(input, normalized_shape, weight=None, eps=None):
    """y = x / sqrt(mean(x^2) + eps) * weight over the trailing ``normalized_shape`` dims
    (no centring, unlike layer_norm). ``eps=None`` is the machine epsilon of x's dtype
    (PyTorch's default).

    Raises ShapeError when the trailing dims or the weight don't match normalized_shape."""
    if not isinstance(input, Tensor):
        raise TypeError(f"rms_norm: expected a tensor, got {type(input).__name__}")
    dims = _trailing("rms_norm", input, normalized_shape, weight)
    if eps is None:
        eps = float(xp_of(input).finfo(input.dtype).eps)
    y = input * (mean(input * input, dim=dims, keepdim=True) + eps) ** -0.5
    return y if weight is None else y * weight


def _in_samples(rng):
    r = rng.standard_normal
    rm, rv = r((3,)), rng.uniform(0.5, 2.0, (3,))
    return [Sample([r((2, 3, 4))]),
            Sample([r((2, 3, 2, 3)), None, None, r((3,)), r((3,))], name="4-d affine"),
            Sample([r((2, 3, 4))], {"running_mean": rm.copy(), "running_var": rv.copy(),
                                    "momentum": 0.2}, name="running stats"),
            Sample([r((2, 3, 4))], {"running_mean": rm, "running_var": rv,
                                    "use_input_stats": False}, name="eval"),
            Sample([r((0, 3, 4))], name="empty batch")]


@composite("instance_norm", samples=_in_samples)
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, with the mean and biased variance
    of each sample's channel over its spatial dims (dims 2, 3, ...) (N, C, *).

    With ``use_input_stats`` the running stats (if given) are updated in place with the
    batch average of the per-instance statistics (unbiased variance, as PyTorch:
    r = (1 - momentum) r + momentum mean_n(stat)); without, the running stats normalise,
    as batch_norm's eval mode.

    Raises ShapeError for fewer than 2 dims or a per-channel tensor of the wrong shape,
    ValueError for a single spatial element with use_input_stats, RuntimeError when
    use_input_stats is False and running stats are missing."""
    x = input
    if not isinstance(x, Tensor):
        raise TypeError(f"instance_norm: expected a tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ShapeError(f"instance_norm: expected an input with at least 2 dims (N, C, ...), "
                         f"got shape {list(x.shape)}")
    c = x.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (c,):
            raise ShapeError(f"instance_norm: {name} should have shape [{c}] for input of "
                             f"shape {list(x.shape)}, got {list(t.shape)}")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise RuntimeError("instance_norm: expected running_mean and running_var when "
                               "use_input_stats is False")
        return batch_norm(x, running_mean, running_var, weight, bias, False, momentum, eps)
    spatial = x.numel() // (x.shape[0] * c) if x.shape[0] * c else 0
    if spatial == 1 or x.ndim == 2:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when "
                         f"training, got input of shape {list(x.shape)}")
    dims = tuple(range(2, x.ndim))
    xc, inv, mu, var = _normalize(x, dims, eps)
    if x.shape[0] and (running_mean is not None or running_var is not None):
        _update(x, mu, var, running_mean, running_var, float(momentum), spatial)
    return _affine(xc, inv, weight, bias, (1, c) + (1,) * (x.ndim - 2))


def _update(x, mu, var, running_mean, running_var, m, spatial):
    """r = (1 - m) r + m * (the batch mean of each instance's statistic), computed by ops
    (tg.compile records them) and written in place into the running buffers."""
    c = x.shape[1]
    with no_grad():
        for stat, scale, buf in ((mu, 1.0, running_mean),
                                 (var, spatial / max(spatial - 1, 1), running_var)):
            if buf is None:
                continue
            target, value = _as_stat(buf, x)
            batch = mean(reshape(stat.detach(), (-1, c)), dim=0) * scale
            _store(target, (1 - m) * value.detach() + m * batch)
