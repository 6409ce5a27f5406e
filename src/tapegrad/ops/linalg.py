"""Matrix products. ``matmul`` is the primitive; the 1-d cases are handled by giving the
vector a unit dimension so one rule covers every case."""
from .. import backend
from ..core.function import Function, primitive, composite
from ._util import Sample, sum_to
from .shape import unsqueeze, squeeze, transpose

xp = backend.xp


def _matmul_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 3)), r((3, 4))]), Sample([r((3,)), r((3, 4))]),
            Sample([r((2, 3)), r((3,))]), Sample([r((3,)), r((3,))]),
            Sample([r((2, 2, 3)), r((3, 4))]), Sample([r((2, 1, 2, 3)), r((3, 3, 2))]),
            Sample([r((0, 3)), r((3, 2))])]


@primitive("matmul", method=True, dunders=("__matmul__",), rdunders=("__rmatmul__",),
           samples=_matmul_samples)
class Matmul(Function):
    """y = a @ b (NumPy's matmul: batched, broadcasting, 1-d operands allowed);
    dy/da = g @ b^T, dy/db = a^T @ g, summed back over broadcast batch dims."""

    promote = True
    save_inputs = True

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                               f"{list(a.shape)} and {list(b.shape)}")
        try:
            return a @ b
        except ValueError:
            raise RuntimeError(f"matmul: shapes {list(a.shape)} and {list(b.shape)} cannot be "
                               f"multiplied (inner sizes {a.shape[-1]} and "
                               f"{b.shape[-2] if b.ndim > 1 else b.shape[0]} differ)") from None

    @staticmethod
    def vjp(ctx, g):
        a, b = ctx.inputs
        na, nb = ctx.needs_input_grad
        a2 = unsqueeze(a, 0) if a.ndim == 1 else a
        b2 = unsqueeze(b, -1) if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:
            g2 = unsqueeze(g2, -1)
        if a.ndim == 1:
            g2 = unsqueeze(g2, -2)
        ga = gb = None
        if na:
            ga = g2 @ transpose(b2, -1, -2)
            ga = squeeze(ga, -2) if a.ndim == 1 else ga
            ga = sum_to(ga, a.shape)
        if nb:
            gb = transpose(a2, -1, -2) @ g2
            gb = squeeze(gb, -1) if b.ndim == 1 else gb
            gb = sum_to(gb, b.shape)
        return ga, gb

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.inputs
        out = None if ta is None else ta @ b
        if tb is not None:
            out = a @ tb if out is None else out + a @ tb
        return out


@composite("mm", method=True)
def mm(a, b):
    """Matrix product of two 2-d tensors."""
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {list(a.shape)} and "
                           f"{list(b.shape)}")
    return Matmul.apply(a, b)
