"""Losses (reductions 'mean'/'sum'/'none'), written as composites of stable primitives.

cross_entropy with class-index targets is one fused primitive (log-softmax, pick, reduce
in one node; its gradient p - onehot in one more), because it ends every classifier's
training step. Its backward is itself a primitive whose VJP is written with the softmax
composite, so second-order gradients still work. Which inputs get gradients follows
PyTorch: regression targets and probability targets do; class weights never do.
"""
import warnings

from .. import backend
from ..core.function import Function, primitive, composite
from ..core.tensor import Tensor, _make
from ._util import Sample
from .activation import log_softmax
from .elementwise import where
from .math import Softplus
from .nn import softmax, Relu
from .reduce import sum, mean
from .shape import reshape, permute

xp = backend.xp


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


def _const(t, dtype=None):
    """A class weight / pos_weight: used as a constant, as PyTorch never differentiates it."""
    if t is None:
        return None
    arr = t._data if isinstance(t, Tensor) else xp.asarray(t)
    return _make(arr if dtype is None else arr.astype(dtype, copy=False))


def _size_warning(op, input, target):
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"{op}: using a target size ({list(target.shape)}) that is different to "
                      f"the input size ({list(input.shape)}); it will be broadcast, which is "
                      f"likely wrong. Please ensure they have the same size.", stacklevel=3)


def _weighted(op, loss, weight, reduction, mean_by_weight=True):
    """PyTorch's weighted regression losses: 'mean' is sum(w*l)/sum(w) (mse, l1) or
    mean(w*l) (huber)."""
    if tuple(weight.shape) != tuple(loss.shape):
        raise ValueError(f"{op}: weights and input must have the same size (weight "
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
    loss = where(a._data < beta, (0.5 / beta) * (d * d), a - 0.5 * beta)
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
    loss = where(a._data <= delta, 0.5 * (d * d), delta * (a - 0.5 * delta))
    if weight is not None:
        return _weighted("huber_loss", loss, weight, reduction, mean_by_weight=False)
    return _reduce(loss, reduction)


# -- cross entropy --------------------------------------------------------------------------
def _ce_params(ctx):
    p = ctx.params
    return {k: p[k] for k in ("t", "a", "b", "v", "scale")}


def _qsum(a, b, v):
    return a if b is None else a + b * v.sum()


def _qdense(t, a, b, v, shape, dtype):
    q = xp.zeros(shape, dtype=dtype)
    q[xp.arange(shape[0]), t] = a
    if b is not None:
        q += b[:, None] * v
    return q


@primitive("softmax_cross_entropy", public=False)
class SoftmaxCrossEntropy(Function):
    """Rows x_i of (M, C) logits with class t_i, target weight a_i and smoothing weights
    b_i * v_c:  q_ic = a_i [c == t_i] + b_i v_c,  Q_i = sum_c q_ic,
    l_i = sum_c q_ic (logsumexp(x_i) - x_ic) = Q_i log(sum_c exp z_ic) - sum_c q_ic z_ic with
    z = x - max(x) (never overflows);  dl_i/dx_ic = Q_i softmax(x_i)_c - q_ic.
    Output: l (M,) when ``scale`` is None, else scale * sum_i l_i (the reduction, fused).
    Primitive for speed: one node, and the softmax it computes is reused by the backward."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x, t, a, b, v, scale):
        m = x.max(axis=1, keepdims=True) if x.shape[1] else xp.zeros((x.shape[0], 1), x.dtype)
        z = x - xp.where(xp.isfinite(m), m, 0)
        e = xp.exp(z)
        s = e.sum(axis=1, keepdims=True)
        rows = xp.arange(x.shape[0])
        loss = _qsum(a, b, v) * xp.log(s[:, 0]) - a * z[rows, t]
        if b is not None:
            loss -= b * (z @ v)
        if ctx.recording:
            e /= s
            ctx.p = e
        if scale is None:
            return loss
        return xp.asarray(loss.sum() * scale, dtype=x.dtype)

    @staticmethod
    def vjp(ctx, g):
        return CrossEntropyGrad.apply(ctx.inputs[0], g, p=ctx.p, **_ce_params(ctx))

    @staticmethod
    def jvp(ctx, tx):
        x = ctx.inputs[0]
        prm = _ce_params(ctx)
        one = xp.ones(() if prm["scale"] is not None else (x.shape[0],), dtype=x.dtype)
        d = CrossEntropyGrad.apply(x, _make(one), **prm) * tx
        return sum(d) if prm["scale"] is not None else sum(d, dim=1)


@primitive("softmax_cross_entropy_grad", public=False)
class CrossEntropyGrad(Function):
    """u_ic = G_i (Q_i p_ic - q_ic), p = softmax(x_i), G = g * scale (reduced loss) or g_i
    (per-row loss).  Linear in g;  du/dx^T w = G Q (w p - p sum_c(w p))  (the softmax
    Jacobian), written with the softmax composite so higher orders work too."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x, g, t, a, b, v, scale, p=None):
        if p is None:
            z = x - x.max(axis=1, keepdims=True)
            p = xp.exp(z)
            p /= p.sum(axis=1, keepdims=True)
        d = p * _qsum(a, b, v)[:, None]
        d[xp.arange(x.shape[0]), t] -= a
        if b is not None:
            d -= b[:, None] * v
        d *= (g * scale) if scale is not None else g[:, None]
        return d

    @staticmethod
    def _parts(ctx, x, g):
        p = ctx.params
        P = softmax(x, dim=1)
        Q = _make(_qsum(p["a"], p["b"], p["v"])[:, None])
        G = g * p["scale"] if p["scale"] is not None else reshape(g, (-1, 1))
        return P, Q, G

    @staticmethod
    def vjp(ctx, w):
        x, g = ctx.inputs
        nx, ng = ctx.needs_input_grad
        p = ctx.params
        P, Q, G = CrossEntropyGrad._parts(ctx, x, g)
        gx = gg = None
        if ng:
            q = _make(_qdense(p["t"], p["a"], p["b"], p["v"], x.shape, x.dtype))
            h = sum(w * (P * Q - q), dim=1)
            gg = sum(h) * p["scale"] if p["scale"] is not None else h
        if nx:
            wp = w * P
            gx = (wp - P * sum(wp, dim=1, keepdim=True)) * (Q * G)
        return gx, gg

    @staticmethod
    def jvp(ctx, tx, tg):
        x, g = ctx.inputs
        out = None
        if tg is not None:
            out = CrossEntropyGrad.apply(x, tg, **_ce_params(ctx))
        if tx is not None:
            P, Q, G = CrossEntropyGrad._parts(ctx, x, g)
            tp = tx * P
            d = (tp - P * sum(tp, dim=1, keepdim=True)) * (Q * G)
            out = d if out is None else out + d
        return out


def _class_rows(op, x, target, weight, ignore_index):
    """Logits/log-probs as (M, C) rows with class dim last, plus the checked targets."""
    if not isinstance(x, Tensor) or x.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating-point input tensor, got "
                           f"{getattr(x, 'dtype', type(x).__name__)}")
    if x.ndim == 0:
        raise RuntimeError(f"{op}: input must have at least 1 dimension (the classes), got a "
                           f"0-d tensor")
    cdim = 1 if x.ndim >= 2 else 0
    c = x.shape[cdim]
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"{op}: weight tensor should be defined either for all {c} classes "
                           f"or no classes but got weight tensor of shape: {list(weight.shape)}")
    t = target._data if isinstance(target, Tensor) else xp.asarray(target)
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected class-index targets of an integer dtype (or "
                           f"float class probabilities of the input's shape), got {t.dtype} "
                           f"targets of shape {list(t.shape)}")
    want = x.shape[:cdim] + x.shape[cdim + 1:]
    if t.shape != want:
        if x.ndim == 2 and t.ndim == 1:
            raise ValueError(f"{op}: Expected input batch_size ({x.shape[0]}) to match target "
                             f"batch_size ({t.shape[0]}).")
        raise RuntimeError(f"{op}: expected target of shape {list(want)} for input of shape "
                           f"{list(x.shape)}, got {list(t.shape)}")
    if x.ndim == 1:
        x2 = reshape(x, (1, c))
    elif x.ndim == 2:
        x2 = x
    else:
        x2 = reshape(permute(x, (0,) + tuple(range(2, x.ndim)) + (1,)), (-1, c))
    t1 = t.reshape(-1)
    if t1.size and 0 <= t1.min() and t1.max() < c and not 0 <= ignore_index < c:
        valid = xp.ones(t1.shape, dtype=bool)  # the common case: every target counts
        ts = t1
    else:
        valid = t1 != ignore_index
        bad = valid & ((t1 < 0) | (t1 >= c))
        if bad.any():
            raise IndexError(f"{op}: Target {int(t1[bad][0])} is out of bounds (input has "
                             f"{c} classes)")
        ts = xp.where(valid, t1, 0)
    wt = valid.astype(x.dtype)
    if weight is not None:
        wt *= weight._data.astype(x.dtype, copy=False)[ts]
    return x2, ts, wt, valid, t.shape, c


def _mean_scale(wt):
    denom = float(wt.sum())
    return 1.0 / denom if denom != 0 else float("nan")


def _ce_samples(rng):
    r = rng.standard_normal
    t = xp.array([0, 2, 1, 2])
    return [Sample([r((4, 3)), t]),
            Sample([r((4, 3)), t], {"reduction": "sum", "label_smoothing": 0.2}),
            Sample([r((4, 3)), t], {"reduction": "none", "weight": _make(xp.array([0.5, 2.0, 1.0])),
                                    "ignore_index": 1}, name="none weight ignore"),
            Sample([r((4, 3)), t], {"weight": _make(xp.array([0.5, 2.0, 1.0])),
                                    "label_smoothing": 0.1}, name="weight smoothing"),
            Sample([r((2, 3, 2)), xp.array([[0, 2], [1, 1]])], name="N-d"),
            Sample([r((3,)), xp.array(1)], name="unbatched"),
            Sample([r((2, 3)), rng.dirichlet(xp.ones(3), 2)], {"label_smoothing": 0.1},
                   name="probabilities"),
            Sample([r((0, 3)), xp.zeros(0, dtype=backend.int64)], {"reduction": "sum"},
                   name="empty")]


@composite("cross_entropy", samples=_ce_samples)
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """-log softmax(input)[target] over the class dim (1, or 0 for unbatched input).
    Class-index targets: rows equal to ``ignore_index`` count for nothing; 'mean' divides by
    the summed weight of the counted rows; ``label_smoothing`` eps mixes in eps/C of every
    class (PyTorch's formula). Float targets are class probabilities (they get gradients)."""
    reduction = _reduction("cross_entropy", reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    weight = _const(weight)
    tdt = target.dtype if isinstance(target, Tensor) else xp.asarray(target).dtype
    if tdt.kind == "f":
        return _ce_probabilities(input, target, weight, reduction, label_smoothing)
    x2, ts, wt, valid, tshape, c = _class_rows("cross_entropy", input, target, weight,
                                               ignore_index)
    dt = x2.dtype
    a = wt * (1.0 - label_smoothing) if label_smoothing else wt
    b = v = None
    if label_smoothing:
        b = valid.astype(dt) * (label_smoothing / c)
        v = xp.ones(c, dtype=dt) if weight is None else weight._data.astype(dt, copy=False)
    scale = None if reduction == "none" else 1.0 if reduction == "sum" else _mean_scale(wt)
    out = SoftmaxCrossEntropy.apply(x2, t=ts, a=a.astype(dt, copy=False), b=b, v=v,
                                    scale=scale)
    return reshape(out, tshape) if reduction == "none" else out


def _ce_probabilities(x, target, weight, reduction, label_smoothing):
    if tuple(target.shape) != tuple(x.shape):
        raise RuntimeError(f"cross_entropy: class-probability targets must have the input's "
                           f"shape {list(x.shape)}, got {list(target.shape)}")
    cdim = 1 if x.ndim >= 2 else 0
    c = x.shape[cdim]
    y = target if isinstance(target, Tensor) else _make(xp.asarray(target))
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + label_smoothing / c
    prod = log_softmax(x, dim=cdim) * y
    if weight is not None:
        shape = [1] * x.ndim
        shape[cdim] = c
        prod = prod * reshape(weight.to(x.dtype), tuple(shape))
    loss = -sum(prod, dim=cdim)
    if reduction == "mean":
        return sum(loss) / float(max(x.numel() // c, 0) if c else 0)
    return _reduce(loss, reduction)


def _nll_samples(rng):
    t = xp.array([0, 2, 1, 2])
    return [Sample([rng.standard_normal((4, 3)), t]),
            Sample([rng.standard_normal((4, 3)), t],
                   {"weight": _make(xp.array([0.5, 2.0, 1.0])), "ignore_index": 2}),
            Sample([rng.standard_normal((2, 3, 2)), xp.array([[0, 2], [1, 1]])],
                   {"reduction": "none"}, name="N-d")]


@composite("nll_loss", samples=_nll_samples)
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-weight[t] * input[t] for log-probability input (class dim 1); 'mean' divides by
    the summed weight of the rows not equal to ``ignore_index``."""
    reduction = _reduction("nll_loss", reduction, size_average, reduce)
    weight = _const(weight)
    x2, ts, wt, _, tshape, c = _class_rows("nll_loss", input, target, weight, ignore_index)
    picked = x2[xp.arange(x2.shape[0]), ts]
    loss = picked * _make(-wt)
    if reduction == "none":
        return reshape(loss, tshape)
    s = sum(loss)
    return s if reduction == "sum" else s * _mean_scale(wt)


# -- binary cross entropy -------------------------------------------------------------------
@primitive("clamped_log", public=False)
class ClampedLog(Function):
    """y = max(log(x), -100) (PyTorch's BCE clamp, so log(0) gives -100, not -inf);
    dy/dx = 1/x where log(x) > -100, else 0 (selected, so 1/0 never appears)."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x):
        with xp.errstate(divide="ignore"):
            return xp.maximum(xp.log(x), -100.0).astype(x.dtype, copy=False)

    @staticmethod
    def vjp(ctx, g):
        x = ctx.inputs[0]
        with xp.errstate(divide="ignore"):
            live = xp.log(x._data) > -100.0
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
        raise ValueError(f"binary_cross_entropy: using a target size ({list(target.shape)}) "
                         f"that is different to the input size ({list(input.shape)}) is not "
                         f"supported. Please ensure they have the same size.")
    p = input._data
    if p.size and ((p < 0) | (p > 1) | (p != p)).any():
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 "
                           "and 1")
    y = target
    loss = -(y * ClampedLog.apply(input) + (1 - y) * ClampedLog.apply(1 - input))
    if weight is not None:
        loss = loss * _const(weight, input.dtype)
    return _reduce(loss, reduction)


def _bcel_samples(rng):
    x, y = rng.standard_normal((2, 3)), rng.uniform(0, 1, (2, 3))
    return [Sample([x, y]),
            Sample([x, y], {"pos_weight": _make(xp.array([0.5, 2.0, 3.0])), "reduction": "sum"},
                   name="pos_weight"),
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
        raise ValueError(f"binary_cross_entropy_with_logits: target size "
                         f"({list(target.shape)}) must be the same as input size "
                         f"({list(input.shape)})")
    y = target
    sp = Softplus.apply(-input, beta=1.0, threshold=float("inf"))
    if pos_weight is not None:
        sp = sp * ((_const(pos_weight, input.dtype) - 1) * y + 1)
    loss = (1 - y) * input + sp
    if weight is not None:
        loss = loss * _const(weight, input.dtype)
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
    pos = t._data > 0
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
    return [Sample([r((3, 4)), r((3, 4)), xp.array([1, -1, 1])]),
            Sample([r((3, 4)), r((3, 4)), xp.array([-1, -1, 1])], {"margin": -0.5,
                                                                   "reduction": "none"}),
            Sample([r((4,)), r((4,)), xp.array(1)], name="1-d")]


@composite("cosine_embedding_loss", samples=_cel_samples)
def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where target = 1, max(0, cos(x1, x2) - margin) where target = -1,
    with cos = sum(x1 x2) / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)) along the last dim
    (PyTorch's formula). The target gets no gradient."""
    reduction = _reduction("cosine_embedding_loss", reduction, size_average, reduce)
    if input1.shape != input2.shape or input1.ndim not in (1, 2):
        raise RuntimeError(f"cosine_embedding_loss: expected 1-d or 2-d inputs of the same "
                           f"shape, got {list(input1.shape)} and {list(input2.shape)}")
    d = input1.ndim - 1
    t = target._data if isinstance(target, Tensor) else xp.asarray(target)
    if t.shape != input1.shape[:d]:
        raise RuntimeError(f"cosine_embedding_loss: expected target of shape "
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
    return [Sample([a, b, xp.array([1.0, -1.0, 1.0, -1.0])]),
            Sample([a, b, xp.array([1, 1, -1, -1])], {"margin": 0.3, "reduction": "none"},
                   name="margin")]


@composite("margin_ranking_loss", samples=_mrl_samples)
def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -target * (input1 - input2) + margin); the subgradient at the hinge is 0."""
    reduction = _reduction("margin_ranking_loss", reduction, size_average, reduce)
    if not (input1.shape == input2.shape == tuple(target.shape)):
        raise RuntimeError(f"margin_ranking_loss: all input tensors should be the same size, "
                           f"got input1 {list(input1.shape)}, input2 {list(input2.shape)}, "
                           f"target {list(target.shape)}")
    if not isinstance(target, Tensor):
        target = _make(xp.asarray(target))
    if target.dtype.kind != "f":
        target = target.to(input1.dtype)
    return _reduce(Relu.apply(-target * (input1 - input2) + margin), reduction)
