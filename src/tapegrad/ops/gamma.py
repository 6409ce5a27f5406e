"""The gamma function family and the modified Bessel functions: lgamma, digamma,
polygamma, mvlgamma, i0, and special.i1/i0e/i1e (scipy.special's forwards through
``backend.special``; derivatives in tapegrad ops, so every order works).

The derivative chain closes on itself: lgamma' = digamma = polygamma(0), polygamma(n)' =
polygamma(n + 1); i0' = i1 and i1' = i0 - i1/x.
"""
import math as _m

from .. import backend
from ..backend import special as _sp
from ..core.function import Function
from ..core.registry import primitive, composite, elementwise_jvp
from ..core.tensor import Tensor
from ._util import Sample, unary_samples, guard, const_like
from .elementwise import as_float, where, Sign
from .special import special_unary


@primitive("polygamma", public=False)
class Polygamma(Function):
    """y = psi^(n)(x), the n-th derivative of digamma (n = 0: digamma itself);
    dy/dx = psi^(n+1)(x). Poles (inf) at 0 and the negative integers."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x, n):
        x = as_float(x)
        return _sp.polygamma(n, x).astype(x.dtype, copy=False)

    @staticmethod
    def vjp(ctx, g):
        return g * Polygamma.apply(ctx.inputs[0], n=ctx.params["n"] + 1)

    jvp = elementwise_jvp


Lgamma = special_unary(
    "lgamma", "gammaln", lambda x: Polygamma.apply(x, n=0), samples=unary_samples(0.3, 4.0),
    doc="y = log|Gamma(x)|;  dy/dx = digamma(x). +inf at 0 and the negative integers.")


def _positive(rng):
    return unary_samples(0.3, 4.0)(rng) + [Sample([rng.uniform(-2.9, -2.1, (3,))],
                                                  name="negative")]


@composite("digamma", method=True, samples=_positive)
def digamma(input):
    """psi(x) = d/dx log Gamma(x) (``special.digamma``, ``special.psi``);
    dpsi/dx = polygamma(1, x). -inf at 0, NaN at the negative integers (as PyTorch)."""
    return Polygamma.apply(input, n=0)


def _polygamma_samples(rng):
    return [Sample([n, rng.uniform(0.3, 4.0, s)]) for n, s in ((0, (2, 3)), (1, (3,)),
                                                               (2, ()), (3, (2, 0)))]


@composite("polygamma", samples=_polygamma_samples)
def polygamma(n, input):
    """psi^(n)(x), the n-th derivative of digamma, for an integer n >= 0 (``x.polygamma(n)``
    as a method); d/dx psi^(n)(x) = psi^(n+1)(x).

    Raises: TypeError for a non-integer n, RuntimeError for a negative one."""
    if isinstance(n, Tensor) or not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"polygamma(): argument 'n' must be an int, got {type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"polygamma(n, x) does not support negative n, got n = {n}")
    return Polygamma.apply(input, n=n)


Tensor.polygamma = lambda self, n: polygamma(n, self)
Tensor.polygamma.__doc__ = ("``x.polygamma(n)`` is ``tg.polygamma(n, x)``: psi^(n)(x), the "
                             "n-th derivative of digamma (n an int >= 0).")


def _mvlgamma_samples(rng):
    return [Sample([rng.uniform(1.6, 4.0, (2, 3)), 3]),
            Sample([rng.uniform(0.3, 3.0, (3,))], {"p": 1}),
            Sample([rng.uniform(2.1, 4.0, ())], {"p": 5})]


def _above(a, bound):
    return a.size == 0 or bool((a > bound).all())


@composite("mvlgamma", method=True, samples=_mvlgamma_samples)
def mvlgamma(input, p):
    """The multivariate log-gamma of dimension p (``special.multigammaln``):
    sum_{j<p} lgamma(x - j/2) + p(p-1)/4 log(pi);  d/dx = sum_{j<p} digamma(x - j/2).

    Raises: RuntimeError unless p >= 1 and every element exceeds (p - 1)/2."""
    p = int(p)
    if p < 1:
        raise RuntimeError(f"mvlgamma: p has to be greater than or equal to 1, got p = {p}")
    x = input if backend.is_floating(input.dtype) else input.float()
    bound = (p - 1) / 2
    if not _above(x._data, bound):
        raise RuntimeError(f"mvlgamma: all elements must be greater than (p-1)/2 = {bound} "
                           f"for p = {p}")
    guard(x._data, _above, bound, what=f"mvlgamma's input was above (p-1)/2 = {bound}")
    shifts = const_like([-0.5 * j for j in range(p)], x, x.dtype)
    out = Lgamma.apply(x.unsqueeze(-1) + shifts).sum(-1)
    return out + p * (p - 1) / 4 * _m.log(_m.pi)


# -- modified Bessel functions of the first kind ----------------------------------------------
def _nonzero(x):
    """x with 1 where it is 0 (a divisor that keeps NaN out of the unselected branch)."""
    return where(x == 0, 1.0, x)


I0 = special_unary(
    "i0", "i0", lambda x: I1.apply(x), samples=unary_samples(-3.0, 3.0),
    doc="y = I0(x), the modified Bessel function of order 0;  dy/dx = I1(x).")
I1 = special_unary(
    "special.i1", "i1", lambda x, y: where(x == 0, 0.5, I0.apply(x) - y / _nonzero(x)),
    uses="xy", method=False, samples=unary_samples(-3.0, 3.0, avoid=(0.0,)),
    doc="y = I1(x), the modified Bessel function of order 1;  dy/dx = I0(x) - y/x "
        "(1/2 at 0, the limit).")
I0e = special_unary(
    "special.i0e", "i0e", lambda x, y: I1e.apply(x) - Sign.apply(x) * y, uses="xy",
    method=False, samples=unary_samples(-3.0, 3.0, avoid=(0.0,)),
    doc="y = exp(-|x|) I0(x) (no overflow for large |x|);  dy/dx = i1e(x) - sign(x) y.")
I1e = special_unary(
    "special.i1e", "i1e",
    lambda x, y: where(x == 0, 0.5, I0e.apply(x) - y * (Sign.apply(x) + 1 / _nonzero(x))),
    uses="xy", method=False, samples=unary_samples(-3.0, 3.0, avoid=(0.0,)),
    doc="y = exp(-|x|) I1(x);  dy/dx = i0e(x) - y (sign(x) + 1/x) (1/2 at 0, the limit).")
