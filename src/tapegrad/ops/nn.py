"""Activations as ops: relu and sigmoid are primitives for stability, softmax is a
composite whose max-shift keeps it finite for any logits."""
from .. import backend
from ..backend import kernels, threads
from ..core.function import Function
from ..core.registry import primitive, composite, elementwise_jvp
from ._util import Sample, unary_samples, pick_dim
from .elementwise import as_float, OutputGrad
from .reduce import amax, sum


@primitive("relu", method=True, samples=unary_samples(avoid=(0.0,)))
class Relu(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0 (0 at the kink, as PyTorch).
    Primitive because the composite x * (x > 0) gives NaN at x = -inf."""

    array_vjp = True
    save_output = True

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        kernel = kernels.pick("relu", x)
        if kernel is not None:
            out = xp.empty_like(x)   # x's memory layout, so both are one flat run alike
            runs = kernels.flat(x, out)
            if runs:
                kernel(*runs)
                return out
        if x.nbytes >= threads.PARALLEL_BYTES and xp is backend.xp and x.dtype.kind == "f":
            return threads.ufunc(xp.maximum, xp.empty_like(x), x, 0)
        return xp.maximum(x, 0)

    @staticmethod
    def vjp(ctx, g):
        return ReluGrad.apply(g, ctx.output)

    jvp = elementwise_jvp


@primitive("relu_grad", public=False)
class ReluGrad(Function):
    """u = g * [y > 0] with y = relu(x) (relu's VJP, PyTorch's threshold_backward).
    Linear in g: du/dg^T w = relu_grad(w, y); constant in y (its derivative is 0 wherever
    it exists). Primitive for speed: one buffer and two passes (the 0/1 mask is written
    straight into the output, then multiplied by g in place), where g * mask would build
    a bool mask, a float copy of it, and then the product."""

    save_inputs = True

    @staticmethod
    def forward(ctx, g, y):
        # y's memory layout (e.g. a convolution's channel-major buffer), so the ops after
        # this one read it as contiguously as the forward did
        xp = ctx.xp
        out = xp.empty_like(y, dtype=g.dtype)
        kernel = kernels.pick("relu_grad", g, y)
        runs = kernel and kernels.flat(g, y, out)
        if runs:
            kernel(*runs)
            return out
        if y.nbytes >= threads.PARALLEL_BYTES and xp is backend.xp:
            return threads.ufunc(_relu_grad, out, g, y)
        return _relu_grad(g, y, out=out)

    @staticmethod
    def vjp(ctx, w):
        return ReluGrad.apply(w, ctx.inputs[1]), None

    @staticmethod
    def jvp(ctx, tg, ty):
        return None if tg is None else ReluGrad.apply(tg, ctx.inputs[1])


def _relu_grad(g, y, out):
    xp = backend.xp if type(y) is backend.ndarray else backend.array_module(y)
    xp.greater(y, 0, out=out)
    out *= g
    return out


@primitive("sigmoid", method=True, samples=unary_samples(-4.0, 4.0))
class Sigmoid(Function):
    """y = 1 / (1 + exp(-x));  dy/dx = y * (1 - y).
    Primitive for stability: it never evaluates exp of a large positive number."""

    array_vjp = True
    save_output = True

    @staticmethod
    def forward(ctx, x):
        x = as_float(x)
        e = ctx.xp.exp(-ctx.xp.abs(x))
        return ctx.xp.where(x >= 0, 1 / (1 + e), e / (1 + e))

    @staticmethod
    def vjp(ctx, g):
        return SigmoidGrad.apply(g, ctx.output)

    jvp = elementwise_jvp


@primitive("sigmoid_grad", public=False)
class SigmoidGrad(OutputGrad):
    """sigmoid's VJP: slope y (1 - y), curvature 1 - 2y."""

    @staticmethod
    def slope(xp, y):
        out = xp.subtract(1, y, out=xp.empty(y.shape, y.dtype))
        out *= y
        return out

    @staticmethod
    def curvature(y):
        return 1 - 2 * y


def _softmax_samples(rng):
    return [Sample([rng.standard_normal((2, 3))], {"dim": -1}),
            Sample([rng.standard_normal((2, 3))], {"dim": 0}),
            Sample([rng.standard_normal((4,))], {"dim": 0})]


@composite("softmax", method=True, samples=_softmax_samples)
def softmax(x, dim=-1, dtype=None, *, axis=None):
    """exp(x) / sum(exp(x)) along ``dim``, shifted by the max so it never overflows (the shift
    is a constant, so the gradient is unchanged)."""
    dim = pick_dim(dim, axis, -1)
    if dtype is not None:
        x = x.to(dtype)
    x = x if backend.is_floating(x.dtype) else x.float()
    if x.numel() == 0:
        return x * 1.0  # nothing to normalise (amax refuses empty slices)
    e = (x - amax(x.detach(), dim, keepdim=True)).exp()
    return e / sum(e, dim, keepdim=True)
