"""Negative log-likelihood losses of distributions: poisson_nll_loss and gaussian_nll_loss
(reductions 'mean'/'sum'/'none'). Composites with PyTorch's formulas; input, target and the
Gaussian variance take gradients, as in PyTorch.
"""
import math

from ..core.errors import ShapeError
from ..core.modes import no_grad
from ..core.registry import composite
from ..core.tensor import Tensor
from ._util import Sample, guard, const_like, xp_of
from .elementwise import where
from .extra import clamp_min
from .loss import _reduction, _reduce
from .shape import unsqueeze


def _poisson_samples(rng):
    x, y = rng.uniform(-1, 1, (2, 3)), rng.uniform(0, 4, (2, 3))
    y[0, 0], y[1, 2] = 0.5, 2.5   # both sides of the Stirling term's cut at target = 1
    rate = rng.uniform(0.2, 2, (2, 3))
    return [Sample([x, y]), Sample([x, y], {"full": True, "reduction": "sum"}, name="full"),
            Sample([rate, y], {"log_input": False, "reduction": "none"}, name="rate"),
            Sample([rate, y], {"log_input": False, "full": True, "eps": 0.1}, name="rate full"),
            Sample([x[0, 0], y[1, 2]], {"full": True}, name="0-d")]


@composite("poisson_nll_loss", samples=_poisson_samples)
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Poisson negative log likelihood of ``target`` counts: exp(x) - y x when ``log_input``
    (x is the log rate), else x - y log(x + eps). ``full`` adds Stirling's approximation of
    log(y!), y log y - y + log(2 pi y) / 2, where y > 1 (0 elsewhere). PyTorch evaluates that
    term at every y and masks it, which makes the target's gradient NaN at y = 0; here the
    masked entries are computed at y = 1 instead, so their gradient is 0."""
    reduction = _reduction("poisson_nll_loss", reduction, size_average, reduce)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        big = target > 1
        y = where(big, target, 1.0)
        loss = loss + where(big, y * y.log() - y + 0.5 * (2 * math.pi * y).log(), 0.0)
    return _reduce(loss, reduction)


def _nonnegative(a):
    """No entry below 0 (NaN passes, as in PyTorch's check)."""
    return not (a < 0).any()


def _gauss_samples(rng):
    x, y = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    return [Sample([x, y, rng.uniform(0.3, 2, (3, 2))]),
            Sample([x, y, rng.uniform(0.3, 2, (3,))], {"full": True, "reduction": "sum"},
                   name="homoscedastic"),
            Sample([x, y, rng.uniform(0.3, 2, (3, 1))], {"reduction": "none"}, name="(N, 1)"),
            Sample([x, y, 0.7], {"eps": 1e-3}, name="float var"),
            # the var gradient passes through the clamp: a convention, not a derivative
            Sample([x, y, _tiny_var(rng)], {"eps": 0.05}, name="clamped var", kink=True)]


def _tiny_var(rng):
    """Variances partly below eps = 0.05 (clamped in value; the gradient passes through)."""
    v = rng.uniform(0.3, 2, (3, 2))
    v[0, 1], v[2, 0] = 0.01, 0.02
    return v


@composite("gaussian_nll_loss", samples=_gauss_samples)
def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Gaussian negative log likelihood: (log(max(var, eps)) + (x - y)**2 / max(var, eps)) / 2
    (+ log(2 pi) / 2 when ``full``). ``var`` has x's shape (heteroscedastic), x's shape
    without the last dim or with one dim of size 1 (homoscedastic), or is a float. The clamp
    at eps changes the value only: the gradient w.r.t. var passes through it (as PyTorch's
    in-place clamp under no_grad).

    Raises ValueError for a negative variance or a bad reduction, ShapeError (a ValueError)
    for a variance of the wrong shape."""
    op = "gaussian_nll_loss"
    if not isinstance(var, Tensor):
        if float(var) < 0:
            raise ValueError(f"{op}: var has negative entries (var={var})")
        var = const_like(xp_of(input).full(input.shape, float(var), dtype=input.dtype), input)
    else:
        arr = var._data
        if not _nonnegative(arr):
            raise ValueError(f"{op}: var has negative entries")
        guard(arr, _nonnegative, what="gaussian_nll_loss's var was non-negative")
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = unsqueeze(var, -1)
        # PyTorch's test: the sizes where var differs from input sum to 1
        elif not (input.ndim == var.ndim and
                  sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ShapeError(f"{op}: var of shape {list(var.shape)} is of incorrect size for "
                             f"input of shape {list(input.shape)} (expected the input's shape, "
                             f"it without the last dim, or it with one dim of size 1)")
    reduction = _reduction(op, reduction)
    with no_grad():   # the clamp's shift, by ops (tg.compile records them)
        shift = clamp_min(var, eps) - var
    v = var + shift
    d = input - target
    loss = 0.5 * (v.log() + d * d / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)
