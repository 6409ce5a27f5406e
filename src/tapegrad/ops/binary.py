"""More binary elementwise ops, PyTorch's names: rsub, float_power, fmax/fmin,
logaddexp2, special.xlog1py. All composites of existing ops (their gradients, of every
order and in both modes, come from those ops' rules)."""
import math as _m

from .. import backend
from ..core.function import promote_args
from ..core.registry import composite
from ..core.tensor import Tensor
from ._util import Sample, binary_samples, const_like
from .elementwise import where
from .math import LogAddExp, Log1p, IsNan

LN2 = _m.log(2.0)


def _tensor_first(op, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")


def _check_alpha(op, alpha, *operands):
    if isinstance(alpha, float) and all(
            not isinstance(v, float) and (not isinstance(v, Tensor) or v.dtype.kind in "iub")
            for v in operands):
        raise RuntimeError(f"{op}(): for integral input tensors, argument alpha must not be a "
                           f"floating point number (got alpha={alpha})")


@composite("rsub", samples=lambda rng: binary_samples()(rng) + [
    Sample([rng.standard_normal((2, 3)), rng.standard_normal((3,))], {"alpha": 2.5},
           name="alpha")])
def rsub(input, other, *, alpha=1):
    """other - alpha * input (subtraction with the operands reversed);
    d/dinput = -alpha, d/dother = 1.

    Raises: TypeError when input is not a tensor; RuntimeError for a float alpha with
    integer operands."""
    _tensor_first("rsub", input)
    _check_alpha("rsub", alpha, input, other)
    return other - (input if alpha == 1 else alpha * input)


def _double(v):
    if isinstance(v, Tensor):
        return v if v.dtype == backend.float64 else v.to(backend.float64)
    return float(v)


@composite("float_power", method=True)
def float_power(input, exponent):
    """input ** exponent computed in float64 whatever the inputs' dtypes (PyTorch's
    float_power); the gradients are pow's, cast back to each input's dtype. Either argument
    may be a Python number, not both. No registry samples: the op's float64 result breaks
    the registry's same-dtype invariant; tests/test_ops_round2.py checks it against torch."""
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        raise TypeError("float_power(): expected at least one tensor argument, got "
                        f"{type(input).__name__} and {type(exponent).__name__}")
    return _double(input) ** _double(exponent)


def _fmaxmin_samples(rng):
    a = rng.standard_normal((2, 3))
    b = rng.standard_normal((3,))
    a[0, 1] = b[2] = float("nan")
    return binary_samples()(rng)[:-1] + [Sample([a, b], name="nan")]


def _select(input, other, keep, op):
    """input where keep(input, other) holds or other is NaN, else other (broadcast)."""
    _tensor_first(op, input)
    if not isinstance(other, Tensor):
        other = const_like(other, input, input.dtype if backend.is_floating(input.dtype) else None)
    input, other = promote_args((input, other))
    return where(where(IsNan.apply(other), True, keep(input, other)), input, other)


@composite("fmax", method=True, samples=_fmaxmin_samples)
def fmax(input, other):
    """max(a, b) elementwise, ignoring NaN: where one side is NaN the other is the result
    (NaN only where both are). The gradient is selected as PyTorch's: all of it to ``input``
    where input >= other or other is NaN, else to ``other`` (ties go to input, not split as
    in ``maximum``)."""
    return _select(input, other, lambda a, b: a >= b, "fmax")


@composite("fmin", method=True, samples=_fmaxmin_samples)
def fmin(input, other):
    """min(a, b) elementwise, ignoring NaN (see fmax; ties give input the gradient)."""
    return _select(input, other, lambda a, b: a <= b, "fmin")


@composite("logaddexp2", method=True, samples=binary_samples())
def logaddexp2(input, other):
    """log2(2**a + 2**b) = logaddexp(a ln2, b ln2) / ln2 (stable for any a, b);
    d/da = 2**a / (2**a + 2**b)."""
    return LogAddExp.apply(input * LN2, other * LN2) / LN2


@composite("special.xlog1py", samples=lambda rng: binary_samples(-0.5, 2.0)(rng) + [
    Sample([backend.asarray([0.0, 1.5, 0.0]), rng.uniform(-0.5, 2.0, (3,))], name="zeros",
           kink=True)])
def xlog1py(input, other):
    """x * log1p(y), and 0 where x == 0 (unless y is NaN); d/dx = log1p(y), d/dy = x/(1+y).
    Where x == 0 and y <= -1 or y = inf, y is replaced by 0 first, so no NaN or inf reaches
    either gradient (PyTorch's gradient is NaN for y there; as tapegrad's xlogy)."""
    x, y = input, other
    if not isinstance(x, Tensor):
        x = const_like(float(x), y, y.dtype if backend.is_floating(y.dtype) else None)
    if not isinstance(y, Tensor):
        y = const_like(float(y), x, x.dtype if backend.is_floating(x.dtype) else None)
    x, y = (v if backend.is_floating(v.dtype) else v.float() for v in (x, y))
    x, y = promote_args((x, y))
    bad = where(x == 0, where(y <= -1, True, y == float("inf")), False)
    return x * Log1p.apply(where(bad, 0.0, y))
