"""Adaptive max pooling: the maximum over PyTorch's adaptive windows
[floor(i*H/Ho), ceil((i+1)*H/Ho)) x [floor(j*W/Wo), ceil((j+1)*W/Wo)).

One primitive without a gradient finds each window's first maximum (row-major, NaN wins,
as PyTorch) as a flat index into the (H*W) plane; the values are then a ``gather`` of the
flattened input at those indices, so the gradient (a scatter-add to each window's maximum)
and every higher order come from gather. The index is an op, not an array computed beside
the ops, so tg.compile recomputes it on every call.
"""
from .. import backend
from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite
from ..core.tensor import Tensor
from ._util import Sample, size_args
from .index import gather
from .shape import reshape, unsqueeze, squeeze


def _window_rows(xp, n, out, k):
    """(out, k) source positions of each adaptive window along one axis, padded to the
    longest window (k) by repeating the window's last position (a repeat never changes
    which position holds the first maximum)."""
    i = xp.arange(out)
    start = (i * n) // out
    end = -((-(i + 1) * n) // out)
    return xp.minimum(start[:, None] + xp.arange(k), (end - 1)[:, None])


def _longest(n, out):
    """The longest adaptive window along an axis of size n split into ``out`` windows."""
    return max(-((-(i + 1) * n) // out) - (i * n) // out for i in range(out)) if out else 0


@primitive("adaptive_max_pool2d_indices", public=False)
class AdaptiveMaxIndices(Function):
    """For each adaptive window of (N, C, H, W) x, the flat index h*W + w of its first
    maximum (int64, no gradient)."""

    differentiable = False

    @staticmethod
    def forward(ctx, x, output_size):
        xp = ctx.xp
        n, c, h, w = x.shape
        ho, wo = output_size
        if not n * c * ho * wo:
            return xp.zeros((n, c, ho, wo), dtype=backend.int64)
        kh, kw = _longest(h, ho), _longest(w, wo)
        rows = _window_rows(xp, h, ho, kh)                       # (Ho, kh)
        cols = _window_rows(xp, w, wo, kw)                       # (Wo, kw)
        win = x[:, :, rows[:, None, :, None], cols[None, :, None, :]]   # (N, C, Ho, Wo, kh, kw)
        arg = win.reshape(n, c, ho, wo, kh * kw).argmax(axis=-1)
        hi = rows[xp.arange(ho)[:, None], arg // kw]             # (N, C, Ho, Wo)
        wi = cols[xp.arange(wo), arg % kw]
        return (hi * w + wi).astype(backend.int64)


def _output_size(op, output_size, size, nd):
    """PyTorch's output_size: an int, or a tuple whose None entries keep the input's size."""
    if isinstance(output_size, int):
        output_size = (output_size,) * nd
    output_size = tuple(output_size) if isinstance(output_size, (tuple, list)) else \
        size_args((output_size,), op, "output_size")
    if len(output_size) != nd:
        raise ShapeError(f"{op}: output_size must be an int or a {nd}-tuple, got "
                         f"{list(output_size)}")
    out = tuple(s if o is None else size_args((o,), op, "output_size")[0]
                for o, s in zip(output_size, size))
    if min(out) < 0:
        raise RuntimeError(f"{op}: output_size must be non-negative, got {out}")
    return out


def _adaptive_max(x, out_hw, return_indices):
    """The pooled (N, C, Ho, Wo) values (and indices) of 4-d ``x``."""
    n, c, h, w = x.shape
    ho, wo = out_hw
    idx = AdaptiveMaxIndices.apply(x, output_size=out_hw)
    flat = gather(reshape(x, (n, c, h * w)), 2, reshape(idx, (n, c, ho * wo)))
    vals = reshape(flat, (n, c, ho, wo))
    return (vals, idx) if return_indices else vals


def _batched(op, x, nd):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a tensor, got {type(x).__name__}")
    if x.ndim not in (nd + 1, nd + 2):
        raise ShapeError(f"{op}: expected a {nd + 1}-d (unbatched) or {nd + 2}-d (batched) "
                         f"input, got shape {list(x.shape)}")
    if 0 in x.shape[-(nd + 1):]:   # the channel and spatial dims (all, unbatched)
        raise ShapeError(f"{op}: expected an input with non-zero sizes in its non-batch "
                         f"dims, got shape {list(x.shape)}")
    return (unsqueeze(x, 0), True) if x.ndim == nd + 1 else (x, False)


def _unbatch(out, unbatched, return_indices, dim):
    outs = out if return_indices else (out,)
    if dim is not None:
        outs = tuple(squeeze(o, dim) for o in outs)
    if unbatched:
        outs = tuple(squeeze(o, 0) for o in outs)
    return outs if return_indices else outs[0]


def _amp2_samples(rng):
    r = rng.standard_normal
    return [Sample([r((1, 2, 5, 4))], {"output_size": (2, 3)}),
            Sample([r((2, 3, 3))], {"output_size": 1}, name="global unbatched"),
            Sample([r((1, 1, 4, 7))], {"output_size": (None, 3)}, name="None keeps"),
            Sample([r((1, 1, 3, 3))], {"output_size": 5}, name="upsampling"),
            Sample([r((0, 2, 4, 4))], {"output_size": 2}, name="empty batch")]


@composite("adaptive_max_pool2d", samples=_amp2_samples)
def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Maximum over PyTorch's adaptive windows of (N, C, H, W) or (C, H, W) input;
    ``output_size`` an int or a pair (None keeps that size). ``return_indices`` also gives
    each maximum's flat index h*W + w in its plane (int64), as PyTorch. The gradient goes to
    each window's first maximum.

    Raises ShapeError for an input that is not 3-d/4-d or has empty non-batch dims."""
    x, unb = _batched("adaptive_max_pool2d", input, 2)
    size = _output_size("adaptive_max_pool2d", output_size, x.shape[2:], 2)
    return _unbatch(_adaptive_max(x, size, return_indices), unb,
                    return_indices, None)


def _amp1_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 2, 7))], {"output_size": 3}),
            Sample([r((2, 5))], {"output_size": 2}, name="unbatched")]


@composite("adaptive_max_pool1d", samples=_amp1_samples)
def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Maximum over PyTorch's adaptive windows of (N, C, L) or (C, L) input
    (adaptive_max_pool2d with a unit height); ``return_indices`` gives positions in L.

    Raises ShapeError for an input that is not 2-d/3-d or has empty non-batch dims."""
    x, unb = _batched("adaptive_max_pool1d", input, 1)
    (size,) = _output_size("adaptive_max_pool1d", output_size, x.shape[2:], 1)
    out = _adaptive_max(unsqueeze(x, 2), (1, size), return_indices)
    return _unbatch(out, unb, return_indices, 2)
