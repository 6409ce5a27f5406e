"""The error function erf and erfc, vectorized: a series below |x| = 2, a continued fraction
above (NumPy has no erf)."""
import math as _m
from .. import backend
from ..core.function import Function
from ..core.registry import primitive, composite, elementwise_jvp
from ..core.tensor import Tensor, _make
from ._util import Sample, sum_to, unary_samples, binary_samples
from .elementwise import as_float, where, clamp, log, Exp
from .math import TWO_OVER_SQRT_PI


# NumPy has no erf. |x| < 2: erf(x) = 2/sqrt(pi) x exp(-x^2) sum_n (2x^2)^n / (1*3*...*(2n+1)),
# a series of positive terms (no cancellation). |x| >= 1: erfc(x) = exp(-x^2)/sqrt(pi) /
# (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), Laplace's continued fraction, evaluated bottom-up.
# The number of terms is set per band for the output dtype: float64 gets a few ulp (the tests
# compare with math.erf/math.erfc), float32 a 1e-9 relative error (fewer terms, and
# erfc = 1 - erf below 2). Arguments are capped at 40, where erfc has underflowed.
_SERIES = [1.0]
for _k in range(1, 31):
    _SERIES.append(_SERIES[-1] / (2 * _k + 1))
#                  series |x|<1, series 1<=|x|<2, fraction 1<=|x|<2, fraction |x|>=2
_TERMS = {True: (18, 30, 200, 60), False: (12, 20, 0, 24)}


def _exp_neg_sq(xp, a, precise=True):
    """exp(-a*a). ``precise`` avoids the 2 a^2 eps error of rounding a*a: a = hi + lo with hi
    exact in 24 bits, so hi*hi is exact and exp(-a^2) = exp(-hi^2) * exp(-u), u = lo*(a + hi);
    |u| < 2e-4 (a <= 40), so exp(-u) = 1 - u + u^2/2 - u^3/6 to 1e-17."""
    if not precise:
        return xp.exp(-a * a)
    hi = a.astype(backend.float32).astype(a.dtype)
    u = (a - hi) * (a + hi)
    return xp.exp(-hi * hi) * (1 - u * (1 - u * (0.5 - u / 6)))


def _erf_series(xp, a, n, precise):
    """erf(a) for 0 <= a < 2, from n + 1 terms of the series (xp: a's array module)."""
    z = 2 * a * a
    s = xp.full(a.shape, _SERIES[n])
    for c in reversed(_SERIES[:n]):
        s *= z
        s += c
    return TWO_OVER_SQRT_PI * a * _exp_neg_sq(xp, a, precise) * s


def _erfc_cf(xp, a, levels, precise):
    """erfc(a) for a >= 1 (NaN stays NaN)."""
    t = a.copy()
    for k in range(levels, 0, -1):
        xp.divide(0.5 * k, t, out=t)
        t += a
    return _exp_neg_sq(xp, a, precise) / (_m.sqrt(_m.pi) * t)


def _bands(xp, x):
    """|x| in float64 (capped at 40), the float64-accuracy flag, and the masks of the bands
    [0, 1), [1, 2) and [2, inf] (NaN falls in the last: the fraction propagates it)."""
    a = xp.minimum(xp.abs(x.astype(backend.float64)), 40.0)
    low, high = a < 1, a >= 2
    return a, x.dtype == backend.float64, low, ~(low | high), ~(a < 2)


def _erf_abs(xp, x):
    """erf(|x|) in float64."""
    a, precise, low, mid, big = _bands(xp, x)
    n_low, n_mid, _, n_big = _TERMS[precise]
    out = xp.empty_like(a)
    out[low] = _erf_series(xp, a[low], n_low, False)  # a*a's rounding is < 1 ulp below 1
    out[mid] = _erf_series(xp, a[mid], n_mid, precise)
    out[big] = 1 - _erfc_cf(xp, a[big], n_big, precise)
    return out


def _erfc_abs(xp, x):
    """erfc(|x|) in float64 (1 - erf(|x|) only where that keeps the accuracy asked for)."""
    a, precise, low, mid, big = _bands(xp, x)
    n_low, n_mid, n_frac, n_big = _TERMS[precise]
    out = xp.empty_like(a)
    out[low] = 1 - _erf_series(xp, a[low], n_low, False)
    if precise:
        out[mid] = _erfc_cf(xp, a[mid], n_frac, True)
    else:
        out[mid] = 1 - _erf_series(xp, a[mid], n_mid, False)
    out[big] = _erfc_cf(xp, a[big], n_big, precise)
    return out


@primitive("erf", method=True, samples=unary_samples(-3.0, 3.0))
class Erf(Function):
    """y = erf(x) = 2/sqrt(pi) int_0^x exp(-t**2) dt;  dy/dx = 2/sqrt(pi) exp(-x**2).
    Primitive: a vectorized series / continued fraction (NumPy has no erf)."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        x = as_float(x)
        return xp.copysign(_erf_abs(xp, x), x).astype(x.dtype, copy=False)

    @staticmethod
    def vjp(ctx, g):
        x = ctx.inputs[0]
        return g * (Exp.apply(-(x * x)) * TWO_OVER_SQRT_PI)

    jvp = elementwise_jvp


@primitive("erfc", method=True, samples=unary_samples(-3.0, 3.0))
class Erfc(Function):
    """y = erfc(x) = 1 - erf(x);  dy/dx = -2/sqrt(pi) exp(-x**2). Primitive: computed
    directly for large |x|, where 1 - erf(x) would lose every digit."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        x = as_float(x)
        erfc_a = _erfc_abs(xp, x)
        return xp.where(x < 0, 2 - erfc_a, erfc_a).astype(x.dtype, copy=False)

    @staticmethod
    def vjp(ctx, g):
        x = ctx.inputs[0]
        return g * (Exp.apply(-(x * x)) * -TWO_OVER_SQRT_PI)

    jvp = elementwise_jvp
