"""Activation functions (``tg.nn.functional``): relu6, leaky_relu, prelu, elu, selu, celu,
gelu, silu, mish, hardtanh, hardsigmoid, hardswish, softsign, tanhshrink, threshold, glu,
log_softmax, softmin, logsigmoid.

All are composites, so every order of derivative comes from the primitives. Two patterns
keep them NaN-free:
- piecewise functions select with ``where`` (whose gradient is selected, not masked), and a
  branch that could overflow gets a sanitised input too (the "double where"): elu computes
  expm1(where(x > 0, 0, x)), so expm1 never sees a large x whose 0 * inf gradient would be NaN;
- stable primitives (softplus, sigmoid, logaddexp) do the rest.

Boundary conventions at the kinks: the where-based ops take the right-hand branch only for
x > kink (leaky_relu'(0) = negative_slope, elu'(0) = alpha, threshold'(threshold) = 0, as
PyTorch); the clamp-based ones (hardtanh, relu6, hardsigmoid, hardswish) pass no gradient at
the bounds (hardswish'(-3) = 0 and hardswish'(3) = 1, where PyTorch gives -0.5 and 1.5).
"""
import math as _m

from .. import backend
from ..core.errors import ShapeError
from ..core.function import warn_user
from ..core.tensor import _make
from ..core.registry import composite
from ._util import Sample, unary_samples, pick_dim, normalize_dims
from .elementwise import where, clamp, Exp, Log, Tanh
from .math import Expm1, Softplus
from .special import Erfc
from .nn import Sigmoid
from .reduce import Sum, MaxShift
from .shape import reshape

INF = float("inf")
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _float(x):
    """Integer and bool tensors become float32 (PyTorch's default dtype)."""
    return x if backend.is_floating(x.dtype) else x.float()


def _apply(fn, x, inplace):
    """``fn(x)``, or with ``inplace=True`` its result written into x (returned). The result
    is computed from a clone, so the ops that saved their input still see the old values;
    the write is ``copy_`` (recorded, and an error on a leaf that requires grad)."""
    if not inplace:
        return fn(_float(x))
    out = fn(x.clone() if x.node is not None else _float(x))
    return x.copy_(out)


def _negative_part(x):
    """x where x <= 0, else 0: the sanitised input of an exp branch (the double where)."""
    return where(x > 0, 0.0, x)


# -- piecewise linear ------------------------------------------------------------------------
@composite("hardtanh", samples=lambda rng: unary_samples(avoid=(-1.0, 1.0))(rng) + [
    Sample([rng.uniform(-2, 2, (2, 3)) + 0.05], {"min_val": -0.5, "max_val": 1.5})])
def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    """y = clamp(x, min_val, max_val);  dy/dx = 1 strictly inside, 0 outside and at the
    bounds (as PyTorch)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val "
                         f"(got min_val={min_val}, max_val={max_val})")
    return _apply(lambda x: clamp(x, min_val, max_val), x, inplace)


@composite("relu6", samples=unary_samples(-2.0, 8.0, avoid=(0.0, 6.0)))
def relu6(x, inplace=False):
    """y = min(max(x, 0), 6);  dy/dx = 1 on (0, 6), else 0 (0 at both kinks)."""
    return hardtanh(x, 0.0, 6.0, inplace)


@composite("leaky_relu", samples=lambda rng: unary_samples(avoid=(0.0,))(rng) + [
    Sample([rng.uniform(-2, 2, (2, 3)) + 0.05], {"negative_slope": 0.2})])
def leaky_relu(x, negative_slope=0.01, inplace=False):
    """y = x if x > 0 else negative_slope * x;  dy/dx = 1 or negative_slope (the slope at 0,
    as PyTorch)."""
    return _apply(lambda x: where(x > 0, x, x * negative_slope), x, inplace)


def _prelu_samples(rng):
    x = rng.uniform(-2, 2, (2, 3, 2))
    x = x + 0.2 * (abs(x) < 0.1)
    return [Sample([x, rng.uniform(0.1, 0.5, (3,))]),
            Sample([x[:, :, 0], rng.uniform(0.1, 0.5, (1,))]),
            Sample([x[0, :, 0], rng.uniform(0.1, 0.5, (1,))])]


@composite("prelu", method=True, samples=_prelu_samples)
def prelu(x, weight):
    """y = x if x > 0 else weight * x, with one slope per channel (dim 1) or one shared
    slope;  dy/dx = 1 or weight, dy/dweight = x where x <= 0 (summed per channel)."""
    n = weight.numel()
    channels = x.shape[1] if x.ndim >= 2 else 1
    if n != 1 and n != channels:
        raise ShapeError(f"prelu: Mismatch of parameter numbers and input channel size. "
                         f"Found parameter numbers = {n} and channel size = {channels} "
                         f"(input shape {list(x.shape)}).")
    if n == 1:
        w = reshape(weight, ())
    else:
        w = reshape(weight, (1, n) + (1,) * (x.ndim - 2))
    return where(x > 0, x, w * x)


@composite("threshold", samples=lambda rng: [
    Sample(s.args, {"threshold": 0.5, "value": -1.0})
    for s in unary_samples(avoid=(0.5,), shapes=[(), (2, 3)])(rng)])
def threshold(x, threshold, value, inplace=False):
    """y = x if x > threshold else value;  dy/dx = 1 where x > threshold, else 0."""
    return _apply(lambda x: where(x > threshold, x, value), x, inplace)


@composite("hardsigmoid", samples=unary_samples(-4.0, 4.0, avoid=(-3.0, 3.0)))
def hardsigmoid(x, inplace=False):
    """y = relu6(x + 3) / 6;  dy/dx = 1/6 on (-3, 3), else 0."""
    return _apply(lambda x: clamp(x + 3, 0.0, 6.0) / 6, x, inplace)


@composite("hardswish", samples=unary_samples(-4.0, 4.0, avoid=(-3.0, 3.0)))
def hardswish(x, inplace=False):
    """y = x * relu6(x + 3) / 6;  dy/dx = 0 for x <= -3, (2x + 3)/6 on (-3, 3), 1 for x >= 3
    (at the kinks tapegrad takes the outer side: 0 at -3 and 1 at 3; PyTorch gives -0.5 and
    1.5)."""
    return _apply(lambda x: x * clamp(x + 3, 0.0, 6.0) / 6, x, inplace)


# -- smooth ----------------------------------------------------------------------------------
@composite("elu", samples=lambda rng: unary_samples(avoid=(0.0,))(rng) + [
    Sample([rng.uniform(-2, 2, (2, 3)) + 0.05], {"alpha": 0.5})])
def elu(x, alpha=1.0, inplace=False):
    """y = x if x > 0 else alpha * (exp(x) - 1);  dy/dx = 1 or alpha * exp(x) (alpha at 0)."""
    return _apply(lambda x: where(x > 0, x, Expm1.apply(_negative_part(x)) * alpha),
                  x, inplace)


@composite("selu", samples=unary_samples(avoid=(0.0,)))
def selu(x, inplace=False):
    """y = scale * elu(x, alpha) with PyTorch's fixed alpha = 1.6733, scale = 1.0507."""
    return _apply(lambda x: elu(x, SELU_ALPHA) * SELU_SCALE, x, inplace)


@composite("celu", samples=lambda rng: unary_samples(avoid=(0.0,))(rng) + [
    Sample([rng.uniform(-2, 2, (2, 3)) + 0.05], {"alpha": 2.0})])
def celu(x, alpha=1.0, inplace=False):
    """y = x if x > 0 else alpha * (exp(x / alpha) - 1);  dy/dx = 1 or exp(x / alpha)."""
    if alpha == 0:
        raise RuntimeError("celu: ZeroDivisionError: alpha cannot be 0 for CELU")
    return _apply(lambda x: where(x > 0, x,
                                  Expm1.apply(_negative_part(x) / alpha) * alpha), x, inplace)


@composite("gelu", samples=lambda rng: [
    Sample([rng.uniform(-3, 3, s)]) for s in [(), (2, 3), (2, 0)]] + [
    Sample([rng.uniform(-3, 3, (2, 3))], {"approximate": "tanh"})])
def gelu(x, approximate="none"):
    """approximate='none': y = x * Phi(x) = x/2 * erfc(-x / sqrt(2)) (erfc keeps the left tail
    accurate);  dy/dx = Phi(x) + x * phi(x).
    approximate='tanh': y = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x**3)))."""
    x = _float(x)
    if approximate == "none":
        return x * Erfc.apply(x * -_m.sqrt(0.5)) * 0.5
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * _m.sqrt(2 / _m.pi)
        return x * 0.5 * (Tanh.apply(inner) + 1)
    raise RuntimeError(f"gelu: approximate argument must be either none or tanh "
                       f"(got {approximate!r}).")


@composite("silu", samples=unary_samples(-3.0, 3.0))
def silu(x, inplace=False):
    """y = x * sigmoid(x);  dy/dx = s + x s (1 - s)."""
    return _apply(lambda x: x * Sigmoid.apply(x), x, inplace)


@composite("mish", samples=unary_samples(-3.0, 3.0))
def mish(x, inplace=False):
    """y = x * tanh(softplus(x)) (softplus without its threshold switch, as PyTorch's mish)."""
    return _apply(lambda x: x * Tanh.apply(Softplus.apply(x, beta=1.0, threshold=INF)),
                  x, inplace)


@composite("softsign", samples=unary_samples(avoid=(0.0,)))
def softsign(x):
    """y = x / (1 + |x|);  dy/dx = 1 / (1 + |x|)**2."""
    x = _float(x)
    return x / (x.abs() + 1)


@composite("tanhshrink", samples=unary_samples())
def tanhshrink(x):
    """y = x - tanh(x);  dy/dx = tanh(x)**2."""
    x = _float(x)
    return x - Tanh.apply(x)


@composite("logsigmoid", aliases=("log_sigmoid",), samples=lambda rng: unary_samples(-4.0, 4.0)(
    rng) + [Sample([backend.asarray([-30.0, -5.0, 5.0, 30.0])], name="wide")])
def logsigmoid(x):
    """y = log(sigmoid(x)) = -softplus(-x), computed as min(x, 0) - log1p(exp(-|x|)) (finite
    for any x);  dy/dx = sigmoid(-x)."""
    return -Softplus.apply(-_float(x), beta=1.0, threshold=INF)


@composite("glu", samples=lambda rng: [
    Sample([rng.standard_normal((2, 4))]), Sample([rng.standard_normal((4, 3))], {"dim": 0}),
    Sample([rng.standard_normal((2, 2, 3))], {"dim": 1})])
def glu(x, dim=-1):
    """Split x in halves a, b along ``dim``: y = a * sigmoid(b)."""
    if x.ndim == 0:
        raise ShapeError("glu does not support scalars because halving size must be even")
    d = normalize_dims(dim, x.ndim, "glu")[0]
    n = x.shape[d]
    if n % 2:
        raise ShapeError(f"glu: Halving dimension must be even, but dimension {d} is size "
                         f"{n} (input shape {list(x.shape)})")
    lead = (slice(None),) * d
    a, b = x[lead + (slice(0, n // 2),)], x[lead + (slice(n // 2, n),)]
    return a * Sigmoid.apply(b)


# -- softmax family ----------------------------------------------------------------------------
def _softmax_samples(rng):
    return [Sample([rng.standard_normal((2, 3))], {"dim": -1}),
            Sample([rng.standard_normal((2, 3))], {"dim": 0}),
            Sample([rng.standard_normal((4,))], {"dim": 0}),
            Sample([rng.standard_normal(())], {"dim": 0}),
            Sample([rng.standard_normal((0, 3))], {"dim": 1})]


def _softmax_dim(dim, x, op):
    """The default is dim=-1 (as tg.softmax); an explicit dim=None takes PyTorch's legacy
    implicit choice (0 for 0-, 1- and 3-d inputs, else 1), with PyTorch's warning."""
    if dim is not None:
        return dim
    warn_user(f"Implicit dimension choice for {op} has been deprecated. Change the call "
                  f"to include dim=X as an argument.")
    return 0 if x.ndim in (0, 1, 3) else 1


def _shifted(x, dim, op):
    """(x - max(x) along dim, the reduced dims): the max is a constant (empty slices and
    infinite maxima shift by 0), so it cancels in every gradient."""
    dims = normalize_dims(dim, x.ndim, op) if x.ndim else None
    return x - MaxShift.apply(x, dims=dims), dims


@composite("log_softmax", method=True, samples=_softmax_samples)
def log_softmax(x, dim=-1, dtype=None, *, axis=None):
    """y = z - log(sum(exp(z))) with z = x - max(x) along ``dim``: exp never overflows, and
    z - log(...) never loses the small term to a huge max (x - logsumexp(x) would);
    dy/dx = g - softmax(x) * sum(g)."""
    dim = _softmax_dim(pick_dim(dim, axis, -1), x, "log_softmax")
    if dtype is not None:
        x = x.to(dtype)
    z, dims = _shifted(_float(x), dim, "log_softmax")
    return z - Log.apply(Sum.apply(Exp.apply(z), dims=dims, keepdim=True))


@composite("softmin", samples=_softmax_samples)
def softmin(x, dim=-1, dtype=None, *, axis=None):
    """y = softmax(-x) = exp(z) / sum(exp(z)) with z = -x - max(-x) along ``dim``."""
    dim = _softmax_dim(pick_dim(dim, axis, -1), x, "softmin")
    if dtype is not None:
        x = x.to(dtype)
    z, dims = _shifted(-_float(x), dim, "softmin")
    e = Exp.apply(z)
    return e / Sum.apply(e, dims=dims, keepdim=True)
