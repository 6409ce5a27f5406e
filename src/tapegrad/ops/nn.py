"""Activations as ops: relu and sigmoid are primitives for stability, softmax is a
composite whose max-shift keeps it finite for any logits."""
from .. import backend
from ..core.function import Function, primitive, composite, elementwise_jvp
from ..core.tensor import _make
from ._util import Sample, unary_samples, pick_dim
from .elementwise import as_float
from .reduce import amax, sum

xp = backend.xp


@primitive("relu", method=True, samples=unary_samples(avoid=(0.0,)))
class Relu(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0 (0 at the kink, as PyTorch).
    Primitive because the composite x * (x > 0) gives NaN at x = -inf."""

    save_output = True

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.maximum(x, 0)

    @staticmethod
    def vjp(ctx, g):
        y = ctx.output
        return g * _make((y._data > 0).astype(g.dtype))

    jvp = elementwise_jvp


@primitive("sigmoid", method=True, samples=unary_samples(-4.0, 4.0))
class Sigmoid(Function):
    """y = 1 / (1 + exp(-x));  dy/dx = y * (1 - y).
    Primitive for stability: it never evaluates exp of a large positive number."""

    save_output = True

    @staticmethod
    def forward(ctx, x):
        x = as_float(x)
        e = ctx.xp.exp(-ctx.xp.abs(x))
        return ctx.xp.where(x >= 0, 1 / (1 + e), e / (1 + e))

    @staticmethod
    def vjp(ctx, g):
        y = ctx.output
        return g * (y * (1 - y))

    jvp = elementwise_jvp


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
    x = x if x.dtype.kind == "f" else x.float()
    if x.numel() == 0:
        return x * 1.0  # nothing to normalise (amax refuses empty slices)
    e = (x - amax(x.detach(), dim, keepdim=True)).exp()
    return e / sum(e, dim, keepdim=True)
