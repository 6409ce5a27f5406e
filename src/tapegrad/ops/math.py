"""Elementwise math beyond arithmetic: exp/log variants, trig and hyperbolic functions, erf,
rounding (zero gradient), floor-divide, remainder/fmod, atan2, logaddexp, softplus, logit,
lerp, and NaN handling.

Most functions here are primitives because they are the basic functions the derivative
rules are written in (sin's rule is cos, erf's is exp(-x**2)); each VJP is written with
tapegrad ops, so every order of derivative works. The rest are composites.
"""
import math as _m

from .. import backend
from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite, elementwise_jvp
from ..core.tensor import Tensor, _make
from ._util import Sample, sum_to, unary_samples, binary_samples, xp_of, check_numbers
from .elementwise import as_float, where, clamp, log, Exp, zero_grad

LN2, LN10 = _m.log(2.0), _m.log(10.0)
TWO_OVER_SQRT_PI = 2.0 / _m.sqrt(_m.pi)
INF = float("inf")


def _shape(x):
    return getattr(x, "shape", ())


def _data(x):
    return getattr(x, "_data", x)


def _float_tensor(x):
    """Integer and bool tensors become float32 before float math (PyTorch's rule)."""
    if isinstance(x, Tensor) and not backend.is_floating(x.dtype):
        return x.float()
    return x


# -- unary elementwise primitives ---------------------------------------------------------------
def _unary(name, forward, derivative, uses="x", low=-2.0, high=2.0, aliases=(), doc=""):
    """Register the primitive y = forward(xp, x) (xp: the input's array module) with
    dy/dx = ``derivative(v)``, a tapegrad expression in v = x (``uses="x"``) or v = y
    (``uses="y"``), so the rule is differentiable again."""

    class Unary(Function):
        save_inputs = uses == "x"
        save_output = uses == "y"

        @staticmethod
        def forward(ctx, x):
            return forward(ctx.xp, as_float(x))

        @staticmethod
        def vjp(ctx, g):
            v = ctx.inputs[0] if uses == "x" else ctx.output
            return g * derivative(v)

        jvp = elementwise_jvp

    Unary.__doc__ = doc
    Unary.__name__ = Unary.__qualname__ = name.capitalize()
    return primitive(name, method=True, aliases=aliases,
                     samples=unary_samples(low, high))(Unary)


Exp2 = _unary("exp2", lambda xp, x: xp.exp2(x), lambda y: y * LN2, uses="y",
              doc="y = 2**x;  dy/dx = y * ln 2. Primitive: exact at integers, unlike exp(x ln 2).")
Expm1 = _unary("expm1", lambda xp, x: xp.expm1(x), lambda y: y + 1, uses="y",
               doc="y = exp(x) - 1;  dy/dx = y + 1. Primitive: accurate near 0.")
Log2 = _unary("log2", lambda xp, x: xp.log2(x), lambda x: 1 / (x * LN2), low=0.2, high=3.0,
              doc="y = log2(x);  dy/dx = 1 / (x ln 2) (inf at 0, IEEE).")
Log10 = _unary("log10", lambda xp, x: xp.log10(x), lambda x: 1 / (x * LN10), low=0.2, high=3.0,
               doc="y = log10(x);  dy/dx = 1 / (x ln 10) (inf at 0, IEEE).")
Log1p = _unary("log1p", lambda xp, x: xp.log1p(x), lambda x: 1 / (1 + x), low=-0.8, high=2.0,
               doc="y = log(1 + x);  dy/dx = 1 / (1 + x). Primitive: accurate near 0.")
Sin = _unary("sin", lambda xp, x: xp.sin(x), lambda x: cos(x), doc="y = sin(x);  dy/dx = cos(x).")
Cos = _unary("cos", lambda xp, x: xp.cos(x), lambda x: -sin(x), doc="y = cos(x);  dy/dx = -sin(x).")
Tan = _unary("tan", lambda xp, x: xp.tan(x), lambda y: 1 + y * y, uses="y", low=-1.2, high=1.2,
             doc="y = tan(x);  dy/dx = 1 + y**2.")
Asin = _unary("asin", lambda xp, x: xp.arcsin(x), lambda x: rsqrt(1 - x * x), low=-0.9, high=0.9,
              aliases=("arcsin",), doc="y = asin(x);  dy/dx = 1 / sqrt(1 - x**2).")
Acos = _unary("acos", lambda xp, x: xp.arccos(x), lambda x: -rsqrt(1 - x * x), low=-0.9, high=0.9,
              aliases=("arccos",), doc="y = acos(x);  dy/dx = -1 / sqrt(1 - x**2).")
Atan = _unary("atan", lambda xp, x: xp.arctan(x), lambda x: 1 / (1 + x * x), aliases=("arctan",),
              doc="y = atan(x);  dy/dx = 1 / (1 + x**2).")
Sinh = _unary("sinh", lambda xp, x: xp.sinh(x), lambda x: cosh(x), doc="y = sinh(x);  dy/dx = cosh(x).")
Cosh = _unary("cosh", lambda xp, x: xp.cosh(x), lambda x: sinh(x), doc="y = cosh(x);  dy/dx = sinh(x).")
Asinh = _unary("asinh", lambda xp, x: xp.arcsinh(x), lambda x: rsqrt(x * x + 1), aliases=("arcsinh",),
               doc="y = asinh(x);  dy/dx = 1 / sqrt(x**2 + 1).")
Acosh = _unary("acosh", lambda xp, x: xp.arccosh(x), lambda x: rsqrt(x * x - 1), low=1.2, high=3.0,
               aliases=("arccosh",), doc="y = acosh(x);  dy/dx = 1 / sqrt(x**2 - 1).")
Atanh = _unary("atanh", lambda xp, x: xp.arctanh(x), lambda x: 1 / (1 - x * x), low=-0.9, high=0.9,
               aliases=("arctanh",), doc="y = atanh(x);  dy/dx = 1 / (1 - x**2).")


def sin(x):
    return Sin.apply(x)


def cos(x):
    return Cos.apply(x)


def sinh(x):
    return Sinh.apply(x)


def cosh(x):
    return Cosh.apply(x)


@composite("reciprocal", method=True, samples=unary_samples(0.3, 2.0))
def reciprocal(x):
    """y = 1 / x;  dy/dx = -1 / x**2 (from div)."""
    return 1 / _float_tensor(x)


@composite("rsqrt", method=True, samples=unary_samples(0.2, 3.0))
def rsqrt(x):
    """y = 1 / sqrt(x);  dy/dx = -y**3 / 2 (from div and sqrt; inf at 0, IEEE)."""
    return 1 / _float_tensor(x).sqrt()


# -- rounding: recorded, with a zero gradient (as PyTorch) ----------------------------------
def _rounding_samples(rng, half=False):
    frac = (0.1, 0.4) if half else (0.1, 0.9)  # away from the jumps
    out = [Sample([rng.integers(-3, 3, s) + rng.uniform(*frac, s)]) for s in [(), (2, 3), (2, 0)]]
    if half:
        out.append(Sample([rng.integers(-9, 9, (3,)) / 10 + 0.03], {"decimals": 1}))
    return out


def _rounding(name, fn, doc, aliases=(), half=False):
    class Rounding(Function):
        @staticmethod
        def forward(ctx, x, *args, **params):
            if not backend.is_floating(x.dtype):
                return x.copy()  # integers are already whole (the dtype is kept, as PyTorch)
            return fn(ctx.xp, x, *args, **params)

        @staticmethod
        def vjp(ctx, g):
            return zero_grad(g)

        @staticmethod
        def jvp(ctx, t):
            return zero_grad(t)

    Rounding.__doc__ = doc
    Rounding.__name__ = Rounding.__qualname__ = name.capitalize()
    return primitive(name, method=True, aliases=aliases,
                     samples=lambda rng: _rounding_samples(rng, half))(Rounding)


_ZERO = "; piecewise constant, so dy/dx = 0 (a recorded zero, not an error, as PyTorch)."
Floor = _rounding("floor", lambda xp, x: xp.floor(x), "y = floor(x)" + _ZERO)
Ceil = _rounding("ceil", lambda xp, x: xp.ceil(x), "y = ceil(x)" + _ZERO)
Trunc = _rounding("trunc", lambda xp, x: xp.trunc(x), "y = trunc(x) (toward 0)" + _ZERO,
                  aliases=("fix",))
Round = _rounding("round", lambda xp, x, decimals=0: xp.round(x, int(decimals)),
                  "y = x rounded half to even (at ``decimals`` places)" + _ZERO, half=True)


# -- NaN / inf ------------------------------------------------------------------------------
def _predicate(name, fn, doc):
    class Predicate(Function):
        differentiable = False

        @staticmethod
        def forward(ctx, x):
            return fn(ctx.xp, x)

    Predicate.__doc__ = doc
    Predicate.__name__ = Predicate.__qualname__ = name.capitalize()
    return primitive(name, method=True)(Predicate)


IsNan = _predicate("isnan", lambda xp, x: xp.isnan(x),
                   "True where x is NaN (bool, no gradient).")
IsInf = _predicate("isinf", lambda xp, x: xp.isinf(x),
                   "True where x is +-inf (bool, no gradient).")
IsFinite = _predicate("isfinite", lambda xp, x: xp.isfinite(x),
                      "True where x is neither NaN nor inf (bool).")


def _nan_to_num_samples(rng):
    x = rng.uniform(-2, 2, (2, 3))
    x[0, 0], x[0, 1], x[1, 2] = float("nan"), INF, -INF
    return [Sample([rng.uniform(-2, 2, (2, 3))]), Sample([x]),
            Sample([x], {"nan": 1.0, "posinf": 5.0, "neginf": -5.0})]


@primitive("nan_to_num", method=True, samples=_nan_to_num_samples)
class NanToNum(Function):
    """y = x with NaN -> nan, +inf -> posinf, -inf -> neginf (default: the dtype's extremes);
    dy/dx = 1 where x is finite, else 0 (selected, so no NaN leaks)."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x, nan=0.0, posinf=None, neginf=None):
        check_numbers("nan_to_num", input=x)   # (NumPy's passes text through)
        return ctx.xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def vjp(ctx, g):
        return where(IsFinite.apply(ctx.inputs[0]), g, 0.0)

    jvp = elementwise_jvp


# -- binary ops -----------------------------------------------------------------------------
def _check_broadcast(xp, name, a, b):
    """PyTorch's RuntimeError (naming the op, the sizes and the shapes) instead of NumPy's
    ValueError when the inputs don't broadcast."""
    sa, sb = _shape(a), _shape(b)
    try:
        xp.broadcast_shapes(sa, sb)
    except ValueError:
        for i in range(1, min(len(sa), len(sb)) + 1):
            if sa[-i] != sb[-i] and 1 not in (sa[-i], sb[-i]):
                raise ShapeError(
                    f"{name}: The size of tensor a ({sa[-i]}) must match the size of tensor b "
                    f"({sb[-i]}) at non-singleton dimension {max(len(sa), len(sb)) - i} "
                    f"(shapes {list(sa)} and {list(sb)})") from None
        raise


def _int_zero_check(xp, name, a, b):
    if all(getattr(v, "dtype", backend.int64).kind in "iub" and not isinstance(v, float)
           for v in (a, b)) and xp.any(xp.asarray(b) == 0):
        raise RuntimeError(f"{name}: ZeroDivisionError (integer division by zero)")


@primitive("floor_divide", method=True, dunders=("__floordiv__",), rdunders=("__rfloordiv__",))
class FloorDivide(Function):
    """y = floor(a / b) (Python's //). PyTorch defines no derivative for floor_divide, so,
    as there, the op is recorded and a backward through it raises."""

    promote = True

    @staticmethod
    def forward(ctx, a, b):
        xp = ctx.xp
        _check_broadcast(xp, "floor_divide", a, b)
        _int_zero_check(xp, "floor_divide", a, b)
        with backend.errstate(divide="ignore", invalid="ignore"):
            return xp.floor_divide(a, b)

    @staticmethod
    def vjp(ctx, g):
        raise RuntimeError("the derivative for 'floor_divide' is not implemented (as in "
                           "PyTorch: it is 0 almost everywhere); use (a / b).floor() for a "
                           "recorded zero gradient")

    jvp = vjp


def _mod_samples(rng):
    """a = b * (k + f) with f in [0.2, 0.8], away from the jumps of remainder/fmod."""
    def pair(sa, sb):
        b = rng.uniform(0.5, 2.0, sb) * rng.choice([-1.0, 1.0], sb)
        q = rng.integers(-3, 3, xp_of(b).broadcast_shapes(sa, sb)) + rng.uniform(0.2, 0.8, sa)
        return [q * b, b]
    out = [Sample(pair(sa, sb)) for sa, sb in [((), ()), ((2, 3), (3,)), ((2, 1), (1, 3))]]
    out.append(Sample([2.5 * (rng.integers(-3, 3, (2, 3)) + rng.uniform(0.2, 0.8, (2, 3))),
                       2.5], name="scalar"))
    return out


class _Mod(Function):
    """Shared rule: y = a - q(a/b) * b with q a rounding, so dy/da = 1, dy/db = -q(a/b)."""

    promote = True
    save_inputs = True

    @classmethod
    def forward(cls, ctx, a, b):
        xp = ctx.xp
        _check_broadcast(xp, cls.name, a, b)
        _int_zero_check(xp, cls.name, a, b)
        with backend.errstate(divide="ignore", invalid="ignore"):
            return cls.mod(xp, a, b)

    @classmethod
    def _quotient(cls, ctx, dt):
        # ops on detached inputs (no gradient through the quotient; tg.compile records them)
        a, b = (v.detach() if isinstance(v, Tensor) else v for v in ctx.inputs)
        q = cls.quot(a, b)
        return q if q.dtype == dt else q.to(dt)

    @classmethod
    def vjp(cls, ctx, g):
        a, b = ctx.inputs
        na, nb = ctx.needs_input_grad
        return (sum_to(g, _shape(a)) if na else None,
                sum_to(-g * cls._quotient(ctx, g.dtype), _shape(b)) if nb else None)

    @classmethod
    def jvp(cls, ctx, ta, tb):
        out = ta
        if tb is not None:
            d = -tb * cls._quotient(ctx, tb.dtype)
            out = d if out is None else out + d
        return out


@primitive("remainder", method=True, dunders=("__mod__",), rdunders=("__rmod__",),
           samples=_mod_samples)
class Remainder(_Mod):
    """y = a - floor(a/b) * b (Python's %, the sign of b);  dy/da = 1, dy/db = -floor(a/b)."""

    mod = staticmethod(lambda xp, a, b: xp.remainder(a, b))
    quot = staticmethod(lambda a, b: FloorDivide.apply(a, b))


@primitive("fmod", method=True, samples=_mod_samples)
class Fmod(_Mod):
    """y = a - trunc(a/b) * b (C's fmod, the sign of a);  dy/da = 1, dy/db = -trunc(a/b)."""

    mod = staticmethod(lambda xp, a, b: xp.fmod(a, b))
    quot = staticmethod(lambda a, b: Trunc.apply(a / b))


def _floats(a, b):
    """After promotion, integer-only inputs become float32 (PyTorch's rule for float math)."""
    return tuple(as_float(v) if backend.is_array(v) else v for v in (a, b))


class _FloatBinary(Function):
    promote = True
    save_inputs = True


@primitive("atan2", method=True, aliases=("arctan2",), samples=binary_samples())
class Atan2(_FloatBinary):
    """y = atan2(a, b), the angle of the point (b, a);  dy/da = b / (a**2 + b**2),
    dy/db = -a / (a**2 + b**2) (NaN at the origin, as PyTorch)."""

    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast(ctx.xp, "atan2", a, b)
        return ctx.xp.arctan2(*_floats(a, b))

    @staticmethod
    def vjp(ctx, g):
        a, b = ctx.inputs
        na, nb = ctx.needs_input_grad
        r = g / (a * a + b * b)
        return (sum_to(r * b, _shape(a)) if na else None,
                sum_to(-r * a, _shape(b)) if nb else None)

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.inputs
        num = (0 if ta is None else ta * b) - (0 if tb is None else tb * a)
        return num / (a * a + b * b)


def _logaddexp_samples(rng):
    a = rng.uniform(-2, 2, (2, 3))
    return binary_samples()(rng) + [Sample([a, a.copy()], name="equal")]


@primitive("logaddexp", method=True, samples=_logaddexp_samples)
class LogAddExp(_FloatBinary):
    """y = log(exp(a) + exp(b)), computed as max(a, b) + log1p(exp(-|a - b|)) so it never
    overflows;  dy/da = sigmoid(a - b), dy/db = sigmoid(b - a) (a stable sigmoid)."""

    @staticmethod
    def forward(ctx, a, b):
        xp = ctx.xp
        _check_broadcast(xp, "logaddexp", a, b)
        a, b = _floats(a, b)
        with backend.errstate(invalid="ignore"):
            m = xp.maximum(a, b)
            out = m + xp.log1p(xp.exp(-xp.abs(a - b)))
            # equal infinities: a - b is NaN, but the answer is that infinity
            return xp.where(xp.isinf(m) & (a == b), m, out)

    @staticmethod
    def vjp(ctx, g):
        from .nn import Sigmoid
        a, b = ctx.inputs
        na, nb = ctx.needs_input_grad
        return (sum_to(g * Sigmoid.apply(a - b), _shape(a)) if na else None,
                sum_to(g * Sigmoid.apply(b - a), _shape(b)) if nb else None)

    @staticmethod
    def jvp(ctx, ta, tb):
        from .nn import Sigmoid
        a, b = ctx.inputs
        out = None if ta is None else ta * Sigmoid.apply(a - b)
        if tb is not None:
            d = tb * Sigmoid.apply(b - a)
            out = d if out is None else out + d
        return out


# -- softplus, logit, lerp --------------------------------------------------------------------
def _softplus_samples(rng):
    x = rng.uniform(-2, 2, (2, 3))
    x = x + 0.3 * (abs(x - 1.5) < 0.2)  # away from the threshold's jump at beta*x = 3
    return unary_samples(-3.0, 3.0)(rng) + [Sample([x], {"beta": 2.0, "threshold": 3.0})]


@primitive("softplus", public=False)
class Softplus(Function):
    """y = log(1 + exp(beta x)) / beta, and y = x where beta x > threshold (PyTorch's switch);
    dy/dx = sigmoid(beta x) (1 past the threshold). Primitive for stability: computed as
    (max(z, 0) + log1p(exp(-|z|))) / beta, finite for any x, with a stable sigmoid."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x, beta=1.0, threshold=20.0):
        xp = ctx.xp
        x = as_float(x)
        z = x * beta
        out = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / beta
        return xp.where(z > threshold, x, out)

    @staticmethod
    def vjp(ctx, g):
        from .nn import Sigmoid
        x = ctx.inputs[0]
        beta, threshold = ctx.params["beta"], ctx.params["threshold"]
        z = x * beta
        return where(z > threshold, g, g * Sigmoid.apply(z))

    jvp = elementwise_jvp


@composite("softplus", samples=_softplus_samples)
def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, stable for any x (see Softplus)."""
    return Softplus.apply(x, beta=float(beta), threshold=float(threshold))


@composite("logit", method=True, samples=lambda rng: [
    Sample([rng.uniform(0.1, 0.9, s)]) for s in [(), (2, 3)]] + [
    Sample([rng.uniform(0.2, 0.8, (2, 3))], {"eps": 0.1}),
    Sample([backend.asarray([0.05, 0.3, 0.7, 0.97])], {"eps": 0.1}, name="clamped")])
def logit(x, eps=None):
    """y = log(x / (1 - x)) = log(x) - log1p(-x);  dy/dx = 1 / (x (1 - x)). With ``eps``, x is
    first clamped to [eps, 1 - eps] (gradient 0 outside, and at the bounds: tapegrad's clamp
    convention; PyTorch passes the gradient at exactly the bounds)."""
    x = _float_tensor(x)
    if eps is not None:
        x = clamp(x, eps, 1 - eps)
    return log(x) - Log1p.apply(-x)


def _lerp_samples(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3,))
    return [Sample([a, b, 0.3]), Sample([a, b, 0.7]),
            Sample([a, b, rng.uniform(0, 1, (2, 3))], name="tensor weight"),
            Sample([rng.standard_normal(()), rng.standard_normal(()), rng.uniform(0, 1, ())])]


@composite("lerp", method=True, samples=_lerp_samples)
def lerp(input, end, weight):
    """y = input + weight * (end - input), evaluated as PyTorch does (from ``end`` when
    weight >= 0.5, so lerp(a, b, 1) == b exactly);  dy/dinput = 1 - w, dy/dend = w,
    dy/dweight = end - input."""
    shapes = [_shape(v) for v in (input, end, weight)]
    try:
        xp_of(input, end, weight).broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(f"lerp: shapes {[list(s) for s in shapes]} (input, end, weight) "
                         f"are not broadcastable") from None
    d = end - input
    if isinstance(weight, Tensor):
        return where(weight < 0.5, input + weight * d, end - d * (1 - weight))
    return input + weight * d if weight < 0.5 else end - d * (1 - weight)
