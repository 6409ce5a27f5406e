"""Losses (reductions 'mean'/'sum'/'none'), written as composites of stable primitives
(cross_entropy and nll_loss are in cross_entropy.py). Which inputs get gradients follows
PyTorch: regression targets and probability targets do; class weights never do.
"""

from .. import backend
from ..core.errors import ShapeError
from ..core.function import Function, warn_user
from ..core.registry import primitive, composite
from ..core.tensor import Tensor, _make
from ._util import Sample, guard, in_range_closed, xp_of, const_like
from .activation import log_softmax
from .elementwise import where
from .math import Softplus
from .nn import softmax, Relu
from .reduce import sum, mean
from .shape import reshape, permute


# -- reductions -----------------------------------------------------------------------------
def _reduction(op, reduction, size_average=None, reduce=None, extra=()):
    if size_average is not None or reduce is not None:  # PyTorch's legacy arguments
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = ("mean" if size_average else "sum") if reduce else "none"
    if reduction not in ("mean", "sum", "none") + tuple(extra):
        raise ValueError(f"{op}: {reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss, reduction):
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    return loss


def _const(t, like, dtype=None):
    """A class weight / pos_weight: used as a constant, as PyTorch never differentiates it
    (given as data, it is put on tensor ``like``'s device)."""
    if t is None:
        return None
    if isinstance(t, Tensor):   # a cast op, not a raw astype, so tg.compile records it
        t = t.detach()
        return t if dtype is None or t.dtype == dtype else t.to(dtype)
    arr = xp_of(like).asarray(t)
    return _make(arr if dtype is None else arr.astype(dtype, copy=False))


def _size_warning(op, input, target):
    if tuple(input.shape) != tuple(target.shape):
        warn_user(f"{op}: using a target size ({list(target.shape)}) that is different to "
                      f"the input size ({list(input.shape)}); it will be broadcast, which is "
                      f"likely wrong. Please ensure they have the same size.")


def _weighted(op, loss, weight, reduction, mean_by_weight=True):
    """PyTorch's weighted regression losses: 'mean' is sum(w*l)/sum(w) (mse, l1) or
    mean(w*l) (huber)."""
    if tuple(weight.shape) != tuple(loss.shape):
        raise ShapeError(f"{op}: weights and input must have the same size (weight "
                         f"{list(weight.shape)}, input {list(loss.shape)})")
    loss = loss * weight
    if reduction == "mean" and mean_by_weight:
        return sum(loss) / sum(weight)
    return _reduce(loss, reduction)


def _pair_samples(low=-2.0, high=2.0, kink_free=None):
    def gen(rng):
        a, b = rng.uniform(low, high, (2, 3)), rng.uniform(low, high, (2, 3))
        if kink_free:
            b = kink_free(a, b)
        return [Sample([a, b]), Sample([a, b], {"reduction": "sum"}),
                Sample([a, b], {"reduction": "none"}),
                Sample([a[0, 0], b[0, 0]], name="0-d")]
    return gen


# -- regression losses ----------------------------------------------------------------------
@composite("mse_loss", samples=_pair_samples())
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """mean((input - target)**2); both input and target get gradients."""
    reduction = _reduction("mse_loss", reduction, size_average, reduce)
    _size_warning("mse_loss", input, target)
    d = input - target
    loss = d * d
    if weight is not None:
        return _weighted("mse_loss", loss, weight, reduction)
    return _reduce(loss, reduction)


def _away(a, b, at=(0.0,)):
    d = a - b
    for k in at:
        for s in (1, -1):
            b = b - 0.3 * (abs(d - s * k) < 0.15)
            d = a - b
    return b


@composite("l1_loss", samples=_pair_samples(kink_free=_away))
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """mean(|input - target|); the gradient at input == target is 0 (abs'(0) = 0)."""
    reduction = _reduction("l1_loss", reduction, size_average, reduce)
    _size_warning("l1_loss", input, target)
    loss = (input - target).abs()
    if weight is not None:
        return _weighted("l1_loss", loss, weight, reduction)
    return _reduce(loss, reduction)


@composite("smooth_l1_loss", samples=lambda rng: _pair_samples(
        kink_free=lambda a, b: _away(a, b, (0.0, 1.0)))(rng) + [
        Sample([rng.uniform(-2, 2, (4,)), rng.uniform(-2, 2, (4,))], {"beta": 0.5})])
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d**2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target);
    beta = 0 is l1_loss."""
    reduction = _reduction("smooth_l1_loss", reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta, got {beta}")
    _size_warning("smooth_l1_loss", input, target)
    d = input - target
    a = d.abs()
    if beta == 0:
        return _reduce(a, reduction)
    loss = where(a < beta, (0.5 / beta) * (d * d), a - 0.5 * beta)
    return _reduce(loss, reduction)


@composite("huber_loss", samples=lambda rng: _pair_samples(
        kink_free=lambda a, b: _away(a, b, (0.0, 1.0)))(rng) + [
        Sample([rng.uniform(-2, 2, (4,)), rng.uniform(-2, 2, (4,))], {"delta": 0.5})])
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d**2 where |d| <= delta, else delta * (|d| - 0.5 delta) (d = input - target)."""
    reduction = _reduction("huber_loss", reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got "
                           f"{delta}")
    _size_warning("huber_loss", input, target)
    d = input - target
    a = d.abs()
    loss = where(a <= delta, 0.5 * (d * d), delta * (a - 0.5 * delta))
    if weight is not None:
        return _weighted("huber_loss", loss, weight, reduction, mean_by_weight=False)
    return _reduce(loss, reduction)


# -- binary cross entropy -------------------------------------------------------------------
@primitive("clamped_log", public=False)
class ClampedLog(Function):
    """y = max(log(x), -100) (PyTorch's BCE clamp, so log(0) gives -100, not -inf);
    dy/dx = 1/x where log(x) > -100, else 0 (selected, so 1/0 never appears)."""

    save_inputs = True
    save_output = True

    @staticmethod
    def forward(ctx, x):
        with backend.errstate(divide="ignore"):
            return ctx.xp.maximum(ctx.xp.log(x), -100.0).astype(x.dtype, copy=False)

    @staticmethod
    def vjp(ctx, g):
        x = ctx.inputs[0]
        live = ctx.output > -100.0   # log(x) > -100, as an op (tg.compile records it)
        return where(live, g / where(live, x, 1.0), 0.0)

    @staticmethod
    def jvp(ctx, t):
        return ClampedLog.vjp(ctx, t)


def _bce_samples(rng):
    p, y = rng.uniform(0.1, 0.9, (2, 3)), rng.uniform(0, 1, (2, 3))
    return [Sample([p, y]), Sample([p, y], {"reduction": "none",
                                            "weight": _make(rng.uniform(0.5, 2, (3,)))}),
            Sample([p[0, 0], y[0, 0]], {"reduction": "sum"}, name="0-d")]


@composite("binary_cross_entropy", samples=_bce_samples)
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-weight * (y log p + (1 - y) log(1 - p)) with each log clamped at -100 (PyTorch's
    rule, so p = 0 or 1 gives a finite loss); dl/dp = w (p - y) / (p (1 - p)); the target
    gets dl/dy = -w logit(p) (as PyTorch)."""
    reduction = _reduction("binary_cross_entropy", reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(f"binary_cross_entropy: using a target size ({list(target.shape)}) "
                         f"that is different to the input size ({list(input.shape)}) is not "
                         f"supported. Please ensure they have the same size.")
    p = input._data
    if p.size and not in_range_closed(p, 0, 1):
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 "
                           "and 1")
    guard(p, in_range_closed, 0, 1, what="binary_cross_entropy's input was in [0, 1]")
    y = target
    loss = -(y * ClampedLog.apply(input) + (1 - y) * ClampedLog.apply(1 - input))
    if weight is not None:
        loss = loss * _const(weight, input, input.dtype)
    return _reduce(loss, reduction)


def _bcel_samples(rng):
    x, y = rng.standard_normal((2, 3)), rng.uniform(0, 1, (2, 3))
    return [Sample([x, y]),
            Sample([x, y], {"pos_weight": _make(backend.asarray([0.5, 2.0, 3.0])),
                            "reduction": "sum"}, name="pos_weight"),
            Sample([x, y], {"weight": _make(rng.uniform(0.5, 2, (2, 1))), "reduction": "none"},
                   name="weight"),
            Sample([x[0, 0], y[0, 0]], name="0-d")]


@composite("binary_cross_entropy_with_logits", samples=_bcel_samples)
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """-w (pw y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))
    = w ((1 - y) x + (1 + (pw - 1) y) softplus(-x)), with a softplus that never
    overflows, so |x| = 1000 gives exact losses and gradients."""
    reduction = _reduction("binary_cross_entropy_with_logits", reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(f"binary_cross_entropy_with_logits: target size "
                         f"({list(target.shape)}) must be the same as input size "
                         f"({list(input.shape)})")
    y = target
    sp = Softplus.apply(-input, beta=1.0, threshold=float("inf"))
    if pos_weight is not None:
        sp = sp * ((_const(pos_weight, input, input.dtype) - 1) * y + 1)
    loss = (1 - y) * input + sp
    if weight is not None:
        loss = loss * _const(weight, input, input.dtype)
    return _reduce(loss, reduction)


# -- divergences and margins ----------------------------------------------------------------
def _kl_samples(rng):
    x = rng.standard_normal((2, 3))
    t = rng.uniform(0.1, 1.0, (2, 3))
    return [Sample([x, t]), Sample([x, t], {"reduction": "batchmean"}),
            Sample([x, rng.standard_normal((2, 3))], {"log_target": True, "reduction": "sum"},
                   name="log_target"),
            Sample([x, t], {"reduction": "none"})]


def _xlogx(t):
    """t * log(t), 0 at t = 0 (gradient log(t) + 1 for t > 0, 0 at t = 0: no NaN)."""
    pos = t > 0
    return where(pos, t * where(pos, t, 1.0).log(), 0.0)


@composite("kl_div", samples=_kl_samples)
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise KL divergence with log-probability ``input``: target * (log target - input)
    (0 where target = 0), or exp(target) * (target - input) when ``log_target``.
    'batchmean' divides the sum by the batch size (input.shape[0]); 'mean' by the count."""
    reduction = _reduction("kl_div", reduction, size_average, reduce, extra=("batchmean",))
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = _xlogx(target) - target * input
    if reduction == "batchmean":
        s = sum(loss)
        return s / input.shape[0] if input.ndim else s
    return _reduce(loss, reduction)


def _cel_samples(rng):
    r = rng.standard_normal
    return [Sample([r((3, 4)), r((3, 4)), backend.asarray([1, -1, 1])]),
            Sample([r((3, 4)), r((3, 4)), backend.asarray([-1, -1, 1])],
                   {"margin": -0.5, "reduction": "none"}),
            Sample([r((4,)), r((4,)), backend.asarray(1)], name="1-d")]


@composite("cosine_embedding_loss", samples=_cel_samples)
def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where target = 1, max(0, cos(x1, x2) - margin) where target = -1,
    with cos = sum(x1 x2) / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)) along the last dim
    (PyTorch's formula). The target gets no gradient."""
    reduction = _reduction("cosine_embedding_loss", reduction, size_average, reduce)
    if input1.shape != input2.shape or input1.ndim not in (1, 2):
        raise ShapeError(f"cosine_embedding_loss: expected 1-d or 2-d inputs of the same "
                         f"shape, got {list(input1.shape)} and {list(input2.shape)}")
    d = input1.ndim - 1
    t = target if isinstance(target, Tensor) else const_like(target, input1)
    if t.shape != input1.shape[:d]:
        raise ShapeError(f"cosine_embedding_loss: expected target of shape "
                         f"{list(input1.shape[:d])}, got {list(t.shape)}")
    eps = 1e-12
    prod = sum(input1 * input2, dim=d)
    m1 = sum(input1 * input1, dim=d) + eps
    m2 = sum(input2 * input2, dim=d) + eps
    cos = prod / (m1 * m2).sqrt()
    pos = where(t == 1, 1 - cos, 0.0)
    neg = where(t == -1, Relu.apply(cos - margin), 0.0)
    return _reduce(pos + neg, reduction)


def _mrl_samples(rng):
    a, b = rng.standard_normal((4,)), rng.standard_normal((4,))
    b = b + 0.4 * (abs(a - b) < 0.2)
    return [Sample([a, b, backend.asarray([1.0, -1.0, 1.0, -1.0])]),
            Sample([a, b, backend.asarray([1, 1, -1, -1])], {"margin": 0.3, "reduction": "none"},
                   name="margin")]


@composite("margin_ranking_loss", samples=_mrl_samples)
def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -target * (input1 - input2) + margin); the subgradient at the hinge is 0."""
    reduction = _reduction("margin_ranking_loss", reduction, size_average, reduce)
    if not (input1.shape == input2.shape == tuple(target.shape)):
        raise ShapeError(f"margin_ranking_loss: all input tensors should be the same size, "
                         f"got input1 {list(input1.shape)}, input2 {list(input2.shape)}, "
                         f"target {list(target.shape)}")
    if not isinstance(target, Tensor):
        target = const_like(target, input1)
    if not backend.is_floating(target.dtype):
        target = target.to(input1.dtype)
    return _reduce(Relu.apply(-target * (input1 - input2) + margin), reduction)
