"""Channel dropout: dropout1d, dropout2d, dropout3d zero whole channels (every element of
a sample's channel shares one Bernoulli draw) and scale the kept ones by 1/(1-p)."""

from ..core.errors import ShapeError
from ..core.function import warn_user
from ..core.registry import primitive, composite
from ..core.tensor import Tensor
from ._util import Sample
from .nnfunc import Dropout, _ReplayGenerator
from .shape import unsqueeze, squeeze


@primitive("feature_dropout_mask", public=False)
class FeatureDropout(Dropout):
    """y = x * m with one m = keep / (1 - p), keep ~ Bernoulli(1 - p), per (sample,
    channel), broadcast over the other dims; dy/dx = m. Dropout's rules (they read the
    mask the forward kept on ctx) with a mask of shape (N, C, 1, ...)."""

    @staticmethod
    def forward(ctx, x, p, generator):
        shape = x.shape[:2] + (1,) * (x.ndim - 2)
        # Dropout's forward draws the (N, C, 1, ...) mask into ctx.mask
        Dropout.forward(ctx, ctx.xp.ones(shape, dtype=x.dtype), p, generator)
        return x * ctx.mask


def _feature_dropout(op, x, p, training, generator, unbatched):
    """Channel dropout of x (N, C, ...), after adding a batch dim when ``unbatched``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    if unbatched:
        x = unsqueeze(x, 0)
    if x.ndim < 2:
        raise ShapeError(f"{op}: channel dropout needs at least 2 dims (N, C, ...), got "
                         f"shape {list(x.shape)}")
    if not training or p == 0.0 or x.numel() == 0:
        out = x
    elif p == 1.0:
        out = x * 0.0
    else:
        out = FeatureDropout.apply(x, p=float(p), generator=generator)
    return squeeze(out, 0) if unbatched else out


def _check_tensor(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a tensor, got {type(x).__name__}")


def _samples(shape, unbatched=True):
    def gen(rng):
        r = rng.standard_normal
        out = [Sample([r(shape)], {"p": 0.4, "generator": _ReplayGenerator(0)}),
               Sample([r(shape)], {"p": 0.3, "training": False}, name="eval"),
               Sample([r(shape)], {"p": 1.0}, name="p=1")]
        if unbatched:
            out.append(Sample([r(shape[1:])], {"p": 0.5, "generator": _ReplayGenerator(1)},
                              name="unbatched"))
        return out
    return gen


@composite("dropout1d", samples=_samples((3, 4, 2)))
def dropout1d(input, p=0.5, training=True, inplace=False, generator=None):
    """Zero each channel of (N, C, L) or (C, L) input with probability p and scale the
    others by 1/(1-p) (identity when not training). ``inplace`` is accepted; the result is
    a new tensor.

    Raises ShapeError for other ranks, ValueError for p outside [0, 1]."""
    _check_tensor("dropout1d", input)
    if input.ndim not in (2, 3):
        raise ShapeError(f"dropout1d: expected a 2-d or 3-d input (C, L) or (N, C, L), got "
                         f"shape {list(input.shape)}")
    return _feature_dropout("dropout1d", input, p, training, generator, input.ndim == 2)


@composite("dropout2d", samples=_samples((3, 4, 2, 2), unbatched=False))
def dropout2d(input, p=0.5, training=True, inplace=False, generator=None):
    """Zero each channel of (N, C, H, W) input with probability p and scale the others by
    1/(1-p). Like PyTorch, a 3-d input is taken as (N, C, L) (channel-wise 1-d dropout),
    with PyTorch's warning, and other ranks warn and drop per (dim 0, dim 1) pair.

    Raises ValueError for p outside [0, 1]."""
    _check_tensor("dropout2d", input)
    if input.ndim != 4:
        warn_user(f"dropout2d: received a {input.ndim}-d input (shape "
                      f"{list(input.shape)}); dropout2d expects (N, C, H, W). "
                      + ("A 3-d input is taken as (N, C, L): use dropout1d for that."
                         if input.ndim == 3 else "Use dropout instead."))
    return _feature_dropout("dropout2d", input, p, training, generator, False)


@composite("dropout3d", samples=_samples((2, 3, 2, 2, 2)))
def dropout3d(input, p=0.5, training=True, inplace=False, generator=None):
    """Zero each channel of (N, C, D, H, W) or (C, D, H, W) input with probability p and
    scale the others by 1/(1-p) (other ranks warn and are taken as unbatched, as PyTorch).

    Raises ValueError for p outside [0, 1]."""
    _check_tensor("dropout3d", input)
    if input.ndim not in (4, 5):
        warn_user(f"dropout3d: received a {input.ndim}-d input (shape "
                      f"{list(input.shape)}); dropout3d expects (C, D, H, W) or "
                      f"(N, C, D, H, W). Use dropout instead.")
    # as PyTorch: anything but 5-d is taken as unbatched
    return _feature_dropout("dropout3d", input, p, training, generator, input.ndim != 5)
