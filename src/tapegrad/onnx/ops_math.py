"""Converters for elementwise maths, comparisons, casts and reductions.

A number argument becomes a constant of the op's dtype, and a tensor of another dtype is
cast first (tapegrad records tensor-tensor promotions as casts already; a number's dtype
follows the tensor's, as in PyTorch). Ops ONNX lacks are written with the ones it has:
erfc = 1 - erf, expm1 = exp - 1, log1p = log(1 + x), trunc by sign, Python's remainder
from fmod.
"""
import math

from .. import backend
from ._convert import converts

_UNARY = {"neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs",
          "sign": "Sign", "sin": "Sin", "cos": "Cos", "tan": "Tan", "asin": "Asin",
          "acos": "Acos", "atan": "Atan", "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh",
          "acosh": "Acosh", "atanh": "Atanh", "tanh": "Tanh", "sigmoid": "Sigmoid",
          "relu": "Relu", "erf": "Erf", "floor": "Floor", "ceil": "Ceil", "isnan": "IsNaN",
          "isinf": "IsInf", "clone": "Identity", "to_device": "Identity"}
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "pow": "Pow", "maximum": "Max",
           "minimum": "Min"}
_COMPARE = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater",
            "ge": "GreaterOrEqual", "ne": "Equal"}
_REDUCE = {"sum": "ReduceSum", "amax": "ReduceMax", "amin": "ReduceMin", "prod": "ReduceProd"}


def _float(c, k=0):
    return c.arg(k, c.out_dtype)


@converts(*_UNARY)
def unary(c):
    """Elementwise ops ONNX has under another name (Exp, Relu, Erf...)."""
    if c.name in ("floor", "ceil") and not backend.is_floating(c.out_dtype):
        return c.node("Identity", [c.x(0)])    # integers are already whole
    return c.node(_UNARY[c.name], [c.arg(0, c.dtype(0))])


@converts(*_BINARY)
def binary(c):
    """Add, Sub, Mul, Pow, Max, Min in the result dtype."""
    dt = c.out_dtype
    return c.node(_BINARY[c.name], [c.arg(0, dt), c.arg(1, dt)])


@converts("div")
def div(c):
    """Div; rounding_mode floor/trunc by Floor or by sign (integers: fixed up)."""
    dt = c.out_dtype
    a, b = c.arg(0, dt), c.arg(1, dt)
    q = c.node("Div", [a, b])
    mode = c.param("rounding_mode") if "rounding_mode" in c.params else None
    if mode is None:
        return q
    if backend.is_floating(dt):
        return c.node("Floor", [q]) if mode == "floor" else _trunc(c, q)
    if mode == "trunc":           # ONNX's integer Div truncates
        return q
    return _floor_fix(c, a, b, q)


def _floor_fix(c, a, b, q):
    """Floor division of integers from the truncated quotient: one less where the remainder
    is non-zero and its sign differs from the divisor's."""
    r = c.node("Sub", [a, c.node("Mul", [q, b])])
    off = _signs_differ(c, r, b)
    return c.node("Sub", [q, c.node("Cast", [off], to=c.b.onnx_type(c.out_dtype))])


def _signs_differ(c, r, b):
    """Where the remainder r is non-zero and its sign differs from the divisor b's (where a
    truncated quotient or fmod's remainder needs Python's floor fix-up)."""
    zero = c.b.const(0, c.out_dtype)
    return c.node("And", [c.node("Not", [c.node("Equal", [r, zero])]),
                          c.node("Xor", [c.node("Less", [r, zero]), c.node("Less", [b, zero])])])


@converts("floor_divide")
def floor_divide(c):
    """Floor(Div) for floats, the fixed-up integer Div otherwise."""
    dt = c.out_dtype
    a, b = c.arg(0, dt), c.arg(1, dt)
    q = c.node("Div", [a, b])
    return c.node("Floor", [q]) if backend.is_floating(dt) else _floor_fix(c, a, b, q)


@converts("fmod", "remainder")
def remainder(c):
    """fmod is Mod(fmod=1); remainder takes the divisor's sign (Python's)."""
    dt = c.out_dtype
    a, b = c.arg(0, dt), c.arg(1, dt)
    if c.name == "remainder" and not backend.is_floating(dt):
        return c.node("Mod", [a, b], fmod=0)   # Python's sign rule, integers only in ONNX
    r = c.node("Mod", [a, b], fmod=1)
    if c.name == "fmod":
        return r
    return c.node("Where", [_signs_differ(c, r, b), c.node("Add", [r, b]), r])


def _trunc(c, x):
    zero = c.b.const(0, c.out_dtype)
    return c.node("Where", [c.node("Less", [x, zero]), c.node("Ceil", [x]),
                            c.node("Floor", [x])])


@converts("trunc")
def trunc(c):
    """Toward zero: Ceil below 0, Floor above."""
    if not backend.is_floating(c.out_dtype):
        return c.node("Identity", [c.x(0)])
    return _trunc(c, c.x(0))


@converts("round")
def round_(c):
    """Round (half to even); with decimals, scaled by 10**decimals."""
    x = c.x(0)
    if not backend.is_floating(c.out_dtype):
        return c.node("Identity", [x])
    d = c.params.get("decimals", 0)
    if not d:
        return c.node("Round", [x])     # half to even, as NumPy and PyTorch
    s = c.b.const(10.0 ** d, c.out_dtype)
    return c.node("Div", [c.node("Round", [c.node("Mul", [x, s])]), s])


@converts("erfc", "expm1", "log1p", "log2", "log10", "exp2", "isfinite")
def composed(c):
    """Ops ONNX lacks, from ones it has (erfc = 1 - Erf, log2 = Log / ln 2...)."""
    dt = c.out_dtype
    if c.name == "isfinite":
        x = c.x(0)
        if not backend.is_floating(c.dtype(0)):    # integers are finite
            return c.node("Equal", [x, x])
        return c.node("Not", [c.node("Or", [c.node("IsNaN", [x]), c.node("IsInf", [x])])])
    x = _float(c)
    one = c.b.const(1, dt)
    if c.name == "erfc":
        return c.node("Sub", [one, c.node("Erf", [x])])
    if c.name == "expm1":
        return c.node("Sub", [c.node("Exp", [x]), one])
    if c.name == "log1p":
        return c.node("Log", [c.node("Add", [one, x])])
    if c.name == "exp2":
        return c.node("Pow", [c.b.const(2, dt), x])
    base = 2 if c.name == "log2" else 10
    return c.node("Div", [c.node("Log", [x]), c.b.const(math.log(base), dt)])


@converts("softplus")
def softplus(c):
    """y = log(1 + exp(beta x)) / beta, and x itself where beta x > threshold."""
    dt = c.out_dtype
    x = _float(c)
    beta, thr = c.params.get("beta", 1.0), c.params.get("threshold", 20.0)
    bx = x if beta == 1 else c.node("Mul", [x, c.b.const(beta, dt)])
    sp = c.node("Softplus", [bx])
    if beta != 1:
        sp = c.node("Div", [sp, c.b.const(beta, dt)])
    return c.node("Where", [c.node("Greater", [bx, c.b.const(thr, dt)]), x, sp])


@converts("logaddexp")
def logaddexp(c):
    """max(a, b) + log1p(exp(-|a - b|)), the stable form."""
    dt = c.out_dtype
    a, b = c.arg(0, dt), c.arg(1, dt)
    m = c.node("Max", [a, b])
    d = c.node("Neg", [c.node("Abs", [c.node("Sub", [a, b])])])
    return c.node("Add", [m, c.node("Log", [c.node("Add", [c.b.const(1, dt),
                                                         c.node("Exp", [d])])])])


def _common(c):
    """The dtype a comparison computes in: the tensors' promoted dtype, float32 when a float
    number meets integers."""
    dts = [c.dtype(k) for k in range(c.n_args) if not c.is_lit(k)]
    dt = dts[0]
    for d in dts[1:]:
        dt = backend.promote_types(dt, d)
    lits = [c.lit(k) for k in range(c.n_args) if c.is_lit(k)]
    if any(isinstance(v, float) for v in lits) and not backend.is_floating(dt):
        dt = backend.DEFAULT_FLOAT
    if dt == backend.bool_ and any(type(v) is int for v in lits):
        dt = backend.int64
    return dt


@converts(*_COMPARE)
def compare(c):
    """Equal, Less... in the promoted dtype; ne is Not(Equal)."""
    dt = _common(c)
    out = c.node(_COMPARE[c.name], [c.arg(0, dt), c.arg(1, dt)])
    return c.node("Not", [out]) if c.name == "ne" else out


@converts("where")
def where(c):
    """Where(cond, a, b) with a and b in the result dtype."""
    dt = c.out_dtype
    return c.node("Where", [c.arg(0, backend.bool_), c.arg(1, dt), c.arg(2, dt)])


@converts("clamp")
def clamp(c):
    """min(max(x, lo), hi) (hi wins where lo > hi, as NumPy and PyTorch)."""
    dt = c.out_dtype
    out = c.arg(0, dt)
    for k, op in ((1, "Max"), (2, "Min")):
        if not (c.is_lit(k) and c.lit(k) is None):
            out = c.node(op, [out, c.arg(k, dt)])
    return out


@converts("to")
def cast(c):
    """Cast to the dtype the op made."""
    return c.node("Cast", [c.x(0)], to=c.b.onnx_type(c.param("dtype")))


@converts("nan_to_num")
def nan_to_num(c):
    """NaN, +inf and -inf replaced by Where."""
    dt = c.out_dtype
    x = c.x(0)
    if not backend.is_floating(dt):
        return c.node("Identity", [x])
    info = backend.xp.finfo(dt)
    p = c.params
    big = p.get("posinf") if p.get("posinf") is not None else info.max.item()
    small = p.get("neginf") if p.get("neginf") is not None else info.min.item()
    zero = c.b.const(0, dt)
    out = c.node("Where", [c.node("IsNaN", [x]), c.b.const(p.get("nan", 0.0), dt), x])
    out = c.node("Where", [c.node("And", [c.node("IsInf", [x]), c.node("Greater", [x, zero])]),
                           c.b.const(big, dt), out])
    return c.node("Where", [c.node("And", [c.node("IsInf", [x]), c.node("Less", [x, zero])]),
                            c.b.const(small, dt), out])


# -- reductions -----------------------------------------------------------------------------
def _axes(c):
    dims = c.param("dims")
    if dims is None:
        return None
    return [dims] if isinstance(dims, int) else list(dims)


@converts(*_REDUCE)
def reduce(c):
    """ReduceSum/Max/Min/Prod over the dims (booleans summed as counts)."""
    x = c.x(0)
    if c.dtype(0) == backend.bool_:       # a sum of booleans counts them
        x = c.b.cast(x, c.out_dtype)
    axes = _axes(c)
    if axes == []:
        return c.node("Identity", [x])
    return c.b.reduce(_REDUCE[c.name], x, axes, c.param("keepdim"))


@converts("max_shift")
def max_shift(c):
    """max over dims (kept), 0 where that max is not finite."""
    m = c.b.reduce("ReduceMax", c.x(0), _axes(c), True)
    bad = c.node("Or", [c.node("IsNaN", [m]), c.node("IsInf", [m])])
    return c.node("Where", [bad, c.b.const(0, c.out_dtype), m])


@converts("all", "any")
def all_any(c):
    """ReduceMin/ReduceMax of the truth values as int32."""
    x = c.x(0)
    if c.dtype(0) != backend.bool_:
        x = c.node("Not", [c.node("Equal", [x, c.b.const(0, c.dtype(0))])])
    op = "ReduceMin" if c.name == "all" else "ReduceMax"
    out = c.b.reduce(op, c.b.cast(x, backend.int32), _axes(c), c.param("keepdim"))
    return c.b.cast(out, backend.bool_)


@converts("argmax", "argmin")
def argmax(c):
    """ArgMax/ArgMin (first index on ties, as NumPy and PyTorch)."""
    x, dim = c.x(0), c.param("dim")
    if dim is None:
        x, dim = c.node("Reshape", [x, c.b.ints([-1])]), 0
    op = "ArgMax" if c.name == "argmax" else "ArgMin"
    return c.node(op, [x], axis=dim, keepdims=int(bool(c.param("keepdim"))))


@converts("vector_norm")
def vector_norm(c):
    """ReduceL2/ReduceL1, Max/Min of Abs for +-inf, else (sum |x|**p)**(1/p)."""
    x, p, axes, keep = c.x(0), c.param("p"), _axes(c), c.param("keepdim")
    dt = c.out_dtype
    if p == 2:
        return c.b.reduce("ReduceL2", x, axes, keep)
    if p == 1:
        return c.b.reduce("ReduceL1", x, axes, keep)
    if p in (math.inf, -math.inf):
        return c.b.reduce("ReduceMax" if p > 0 else "ReduceMin", c.node("Abs", [x]), axes, keep)
    if p == 0:
        nz = c.b.cast(c.node("Not", [c.node("Equal", [x, c.b.const(0, dt)])]), dt)
        return c.b.reduce("ReduceSum", nz, axes, keep)
    s = c.b.reduce("ReduceSum", c.node("Pow", [c.node("Abs", [x]), c.b.const(p, dt)]), axes, keep)
    return c.node("Pow", [s, c.b.const(1.0 / p, dt)])


@converts("cumsum")
def cumsum(c):
    """CumSum along dim (reverse for the reversed cumulative sums)."""
    rev = int(bool(c.params.get("reverse", False)))
    return c.node("CumSum", [c.x(0), c.b.const(c.param("dim"), backend.int64)], reverse=rev)
