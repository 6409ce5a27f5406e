"""The error function family and the normal distribution's functions: erf, erfc, erfinv,
erfcx, ndtr, ndtri, log_ndtr, and entr.

The forwards are scipy.special's (cupyx.scipy.special's on a GPU), reached through
``backend.special``: a well-kept library of special functions beats a series of our own.
Each derivative is written in tapegrad ops (often of the op's own output), so every order
of derivative works.
"""
import math as _m

from .. import backend
from ..backend import special as _sp
from ..core.function import Function
from ..core.registry import primitive, composite, elementwise_jvp
from ._util import Sample, unary_samples
from .elementwise import as_float, where, Exp

SQRT_PI = _m.sqrt(_m.pi)
SQRT_2PI = _m.sqrt(2 * _m.pi)
INV_SQRT2 = _m.sqrt(0.5)


def special_unary(name, fn, derivative, uses="x", method=True, aliases=(), samples=None,
                  doc=""):
    """Register the primitive y = ``fn``(x), a special function of ``backend.special``
    (a name) or a callable of the array, with dy/dx = ``derivative``: a tapegrad expression
    in x (``uses="x"``), in y (``uses="y"``), or in both (``uses="xy"``: derivative(x, y)).
    Integer inputs compute in the default float dtype, as PyTorch's."""
    compute = (lambda x: _sp.call(fn, x)) if isinstance(fn, str) else fn

    class Special(Function):
        save_inputs = "x" in uses
        save_output = "y" in uses

        @staticmethod
        def forward(ctx, x):
            x = as_float(x)
            return compute(x).astype(x.dtype, copy=False)

        @staticmethod
        def vjp(ctx, g):
            if uses == "xy":
                return g * derivative(ctx.inputs[0], ctx.output)
            return g * derivative(ctx.inputs[0] if uses == "x" else ctx.output)

        jvp = elementwise_jvp

    Special.__doc__ = doc
    Special.__name__ = Special.__qualname__ = name.rsplit(".", 1)[-1].capitalize()
    return primitive(name, method=method, aliases=aliases,
                     samples=samples or unary_samples(-2.0, 2.0))(Special)


def _gauss(x):
    """exp(-x**2), differentiable."""
    return Exp.apply(-(x * x))


Erf = special_unary(
    "erf", "erf", lambda x: _gauss(x) * (2 / SQRT_PI), samples=unary_samples(-3.0, 3.0),
    doc="y = erf(x) = 2/sqrt(pi) int_0^x exp(-t**2) dt;  dy/dx = 2/sqrt(pi) exp(-x**2).")
Erfc = special_unary(
    "erfc", "erfc", lambda x: _gauss(x) * (-2 / SQRT_PI), samples=unary_samples(-3.0, 3.0),
    doc="y = erfc(x) = 1 - erf(x);  dy/dx = -2/sqrt(pi) exp(-x**2). Primitive: computed "
        "directly for large x, where 1 - erf(x) loses every digit.")
Erfinv = special_unary(
    "erfinv", "erfinv", lambda y: Exp.apply(y * y) * (SQRT_PI / 2), uses="y",
    samples=unary_samples(-0.9, 0.9),
    doc="y = erfinv(x), the inverse of erf on (-1, 1) (+-inf at +-1, NaN outside);  "
        "dy/dx = sqrt(pi)/2 exp(y**2).")
Erfcx = special_unary(
    "special.erfcx", "erfcx", lambda x, y: 2 * x * y - 2 / SQRT_PI, uses="xy", method=False,
    doc="y = erfcx(x) = exp(x**2) erfc(x), the scaled complementary error function (finite "
        "where exp(x**2) overflows);  dy/dx = 2x y - 2/sqrt(pi).")
Ndtri = special_unary(
    "special.ndtri", "ndtri", lambda y: Exp.apply(y * y * 0.5) * SQRT_2PI, uses="y",
    method=False, samples=unary_samples(0.05, 0.95),
    doc="y = ndtri(p), the standard normal quantile (the inverse of ndtr; +-inf at 0 and 1);  "
        "dy/dp = sqrt(2 pi) exp(y**2 / 2).")
LogNdtr = special_unary(
    "special.log_ndtr", "log_ndtr", lambda x, y: Exp.apply(x * x * -0.5 - y) / SQRT_2PI,
    uses="xy", method=False, samples=unary_samples(-6.0, 3.0),
    doc="y = log(ndtr(x)), accurate in the far left tail;  dy/dx = phi(x) / ndtr(x) = "
        "exp(-x**2/2 - y) / sqrt(2 pi) (finite for very negative x, where ndtr underflows).")


@composite("special.ndtr", samples=unary_samples(-3.0, 3.0))
def ndtr(input):
    """Phi(x), the standard normal CDF: erfc(-x / sqrt(2)) / 2 (erfc keeps the left tail's
    relative accuracy);  dPhi/dx = exp(-x**2 / 2) / sqrt(2 pi)."""
    return Erfc.apply(input * -INV_SQRT2) * 0.5


def _entr_samples(rng):
    return unary_samples(0.1, 3.0)(rng) + [
        Sample([backend.asarray([0.5, 0.0, -1.0, 2.0])], name="boundary", kink=True)]


@composite("special.entr", samples=_entr_samples)
def entr(input):
    """-x log(x) for x > 0, 0 at x = 0, -inf for x < 0 (the entropy term);
    d/dx = -(1 + log x) for x > 0 and 0 elsewhere (tapegrad's convention where the function
    is constant or infinite; PyTorch gives inf at 0 and NaN below). log sees 1 off the
    domain, so no NaN reaches the gradient."""
    x = input if backend.is_floating(input.dtype) else input.float()
    return where(x < 0, -float("inf"), -x * where(x > 0, x, 1.0).log())
