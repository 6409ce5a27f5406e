"""cross_entropy and nll_loss.

cross_entropy with class-index targets is one fused primitive (log-softmax, pick, reduce in
one node; its gradient p - onehot in one more), because it ends every classifier's training
step. Its backward is itself a primitive whose VJP is written with the softmax composite, so
second-order gradients still work. Class-probability targets go through log_softmax.
"""
import warnings
from .. import backend
from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite
from ..core.tensor import Tensor, _make
from ._util import Sample, guard, in_range, xp_of, const_like, check_numbers
from ..core.modes import no_grad
from .activation import log_softmax
from .elementwise import where
from .math import Softplus
from .nn import softmax, Relu
from .reduce import sum, mean
from .shape import reshape, permute
from .loss import _const, _reduce, _reduction


def _ce_params(ctx):
    p = ctx.params
    return {k: p[k] for k in ("t", "a", "b", "v", "scale")}


def _qsum(a, b, v):
    """Q_i, or None when every row has weight 1 (``a`` is None only without smoothing)."""
    if a is None:
        return None
    return a if b is None else a + b * v.sum()


def _unit(xp, a, m, dtype):
    return xp.ones(m, dtype=dtype) if a is None else a


def _qdense(xp, t, a, b, v, shape, dtype):
    q = xp.zeros(shape, dtype=dtype)
    q[xp.arange(shape[0]), t] = _unit(xp, a, shape[0], dtype)
    if b is not None:
        q += b[:, None] * v
    return q


#: up to this many classes the softmax runs class-major, on a (C, M) copy of the logits:
#: NumPy reduces a short contiguous axis one row at a time (a (1024, 10) max takes 4x
#: longer than the copy plus a max over the long axis, which is whole-row vector ops)
_CLASS_MAJOR = 128


def _shifted_cols(x):
    """z = x - max(x) per row, returned class-major as (C, M). A row whose max is not finite
    (+inf, all -inf, NaN) becomes NaN, so its loss and gradient are NaN, as PyTorch's."""
    if x.shape[1] > _CLASS_MAJOR:
        return x.T - x.max(axis=1)
    z = x.T.copy()
    if len(z):  # no classes: nothing to shift (a max over them would raise)
        z -= z.max(axis=0)
    return z


def _softmax_rows(xp, x):
    """softmax(x) along dim 1 of (M, C) x (a transposed view of a class-major buffer)."""
    e = xp.exp(_shifted_cols(x))
    e /= e.sum(axis=0)
    return e.T


@primitive("softmax_cross_entropy", public=False)
class SoftmaxCrossEntropy(Function):
    """Rows x_i of (M, C) logits with class t_i, target weight a_i and smoothing weights
    b_i * v_c:  q_ic = a_i [c == t_i] + b_i v_c,  Q_i = sum_c q_ic,
    l_i = sum_c q_ic (logsumexp(x_i) - x_ic) = Q_i log(sum_c exp z_ic) - sum_c q_ic z_ic with
    z = x - max(x) (never overflows);  dl_i/dx_ic = Q_i softmax(x_i)_c - q_ic.
    ``a`` None means a_i = 1 for every row (no class weights, nothing ignored or smoothed).
    Output: l (M,) when ``scale`` is None, else scale * sum_i l_i (the reduction, fused).
    Primitive for speed: one node, and the softmax it computes is reused by the backward."""

    array_vjp = True
    save_inputs = True

    @staticmethod
    def forward(ctx, x, t, a, b, v, scale):
        xp = ctx.xp
        z = _shifted_cols(x)                              # (C, M)
        e = xp.exp(z)
        s = e.sum(axis=0)
        picked = z[t, xp.arange(x.shape[0])]
        q = _qsum(a, b, v)
        loss = xp.log(s)
        if q is None:
            loss -= picked
        else:
            loss *= q
            loss -= a * picked
        if b is not None:
            loss -= b * (v @ z)
        if ctx.recording:
            e /= s
            ctx.p = e.T
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
        one = xp_of(x).ones(() if prm["scale"] is not None else (x.shape[0],), dtype=x.dtype)
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
            p = _softmax_rows(ctx.xp, x)
        rows = ctx.xp.arange(x.shape[0])
        G = g * scale if scale is not None else g
        Gc = G if scale is not None else g[:, None]
        if a is None:  # unit weights, no smoothing: u = G (p - onehot)
            d = p * Gc
            d[rows, t] -= G
            return d
        d = p * _qsum(a, b, v)[:, None]
        d[rows, t] -= a
        if b is not None:
            d -= b[:, None] * v
        d *= Gc
        return d

    @staticmethod
    def _parts(ctx, x, g):
        p = ctx.params
        P = softmax(x, dim=1)
        a = _unit(xp_of(x), p["a"], x.shape[0], x.dtype)
        Q = _make(_qsum(a, p["b"], p["v"])[:, None])
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
            q = _make(_qdense(xp_of(x), p["t"], p["a"], p["b"], p["v"], x.shape, x.dtype))
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
    if not isinstance(x, Tensor) or x.dtype.kind not in "fV":     # V: bfloat16
        check_numbers(op, input=x)   # (a string...: a TypeError)
        raise RuntimeError(f"{op}: expected a floating-point input tensor, got "
                           f"{getattr(x, 'dtype', type(x).__name__)}")
    if x.ndim == 0:
        raise ShapeError(f"{op}: input must have at least 1 dimension (the classes), got a "
                         f"0-d tensor")
    cdim = 1 if x.ndim >= 2 else 0
    c = x.shape[cdim]
    if weight is not None and tuple(weight.shape) != (c,):
        raise ShapeError(f"{op}: weight tensor should be defined either for all {c} classes "
                         f"or no classes but got weight tensor of shape: {list(weight.shape)}")
    t = target._data if isinstance(target, Tensor) else xp_of(x).asarray(target)
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected class-index targets of an integer dtype (or "
                           f"float class probabilities of the input's shape), got {t.dtype} "
                           f"targets of shape {list(t.shape)}")
    want = x.shape[:cdim] + x.shape[cdim + 1:]
    if t.shape != want:
        if x.ndim == 2 and t.ndim == 1:
            raise ShapeError(f"{op}: Expected input batch_size ({x.shape[0]}) to match target "
                             f"batch_size ({t.shape[0]}).")
        raise ShapeError(f"{op}: expected target of shape {list(want)} for input of shape "
                         f"{list(x.shape)}, got {list(t.shape)}")
    if x.ndim == 1:
        x2 = reshape(x, (1, c))
    elif x.ndim == 2:
        x2 = x
    else:
        x2 = reshape(permute(x, (0,) + tuple(range(2, x.ndim)) + (1,)), (-1, c))
    t1 = t.reshape(-1)
    if t1.size and 0 <= t1.min() and t1.max() < c and not 0 <= ignore_index < c \
            and weight is None:   # the common case: every target counts, with weight 1
        guard(t, in_range, 0, c, what=f"{op}'s targets were all class indices in [0, {c}) "
                                      f"(no ignore_index rows)")
        return x2, t1, None, None, t.shape, c
    bad = (t1 != ignore_index) & ((t1 < 0) | (t1 >= c))
    if bad.any():
        raise IndexError(f"{op}: Target {int(t1[bad][0])} is out of bounds (input has "
                         f"{c} classes)")
    guard(t, _targets_ok, ignore_index, c,
          what=f"{op}'s targets were class indices in [0, {c}) or ignore_index")
    # per-row weights by ops on the targets, so tg.compile recomputes them on every call
    tt = reshape(target if isinstance(target, Tensor) else _make(t), (-1,))
    with no_grad():
        valid = tt != ignore_index
        ts = where(valid, tt, 0)
        wt = valid.to(x.dtype)
        if weight is not None:
            wt = wt * weight.to(x.dtype)[ts]
    return x2, ts._data, wt, valid, t.shape, c


def _array(x):
    """A tensor's array (a param of the primitives); numbers and None as they are."""
    return x._data if isinstance(x, Tensor) else x


def _targets_ok(t, ignore_index, c):
    """Every target a class index in [0, c) or ignore_index."""
    return bool(((t == ignore_index) | ((t >= 0) & (t < c))).all())


def _mean_scale(wt, rows):
    """1 / (summed weight of the counted rows), NaN when that is 0; ``wt`` None: every one
    of ``rows`` counts 1 (a number), else a 0-d tensor made by ops."""
    if wt is None:
        return 1.0 / rows if rows else float("nan")
    with no_grad():
        denom = sum(wt)
        return 1 / where(denom == 0, float("nan"), denom)


def _ce_samples(rng):
    r = rng.standard_normal
    t = backend.asarray([0, 2, 1, 2])
    w = backend.asarray([0.5, 2.0, 1.0])
    return [Sample([r((4, 3)), t]),
            Sample([r((4, 3)), t], {"reduction": "sum", "label_smoothing": 0.2}),
            Sample([r((4, 3)), t], {"reduction": "none", "weight": _make(w), "ignore_index": 1},
                   name="none weight ignore"),
            Sample([r((4, 3)), t], {"weight": _make(w), "label_smoothing": 0.1},
                   name="weight smoothing"),
            Sample([r((2, 3, 2)), backend.asarray([[0, 2], [1, 1]])], name="N-d"),
            Sample([r((3,)), backend.asarray(1)], name="unbatched"),
            Sample([r((2, 3)), rng.dirichlet([1.0, 1.0, 1.0], 2)], {"label_smoothing": 0.1},
                   name="probabilities"),
            Sample([r((0, 3)), backend.asarray([], backend.int64)], {"reduction": "sum"},
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
    weight = _const(weight, input)
    tdt = target.dtype if isinstance(target, Tensor) else xp_of(input).asarray(target).dtype
    if tdt.kind in "fV":
        return _ce_probabilities(input, target, weight, reduction, label_smoothing)
    x2, ts, wt, valid, tshape, c = _class_rows("cross_entropy", input, target, weight,
                                               ignore_index)
    dt = x2.dtype
    m = ts.shape[0]
    a = b = v = None  # a None: every row counts with weight 1
    with no_grad():
        if wt is not None:
            a = wt
        if label_smoothing:
            xp = xp_of(x2)
            if wt is None:
                wt, valid = _make(xp.ones(m, dtype=dt)), _make(xp.ones(m, dtype=bool))
            a = wt * (1.0 - label_smoothing)
            b = valid.to(dt) * (label_smoothing / c)
            v = xp.ones(c, dtype=dt) if weight is None else weight._data.astype(dt, copy=False)
    scale = None if reduction == "none" else 1.0 if reduction == "sum" else _mean_scale(wt, m)
    out = SoftmaxCrossEntropy.apply(x2, t=ts, a=_array(a), b=_array(b), v=v,
                                    scale=_array(scale))
    return reshape(out, tshape) if reduction == "none" else out


def _ce_probabilities(x, target, weight, reduction, label_smoothing):
    if tuple(target.shape) != tuple(x.shape):
        raise ShapeError(f"cross_entropy: class-probability targets must have the input's "
                         f"shape {list(x.shape)}, got {list(target.shape)}")
    cdim = 1 if x.ndim >= 2 else 0
    c = x.shape[cdim]
    y = target if isinstance(target, Tensor) else const_like(target, x)
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
    t = backend.asarray([0, 2, 1, 2])
    return [Sample([rng.standard_normal((4, 3)), t]),
            Sample([rng.standard_normal((4, 3)), t],
                   {"weight": _make(backend.asarray([0.5, 2.0, 1.0])), "ignore_index": 2}),
            Sample([rng.standard_normal((2, 3, 2)), backend.asarray([[0, 2], [1, 1]])],
                   {"reduction": "none"}, name="N-d")]


@composite("nll_loss", samples=_nll_samples)
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-weight[t] * input[t] for log-probability input (class dim 1); 'mean' divides by
    the summed weight of the rows not equal to ``ignore_index``."""
    reduction = _reduction("nll_loss", reduction, size_average, reduce)
    weight = _const(weight, input)
    x2, ts, wt, _, tshape, c = _class_rows("nll_loss", input, target, weight, ignore_index)
    picked = x2[xp_of(x2).arange(x2.shape[0]), ts]
    loss = -picked if wt is None else picked * -wt
    if reduction == "none":
        return reshape(loss, tshape)
    s = sum(loss)
    return s if reduction == "sum" else s * _mean_scale(wt, x2.shape[0])
