"""Elementwise arithmetic and math. Binary ops broadcast, follow PyTorch's type promotion,
and end their VJP with ``sum_to`` so each gradient has its input's shape."""
import operator

from .. import backend
from ..core.function import Function, zeros_like
from ..core.registry import primitive, composite, elementwise_jvp, linear_jvp
from ..core.tensor import Tensor, _make
from ._util import sum_to, unary_samples, binary_samples, Sample, xp_of, check_numbers


def as_float(x):
    """Integer and bool arrays become the default float dtype (PyTorch's rule for math ops)."""
    return x if x.dtype.kind in "fV" else x.astype(backend.DEFAULT_FLOAT)  # V: bfloat16


def const(arr):
    """A constant tensor (no graph) around an array computed inside a rule."""
    return _make(arr)


def _shape(x):
    return getattr(x, "shape", ())


@primitive("add", method=True, dunders=("__add__", "__radd__"), samples=binary_samples())
class Add(Function):
    """y = a + b;  dy/da = 1, dy/db = 1 (summed back over broadcast dims)."""

    array_vjp = True
    promote = True

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def vjp(ctx, g):  # input shapes from the producers (no producer: no gradient needed)
        na, nb = ctx.next
        return (sum_to(g, na.shape) if na is not None else None,
                sum_to(g, nb.shape) if nb is not None else None)

    jvp = linear_jvp


@primitive("sub", method=True, dunders=("__sub__",), rdunders=("__rsub__",),
           aliases=("subtract",), samples=binary_samples())
class Sub(Function):
    """y = a - b;  dy/da = 1, dy/db = -1."""

    array_vjp = True
    promote = True

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def vjp(ctx, g):  # input shapes from the producers (no producer: no gradient needed)
        na, nb = ctx.next
        return (sum_to(g, na.shape) if na is not None else None,
                sum_to(-g, nb.shape) if nb is not None else None)

    jvp = linear_jvp


@primitive("mul", method=True, dunders=("__mul__", "__rmul__"), aliases=("multiply",),
           samples=binary_samples())
class Mul(Function):
    """y = a * b;  dy/da = b, dy/db = a."""

    array_vjp = True
    promote = True
    save_inputs = True
    saves = ((1,), (0,))

    @staticmethod
    def forward(ctx, a, b):
        return a * b

    @staticmethod
    def vjp(ctx, g):
        a, b = ctx.inputs
        na, nb = ctx.needs_input_grad
        return (sum_to(g * b, _shape(a)) if na else None,
                sum_to(g * a, _shape(b)) if nb else None)

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.inputs
        out = None if ta is None else ta * b
        if tb is not None:
            out = a * tb if out is None else out + a * tb
        return out


@primitive("div", method=True, dunders=("__truediv__",), rdunders=("__rtruediv__",),
           aliases=("divide", "true_divide"),
           samples=binary_samples(low2=0.5, high2=2.0, scalars=(2.5,)))
class Div(Function):
    """y = a / b;  dy/da = 1/b, dy/db = -a/b**2 = -y/b. With ``rounding_mode`` "trunc" or
    "floor" the quotient is rounded toward zero or down (integers stay integers), and the
    gradient is zero, as in PyTorch."""

    array_vjp = True
    promote = True
    save_inputs = True
    saves = ((1,), (0, 1))

    @staticmethod
    def forward(ctx, a, b, rounding_mode=None):
        if rounding_mode is not None:
            return _rounded_div(ctx.xp, a, b, rounding_mode)
        out = ctx.xp.true_divide(a, b)
        if out.dtype == backend.float64 and all(
                not backend.is_floating(getattr(v, "dtype", backend.int64))
                and not isinstance(v, float)
                for v in (a, b)):
            out = out.astype(backend.DEFAULT_FLOAT)  # int / int gives the default float
        return out

    @staticmethod
    def vjp(ctx, g):
        a, b = ctx.inputs
        na, nb = ctx.needs_input_grad
        if ctx.params:            # rounded: a step function of both inputs
            z = zeros_like(g)
            return (sum_to(z, _shape(a)) if na else None), (sum_to(z, _shape(b)) if nb else None)
        ga = sum_to(g / b, _shape(a)) if na else None
        gb = sum_to(-g * a / (b * b), _shape(b)) if nb else None
        return ga, gb

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.inputs
        if ctx.params:
            return None
        out = None if ta is None else ta / b
        if tb is not None:
            d = -tb * a / (b * b)
            out = d if out is None else out + d
        return out


def _alpha_samples(rng):
    return binary_samples()(rng) + [
        Sample([rng.standard_normal((2, 3)), rng.standard_normal((3,))], {"alpha": 2.5}),
        Sample([rng.standard_normal((2, 3)), 1.5], {"alpha": -2})]


def _scaled(other, alpha):
    return other if alpha == 1 else (other * alpha if not isinstance(other, Tensor) else
                                     Mul.apply(other, alpha))


@composite("add", method=True, samples=_alpha_samples)
def add(input, other, *, alpha=1):
    """input + alpha * other, as PyTorch's ``add`` (``a + b`` runs the primitive directly)."""
    return Add.apply(input, _scaled(other, alpha))


@composite("sub", method=True, aliases=("subtract",), samples=_alpha_samples)
def sub(input, other, *, alpha=1):
    """input - alpha * other, as PyTorch's ``sub`` (``a - b`` runs the primitive directly)."""
    return Sub.apply(input, _scaled(other, alpha))


def _rounded_div(xp, a, b, mode):
    if mode == "floor":
        return xp.floor_divide(a, b)
    if mode != "trunc":
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                         f"but found '{mode}'")
    if all(v.dtype.kind in "iub" if hasattr(v, "dtype") else isinstance(v, int)
           for v in (a, b)):
        q = xp.floor_divide(a, b)                  # integers: floor, then toward zero
        return q + ((q < 0) & (q * b != a))
    return xp.trunc(xp.true_divide(a, b))


@primitive("neg", method=True, dunders=("__neg__",), aliases=("negative",),
           samples=unary_samples())
class Neg(Function):
    """y = -x;  dy/dx = -1."""

    array_vjp = True

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def vjp(ctx, g):
        return -g

    jvp = linear_jvp


@primitive("exp", method=True, samples=unary_samples())
class Exp(Function):
    """y = exp(x);  dy/dx = y."""

    array_vjp = True
    save_output = True

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.exp(as_float(x))

    @staticmethod
    def vjp(ctx, g):
        return g * ctx.output

    jvp = elementwise_jvp


@primitive("log", method=True, samples=unary_samples(0.2, 3.0))
class Log(Function):
    """y = log(x);  dy/dx = 1/x (inf at 0, as IEEE says)."""

    array_vjp = True
    save_inputs = True

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.log(as_float(x))

    @staticmethod
    def vjp(ctx, g):
        return g / ctx.inputs[0]

    jvp = elementwise_jvp


@primitive("sqrt", method=True, samples=unary_samples(0.2, 3.0))
class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1/(2y) (inf at 0, as IEEE says; use norm() for lengths)."""

    array_vjp = True
    save_output = True

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.sqrt(as_float(x))

    @staticmethod
    def vjp(ctx, g):
        return g / (2 * ctx.output)

    jvp = elementwise_jvp


@primitive("tanh", method=True, samples=unary_samples(-3.0, 3.0))
class Tanh(Function):
    """y = tanh(x);  dy/dx = 1 - y**2.
    Primitive because 2*sigmoid(2x) - 1 loses relative precision near 0."""

    array_vjp = True
    save_output = True

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.tanh(as_float(x))

    @staticmethod
    def vjp(ctx, g):
        return TanhGrad.apply(g, ctx.output)

    jvp = elementwise_jvp


class OutputGrad(Function):
    """u = g * slope(y): the VJP of an activation whose derivative is a function of its
    output y (tanh, sigmoid) as one op with one buffer (PyTorch's tanh_backward). Linear in
    g; du/dy = g * curvature(y). Subclasses define ``slope`` (on arrays, a new buffer) and
    ``curvature`` (in tensor ops)."""

    save_inputs = True

    @classmethod
    def forward(cls, ctx, g, y):
        out = cls.slope(ctx.xp, y)
        out *= g
        return out

    @classmethod
    def vjp(cls, ctx, w):
        g, y = ctx.inputs
        na, nb = ctx.needs_input_grad
        return (cls.apply(w, y) if na else None,
                w * g * cls.curvature(y) if nb else None)

    @classmethod
    def jvp(cls, ctx, tg, ty):
        g, y = ctx.inputs
        out = None if tg is None else cls.apply(tg, y)
        if ty is not None:
            d = g * cls.curvature(y) * ty
            out = d if out is None else out + d
        return out


@primitive("tanh_grad", public=False)
class TanhGrad(OutputGrad):
    """tanh's VJP: slope 1 - y**2, curvature -2y."""

    @staticmethod
    def slope(xp, y):
        out = xp.multiply(y, y, out=xp.empty(y.shape, y.dtype))
        return xp.subtract(1, out, out=out)

    @staticmethod
    def curvature(y):
        return y * -2


def zero_grad(g):
    """A zero gradient that is still connected to ``g`` (so a second-order pass sees a zero,
    not a missing graph, and tg.compile records it) and stays 0 where g is inf or NaN (it is
    selected, not g * 0)."""
    return where(xp_of(g).zeros(g.shape, dtype=backend.bool_), g, 0.0)


@primitive("sign", method=True, samples=unary_samples(avoid=(0.0,)))
class Sign(Function):
    """y = sign(x): -1, 0 or 1; piecewise constant, so dy/dx = 0 (a recorded zero, not an
    error, as PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.sign(x)

    @staticmethod
    def vjp(ctx, g):
        return zero_grad(g)

    @staticmethod
    def jvp(ctx, t):
        return zero_grad(t)


@primitive("abs", method=True, dunders=("__abs__",), aliases=("absolute",),
           samples=unary_samples(avoid=(0.0,)))
class Abs(Function):
    """y = |x|;  dy/dx = sign(x), and 0 at x = 0 (PyTorch's subgradient)."""

    array_vjp = True
    save_inputs = True

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.abs(x)

    @staticmethod
    def vjp(ctx, g):
        return g * Sign.apply(ctx.inputs[0])   # an op, so tg.compile records it

    jvp = elementwise_jvp


def _pow_samples(rng):
    return [Sample([rng.uniform(0.5, 2.0, (2, 3)), 3]),
            Sample([rng.uniform(0.5, 2.0, (3,)), 0.5]),
            Sample([rng.uniform(-2.0, 2.0, (3,)), 2]),
            Sample([rng.uniform(0.5, 2.0, (2, 3)), rng.uniform(-1.5, 1.5, (3,))]),
            Sample([rng.uniform(0.5, 2.0, ()), rng.uniform(-1.5, 1.5, (2,))]),
            Sample([2.0, rng.uniform(-1.5, 1.5, (2, 3))], name="rpow")]


@primitive("pow", method=True, dunders=("__pow__",), rdunders=("__rpow__",),
           samples=_pow_samples)
class Pow(Function):
    """y = a ** b;  dy/da = b * a**(b-1), dy/db = y * log(a).
    The exponent's gradient is 0 where a == 0 and b >= 0 (the limit), not NaN."""

    array_vjp = True
    promote = True
    save_inputs = True
    save_output = True

    @staticmethod
    def forward(ctx, a, b):
        try:
            return a ** b
        except ValueError:   # shapes that don't broadcast, or (NumPy refuses, as PyTorch
            ctx.xp.broadcast_shapes(_shape(a), _shape(b))    # does) an integer to b < 0
            raise RuntimeError("pow: Integers to negative integer powers are not "
                               "allowed.") from None

    @staticmethod
    def vjp(ctx, g):
        a, b = ctx.inputs
        na, nb = ctx.needs_input_grad
        return (_pow_grad_base(g, a, b) if na else None,
                _pow_grad_exp(g, a, b, ctx.output) if nb else None)

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.inputs
        out = None if ta is None else _pow_grad_base(ta, a, b, reduce=False)
        if tb is not None:
            d = _pow_grad_exp(tb, a, b, ctx.output, reduce=False)
            out = d if out is None else out + d
        return out


def _pow_grad_base(g, a, b, reduce=True):
    if isinstance(b, (int, float)):     # a Python number (tensors: arrays in array mode)
        if b == 0:
            return g * 0
        r = g * (2 * a) if b == 2 else g * (b * a ** (b - 1))
    else:
        r = where(b == 0, 0.0, g * (b * a ** (b - 1)))
    return sum_to(r, _shape(a)) if reduce else r


def _pow_grad_exp(g, a, b, y, reduce=True):
    if isinstance(a, (int, float)):
        r = g * (y * float(backend.xp.log(a)))   # a Python number: its log on the host
    else:
        r = g * (y * log(a))
        if not isinstance(b, (int, float)):   # 0 where a == 0 and b >= 0, nested selects
            r = where(a == 0, where(b >= 0, 0.0, r), r)
        elif b >= 0:
            r = where(a == 0, 0.0, r)
    return sum_to(r, _shape(b)) if reduce else r


def log(x):
    return Log.apply(x)


@primitive("where", public=False)
class Where(Function):
    """y = a where cond else b. The gradient is selected (never multiplied by a mask), so an
    inf/NaN gradient in the unselected branch does not leak into the other one."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        ctx.cond = cond
        return ctx.xp.where(cond, a, b)

    @staticmethod
    def vjp(ctx, g):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad[1:]
        cond = ctx.cond
        return (None, sum_to(where(cond, g, 0.0), sa) if na else None,
                sum_to(where(cond, 0.0, g), sb) if nb else None)

    @staticmethod
    def jvp(ctx, tc, ta, tb):
        return where(ctx.cond, 0.0 if ta is None else ta, 0.0 if tb is None else tb)


@composite("where", samples=lambda rng: [
    Sample([rng.uniform(-1, 1, (2, 3)) > 0, rng.standard_normal((2, 3)),
            rng.standard_normal((3,))]),
    Sample([rng.uniform(-1, 1, (3,)) > 0, rng.standard_normal((2, 3)), 0.5])])
def where(cond, a, b):
    """``a`` where ``cond`` is true, else ``b`` (broadcasting; gradients are selected)."""
    from ..core.function import promote_args
    a, b = promote_args((a, b), "where")
    if isinstance(cond, Tensor):
        cond = cond._data
        if cond.dtype != backend.bool_:
            cond = cond.astype(backend.bool_)
    else:   # Python data or an array: on the device of a and b
        check_numbers("where", condition=cond)
        cond = xp_of(a, b).asarray(cond, dtype=backend.bool_)
    return Where.apply(cond, a, b)


def _clamp_samples(rng):
    x = rng.uniform(-2, 2, (2, 3))
    x = x + 0.2 * (abs(abs(x) - 1) < 0.1)  # keep away from the bounds
    return [Sample([x], {"min": -1.0, "max": 1.0}), Sample([x], {"min": -1.0}),
            Sample([x], {"max": 1.0}),
            Sample([x, rng.uniform(-0.5, -0.3, (3,)), rng.uniform(0.3, 0.5, (2, 1))],
                   name="tensor bounds")]


@primitive("clamp", public=False)
class Clamp(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 strictly inside (lo, hi), 0 outside and at the
    bounds (tapegrad's boundary convention; PyTorch passes 1 at the bounds). A tensor
    bound gets the gradient where it is the result."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x, lo, hi):
        return ctx.xp.clip(x, lo, hi)

    @staticmethod
    def _weights(ctx, dt):
        """0/1 masks (inside, below, above) in dtype dt, made by comparison ops (no
        gradient) so that tg.compile records them; a product of masks is their logical and."""
        x, lo, hi = ctx.inputs
        inside = below = above = None
        if lo is not None:
            inside = (x > lo).to(dt)
            below = (x < lo).to(dt)
            if hi is not None:
                ok = lo < hi
                below = below * (ok.to(dt) if isinstance(ok, Tensor) else float(ok))
        if hi is not None:
            m = (x < hi).to(dt)
            inside = m if inside is None else inside * m
            above = (x > hi).to(dt)
            if lo is not None:   # min > max: every element is max (PyTorch's rule)
                crossed = lo > hi
                above = above.maximum(crossed.to(dt)) if isinstance(crossed, Tensor) else \
                    (1.0 + 0 * above if crossed else above)
        return [inside, below, above]

    @staticmethod
    def vjp(ctx, g):
        x, lo, hi = ctx.inputs
        ws = Clamp._weights(ctx, g.dtype)
        return tuple(sum_to(g * w, _shape(v)) if need else None
                     for v, w, need in zip((x, lo, hi), ws, ctx.needs_input_grad))

    @staticmethod
    def jvp(ctx, tx, tlo, thi):
        out = None
        for t, w in zip((tx, tlo, thi), Clamp._weights(ctx, ctx.dtype)):
            if t is not None and w is not None:
                out = t * w if out is None else out + t * w
        return out


@composite("clamp", method=True, aliases=("clip",), samples=_clamp_samples)
def clamp(x, min=None, max=None):
    """Clamp to [min, max] (either bound may be None; bounds may be tensors)."""
    from ..core.function import promote_args
    from ._util import broadcast_to, broadcast_shapes
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        x, min, max = promote_args((x, min, max))
        shape = broadcast_shapes("clamp", *(t.shape for t in (x, min, max)
                                             if isinstance(t, Tensor)))
        x = broadcast_to(x, shape)
    return Clamp.apply(x, min, max)


@composite("square", method=True, samples=unary_samples())
def square(x):
    """x * x."""
    return x * x


def _cmp(name, dunder, compare, doc):
    @primitive(name, method=True, dunders=(dunder,), samples=None)
    class Cmp(Function):
        __doc__ = doc          # in the body: @primitive copies it to tg.<name> and the method
        promote = True
        differentiable = False

        @staticmethod
        def forward(ctx, a, b):
            return compare(a, b)   # the arrays' own operator: any device
    Cmp.__name__ = Cmp.__qualname__ = name.capitalize()
    return Cmp


_CMP = (" elementwise, after broadcasting and type promotion: a bool tensor with no "
        "gradient.\n\nArgs:\n    a (Tensor or number): the left operand.\n"
        "    b (Tensor or number): the right operand.\n\n"
        "Raises:\n    tg.ShapeError: the shapes do not broadcast.")
Eq = _cmp("eq", "__eq__", operator.eq, "a == b," + _CMP)
Ne = _cmp("ne", "__ne__", operator.ne, "a != b," + _CMP)
Lt = _cmp("lt", "__lt__", operator.lt, "a < b," + _CMP)
Le = _cmp("le", "__le__", operator.le, "a <= b," + _CMP)
Gt = _cmp("gt", "__gt__", operator.gt, "a > b," + _CMP)
Ge = _cmp("ge", "__ge__", operator.ge, "a >= b," + _CMP)


def _maxmin_samples(rng):
    a = rng.standard_normal((2, 3))
    return [Sample([a, rng.standard_normal((3,))]), Sample([a, 0.1]),
            Sample([a, a.copy()], name="ties", kink=True)]


class _MaxMin(Function):
    promote = True
    save_inputs = True

    @classmethod
    def vjp(cls, ctx, g):
        a, b = ctx.inputs
        wa, wb = cls._weights(ctx, g.dtype)
        na, nb = ctx.needs_input_grad
        return (sum_to(g * wa, _shape(a)) if na else None,
                sum_to(g * wb, _shape(b)) if nb else None)

    @classmethod
    def _weights(cls, ctx, dt):
        a, b = ctx.inputs   # comparison ops (no gradient), so tg.compile records them
        win, tie = cls.wins(a, b), a == b   # a scalar side is reflected onto the tensor
        wa = win.to(dt) + 0.5 * tie.to(dt)
        return wa, 1.0 - wa

    @classmethod
    def jvp(cls, ctx, ta, tb):
        wa, wb = cls._weights(ctx, ctx.dtype)  # both have the output's shape
        if ta is None:
            return tb * wb
        return ta * wa if tb is None else ta * wa + tb * wb


@primitive("maximum", method=True, samples=_maxmin_samples)
class Maximum(_MaxMin):
    """y = max(a, b) elementwise; the gradient goes to the larger input, split 1/2 each on
    ties (so maximum(x, 0) at 0 gives 0.5, unlike relu; see the conventions table)."""

    @staticmethod
    def forward(ctx, a, b):
        return ctx.xp.maximum(a, b)

    wins = staticmethod(lambda a, b: a > b)


@primitive("minimum", method=True, samples=_maxmin_samples)
class Minimum(_MaxMin):
    """y = min(a, b) elementwise; ties split the gradient 1/2 each."""

    @staticmethod
    def forward(ctx, a, b):
        return ctx.xp.minimum(a, b)

    wins = staticmethod(lambda a, b: a < b)
