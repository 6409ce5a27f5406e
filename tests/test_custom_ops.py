"""User-defined ops: tg.autograd.Function (PyTorch style) and the seed's CustomOp, at first
and second order, with the engine's checks (reliability cases 41, 45)."""
import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.autograd import Function, gradcheck, gradgradcheck, once_differentiable


class Log1pExp(Function):
    """softplus with a custom, stable gradient (the reliability cases' tutorial example)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return tg.logaddexp(tg.zeros_like(x), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.sigmoid()

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * x.sigmoid()


def test_custom_function_first_and_second_order():
    x = tg.tensor([-1000.0, -2.0, 0.5, 100.0, 1000.0], dtype=tg.float64, requires_grad=True)
    y = Log1pExp.apply(x)
    (g,) = tg.grad(y.sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.numpy(), 1 / (1 + np.exp(-np.clip(x.numpy(), -700, 700))),
                               atol=1e-300)
    assert np.isfinite(g.numpy()).all()  # the naive log(1 + exp(x)) gives NaN at x = 1000
    (h,) = tg.grad(g.sum(), [x])
    s = g.numpy()
    np.testing.assert_allclose(h.numpy(), s * (1 - s), atol=1e-12)
    small = tg.tensor([-1.0, 0.3, 2.0], dtype=tg.float64, requires_grad=True)
    assert gradcheck(Log1pExp.apply, [small]) and gradgradcheck(Log1pExp.apply, [small])


def test_custom_function_forward_mode_uses_its_jvp():
    x = tg.tensor([0.5, 2.0], dtype=tg.float64)
    _, t = tg.func.jvp(Log1pExp.apply, (x,), (tg.ones(2, dtype=tg.float64),))
    np.testing.assert_allclose(t.numpy(), 1 / (1 + np.exp(-x.numpy())))


def test_needs_input_grad_and_non_differentiable_outputs():
    seen = {}

    class Scale(Function):
        @staticmethod
        def forward(ctx, x, w):
            seen["needs"] = ctx.needs_input_grad
            ctx.save_for_backward(x, w)
            idx = x.argmax()
            ctx.mark_non_differentiable(idx)
            return x * w, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            x, w = ctx.saved_tensors
            assert (g_idx.numpy() == 0).all()
            return (g * w if ctx.needs_input_grad[0] else None), (g * x).sum()

    x = tg.tensor([1.0, 3.0, 2.0])
    w = tg.tensor(2.0, requires_grad=True)
    y, idx = Scale.apply(x, w)
    assert seen["needs"] == (False, True) and idx.item() == 1 and not idx.requires_grad
    y.sum().backward()
    assert w.grad.item() == 6.0


def test_multi_output_function_matches_torch():
    class SinCos(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin(), x.cos()

        @staticmethod
        def backward(ctx, gs, gc):
            (x,) = ctx.saved_tensors
            return gs * x.cos() - gc * x.sin()

    data = np.array([0.3, 1.1, -0.7])
    x = tg.tensor(data, requires_grad=True)
    s, c = SinCos.apply(x)
    (s * 3 + c * c).sum().backward()
    t = torch.tensor(data, requires_grad=True)
    (t.sin() * 3 + t.cos() ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())
    x64 = tg.tensor(data, requires_grad=True)
    assert gradgradcheck(lambda v: SinCos.apply(v), [x64])


def test_case41_wrong_number_or_shape_of_gradients():
    class TooFew(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return (g,)

    class WrongShape(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum()

    a, b = tg.ones(3, requires_grad=True), tg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"'TooFew' returned an incorrect number of "
                                           r"gradients \(expected 2, got 1\)"):
        TooFew.apply(a, b).sum().backward()
    with pytest.raises(RuntimeError, match=r"'WrongShape' returned an invalid gradient at "
                                           r"index 0 - got \[\] but expected shape \[3\]"):
        WrongShape.apply(a).sum().backward()
    assert a.grad is None  # nothing half-applied


def test_case45_once_differentiable_refuses_double_backward():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    x = tg.tensor([2.0], requires_grad=True)
    (g,) = tg.grad(Cube.apply(x).sum(), [x])
    assert g.item() == 12.0
    (g2,) = tg.grad(Cube.apply(x).sum(), [x], create_graph=True)  # fine until used
    assert g2.item() == 12.0
    with pytest.raises(NotImplementedError, match="'Cube' is once_differentiable"):
        tg.grad(g2.sum(), [x])


def test_seed_custom_op_clip_gradient():
    class ClipGradient(tg.CustomOp):
        def forward(self, inputs):
            return inputs[0].clone()

        def backward(self, grad_output, inputs):
            return [grad_output.clamp(-1.0, 1.0)]

    tape = tg.GradientTape()
    x = tape.variable(tg.tensor([1.0, 2.0]))
    y = tape.custom_op(ClipGradient(), [x])
    (g,) = tape.gradient((y * 5).sum(), [x])
    assert g.tolist() == [1.0, 1.0]
    z = ClipGradient()(x)  # op(x) form
    (z * -0.5).sum().backward()
    assert x.grad.tolist() == [-0.5, -0.5]


def test_seed_custom_op_errors_name_the_op():
    class Twice(tg.CustomOp):
        def forward(self, inputs):
            return inputs[0] * 2

        def backward(self, grad_output, inputs):
            return [grad_output * 2, grad_output]

    with pytest.raises(RuntimeError, match=r"custom op 'Twice'.*expected 1"):
        Twice()(tg.ones(2, requires_grad=True)).sum().backward()
