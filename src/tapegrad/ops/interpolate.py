"""F.interpolate (under nn.Upsample), its deprecated forms upsample, upsample_nearest and
upsample_bilinear, and adaptive average pooling in 1-d and 3-d ('area' interpolation).

Each is a linear map of the input that acts on every spatial dim on its own, so each is a
chain of :class:`~tapegrad.ops.resample.Resample` ops, one per resized dim (see
resample.py for the plans, PyTorch's index and weight rules, and the gradients).
"""
import operator

from ..core.errors import ShapeError
from ..core.function import warn_user
from ..core.registry import composite
from ..core.tensor import Tensor
from ._util import Sample
from .pool_adaptive import _output_size
from .resample import resample
from .shape import squeeze, unsqueeze

#: spatial ranks each mode takes (the input has two more dims: N and C)
_RANKS = {"nearest": (1, 2, 3), "nearest-exact": (1, 2, 3), "area": (1, 2, 3),
          "linear": (1,), "bilinear": (2,), "bicubic": (2,), "trilinear": (3,)}
#: the 1-d rule behind each mode
_KIND = {"nearest": "nearest", "nearest-exact": "nearest-exact", "area": "area",
         "linear": "linear", "bilinear": "linear", "trilinear": "linear", "bicubic": "cubic"}


def _as_int(v, op, what):
    """An integer size entry (a Python or NumPy int, or a 0-d integer tensor), else
    TypeError naming the op."""
    try:
        if isinstance(v, bool):
            raise TypeError
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{op}: {what} must be an int or a tuple of ints, got "
                        f"{type(v).__name__} ({v!r})") from None


def _as_float(v, op):
    """A scale factor as a float (a number or a 0-d tensor), else TypeError."""
    if isinstance(v, (str, bytes, bool)) or not hasattr(v, "__float__"):
        raise TypeError(f"{op}: scale_factor must be a number or a tuple of numbers, got "
                        f"{type(v).__name__} ({v!r})")
    return float(v)


def _per_dim(v, nd, op, what, in_sizes):
    """``v`` (a number or an nd-sequence) as an nd-tuple; ValueError for another length."""
    if isinstance(v, (list, tuple)):
        if len(v) != nd:
            raise ValueError(f"{op}: {what} {tuple(v)} must give one entry per spatial dim "
                             f"of the input, which has {nd} ({list(in_sizes)})")
        return tuple(v)
    return (v,) * nd


def _sizes_and_scales(x, size, scale_factor, recompute, mode, op):
    """(output sizes, scales to interpolate with), by PyTorch's rules: with ``size`` the
    scales are n_in/n_out; with ``scale_factor`` the output is floor(n_in * s) and the
    interpolation uses 1/s itself unless ``recompute_scale_factor`` (or mode 'area') asks
    for n_in/n_out instead."""
    nd = x.ndim - 2
    in_sizes = x.shape[2:]
    if size is not None and scale_factor is not None:
        raise ValueError(f"{op}: only one of size or scale_factor should be defined")
    if size is not None:
        if recompute:
            raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an "
                             f"explicit size")
        sizes = tuple(_as_int(s, op, "size") for s in _per_dim(size, nd, op, "size",
                                                               in_sizes))
        return sizes, (None,) * nd
    if scale_factor is None:
        raise ValueError(f"{op}: either size or scale_factor should be defined")
    scales = tuple(_as_float(s, op) for s in _per_dim(scale_factor, nd, op, "scale_factor",
                                                      in_sizes))
    sizes = tuple(int(n * s) for n, s in zip(in_sizes, scales))
    return sizes, ((None,) * nd if recompute or mode == "area" else scales)


def _check_call(x, mode, align_corners, antialias, op):
    """TypeError / ValueError / NotImplementedError for what PyTorch refuses, in its
    categories, before any size is looked at."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a tensor input, got {type(x).__name__}")
    if mode not in _RANKS and mode != "lanczos":
        raise NotImplementedError(f"{op}: unknown mode {mode!r} (expected one of "
                                  f"{', '.join(_RANKS)})")
    if mode in ("nearest", "nearest-exact", "area") and align_corners is not None:
        raise ValueError(f"{op}: align_corners can only be set with the interpolating "
                         f"modes linear, bilinear, bicubic and trilinear, not {mode!r}")
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and x.ndim == 4):
        raise ValueError(f"{op}: antialias=True is only for modes bilinear and bicubic on a "
                         f"4-d input, got mode {mode!r} and shape {list(x.shape)}")
    if antialias or mode == "lanczos":
        raise NotImplementedError(f"{op}: antialias=True (and mode 'lanczos', which needs "
                                  f"it) is not supported: tapegrad has no antialiased "
                                  f"kernel, whose support widens with the downscaling "
                                  f"factor; use antialias=False, or blur before "
                                  f"downsampling")
    if x.ndim not in (3, 4, 5):
        raise NotImplementedError(f"{op}: expected a 3-d, 4-d or 5-d input (N, C, d1[, d2[, "
                                  f"d3]]), got shape {list(x.shape)}")
    if x.ndim - 2 not in _RANKS[mode]:
        want = " or ".join(f"{r + 2}-d" for r in _RANKS[mode])
        raise NotImplementedError(f"{op}: mode {mode!r} needs a {want} input, got shape "
                                  f"{list(x.shape)}")
    if mode not in ("nearest", "nearest-exact") and x.dtype.kind != "f":
        raise NotImplementedError(f"{op}: mode {mode!r} needs a floating-point input, got "
                                  f"{x.dtype}")


def _interp_samples(rng):
    r = rng.standard_normal
    return [Sample([r((1, 2, 2, 3))], {"scale_factor": 2, "mode": "nearest"}),
            Sample([r((2, 2, 5))], {"size": 3, "mode": "nearest"}, name="nearest 1-d down"),
            Sample([r((1, 1, 2, 3, 2))], {"scale_factor": (1.5, 0.7, 2.0),
                                          "mode": "nearest-exact"}, name="nearest-exact 3-d"),
            Sample([r((2, 1, 4))], {"size": 7, "mode": "linear", "align_corners": True},
                   name="linear align"),
            Sample([r((1, 1, 3, 3))], {"size": (4, 5), "mode": "bilinear",
                                       "align_corners": False}),
            Sample([r((1, 2, 4, 3))], {"scale_factor": 1.7, "mode": "bicubic"},
                   name="bicubic scale"),
            Sample([r((1, 1, 5, 4))], {"size": (3, 6), "mode": "bicubic",
                                       "align_corners": True}, name="bicubic align"),
            Sample([r((1, 1, 2, 3, 4))], {"size": (3, 2, 5), "mode": "trilinear"},
                   name="trilinear"),
            Sample([r((1, 2, 5, 7))], {"size": (2, 3), "mode": "area"}, name="area"),
            Sample([r((0, 2, 3))], {"size": 5, "mode": "linear"}, name="empty batch")]


@composite("interpolate", samples=_interp_samples)
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of an (N, C, d1[, d2[, d3]]) input to ``size`` or by
    ``scale_factor`` (a number, or one per dim), as PyTorch's F.interpolate.

    Along each dim, output position o reads input position src(o):

    - ``'nearest'``: floor(o * s), s = n_in/n_out (or 1/scale_factor); ``'nearest-exact'``:
      floor((o + 0.5) * s); both clamped to n_in - 1, with PyTorch's float32 rounding.
    - ``'linear'`` (3-d), ``'bilinear'`` (4-d), ``'trilinear'`` (5-d): the two neighbours of
      src = (o + 0.5) * s - 0.5 (clamped at 0), or o * (n_in-1)/(n_out-1) with
      ``align_corners=True``, weighted by distance.
    - ``'bicubic'`` (4-d): the four neighbours of src (indices clamped to the border) with
      Keys' cubic convolution weights, A = -0.75 (can overshoot the input's range).
    - ``'area'``: the mean over adaptive_avg_pool's windows.

    With ``scale_factor`` the output size is floor(n_in * scale_factor) and the scale
    itself is used (1/scale_factor) unless ``recompute_scale_factor=True``, which uses
    n_in/n_out. Each mode is linear in the input: gradients and forward mode (any order)
    are the transposed / same map (see resample.py).

    Raises ValueError for bad size/scale_factor/align_corners combinations,
    NotImplementedError for an unknown mode, a mode given the wrong rank, or
    ``antialias=True`` (tapegrad has no antialiased kernel), TypeError for a non-integer
    size, and ShapeError for empty channel/spatial dims or a non-positive output size."""
    op = "interpolate"
    _check_call(input, mode, align_corners, antialias, op)
    sizes, scales = _sizes_and_scales(input, size, scale_factor, recompute_scale_factor, mode,
                                      op)
    in_sizes = tuple(input.shape[2:])
    if min(in_sizes + sizes) <= 0 or 0 in input.shape[1:]:
        raise ShapeError(f"{op}: expected non-empty channel and spatial dims and positive "
                         f"output sizes, got input shape {list(input.shape)} and output size "
                         f"{list(sizes)}")
    kind = _KIND[mode]
    align = bool(align_corners) if kind in ("linear", "cubic") else False
    single = input.dtype.name != "float64"   # PyTorch's index arithmetic for nearest
    plans = tuple((kind, n, m, None if align else sc, align,
                   single and kind.startswith("nearest"))
                  for n, m, sc in zip(in_sizes, sizes, scales))
    return resample(input, plans)


def _deprecated(name, mode):
    warn_user(f"nn.functional.{name} is deprecated (as in PyTorch); use "
              f"nn.functional.interpolate(..., mode={mode!r})")


@composite("upsample", samples=lambda rng: [
    Sample([rng.standard_normal((1, 2, 3))], {"scale_factor": 2, "mode": "linear"})])
def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated form of :func:`interpolate` (PyTorch's F.upsample): the same resize."""
    _deprecated("upsample", mode)
    return interpolate(input, size, scale_factor, mode, align_corners)


@composite("upsample_nearest", samples=lambda rng: [
    Sample([rng.standard_normal((1, 2, 2, 3))], {"size": (3, 5)})])
def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, mode='nearest')``."""
    _deprecated("upsample_nearest", "nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


@composite("upsample_bilinear", samples=lambda rng: [
    Sample([rng.standard_normal((1, 2, 2, 3))], {"scale_factor": 2})])
def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, mode='bilinear',
    align_corners=True)`` (a 4-d input)."""
    _deprecated("upsample_bilinear", "bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# -- adaptive average pooling ('area') -------------------------------------------------------
def _adaptive_avg(op, input, output_size, nd):
    """Mean over PyTorch's adaptive windows [floor(o*n/m), ceil((o+1)*n/m)) of each of the
    last ``nd`` dims of an (N, C, *) or unbatched (C, *) input."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a tensor input, got {type(input).__name__}")
    if input.ndim not in (nd + 1, nd + 2):
        raise ShapeError(f"{op}: expected a {nd + 1}-d (unbatched) or {nd + 2}-d (batched) "
                         f"input, got shape {list(input.shape)}")
    if input.dtype.kind != "f":
        raise NotImplementedError(f"{op}: needs a floating-point input, got {input.dtype}")
    unbatched = input.ndim == nd + 1
    x = unsqueeze(input, 0) if unbatched else input
    in_sizes = tuple(x.shape[2:])
    if 0 in in_sizes:
        raise ShapeError(f"{op}: expected non-empty spatial dims, got input shape "
                         f"{list(input.shape)}")
    sizes = _output_size(op, output_size, in_sizes, nd)
    out = resample(x, tuple(("area", n, m, None, False, False)
                            for n, m in zip(in_sizes, sizes)))
    return squeeze(out, 0) if unbatched else out


def _aap_samples(nd):
    def gen(rng):
        r = rng.standard_normal
        shape, out = {1: ((2, 3, 7), 3), 3: ((1, 2, 5, 4, 3), (2, 3, None))}[nd]
        return [Sample([r(shape)], {"output_size": out}),
                Sample([r(shape[1:])], {"output_size": 2}, name="unbatched"),
                Sample([r(shape)], {"output_size": 6}, name="upsampling")]
    return gen


@composite("adaptive_avg_pool1d", samples=_aap_samples(1))
def adaptive_avg_pool1d(input, output_size):
    """Mean over PyTorch's adaptive windows [floor(i*L/Lo), ceil((i+1)*L/Lo)) of an
    (N, C, L) or (C, L) input, giving length ``output_size``.

    Raises ShapeError for an input that is not 2-d/3-d, TypeError for a non-tensor."""
    return _adaptive_avg("adaptive_avg_pool1d", input, output_size, 1)


@composite("adaptive_avg_pool3d", samples=_aap_samples(3))
def adaptive_avg_pool3d(input, output_size):
    """Mean over PyTorch's adaptive windows of an (N, C, D, H, W) or (C, D, H, W) input,
    separable per dim; ``output_size`` an int or a triple (None keeps that size).

    Raises ShapeError for an input that is not 4-d/5-d, TypeError for a non-tensor."""
    return _adaptive_avg("adaptive_avg_pool3d", input, output_size, 3)
