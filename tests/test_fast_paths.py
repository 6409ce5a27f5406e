"""The recorder's and the engine's fast paths give the same answers as the general ones:
gradient sums done on arrays, fused backward ops, the one-flag check of rare modes."""
import threading

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.core.modes import STATE

torch = pytest.importorskip("torch")


def test_array_sums_never_write_into_a_shared_gradient():
    # add's VJP hands the same gradient tensor to both inputs; the sum for `a` (three terms)
    # is done in place in a buffer the engine owns, which must not be that shared tensor
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([3.0, 4.0], requires_grad=True)
    h = a + b          # dh/da and dh/db are the same tensor inside backward
    y = (h + a + a * 2).sum()
    y.backward()
    np.testing.assert_array_equal(a.grad.numpy(), [4.0, 4.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])


def test_gradient_sums_match_torch_on_a_fan_out_graph():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((5, 3))
    x, xt = tg.tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)

    def f(x, lib):
        h = lib.tanh(x)
        return ((h * x + h) * h + x.sum(0) * h).sum()
    f(x, tg).backward()
    f(xt, torch).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_array_sums_keep_forward_mode_tangents():
    # forward over reverse needs the sums to be tensor ops (they carry the tangents)
    import tapegrad.forward_ad as fwAD
    x = tg.tensor([0.5, -1.0], dtype=tg.float64, requires_grad=True)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, tg.tensor([1.0, 0.0], dtype=tg.float64))
        (g,) = tg.grad((d * d + d * d * d).sum(), [x])   # g = 2x + 3x^2 (fan-in sums)
        tangent = fwAD.unpack_dual(g).tangent
    np.testing.assert_allclose(tangent.numpy(), [2 + 6 * 0.5, 0.0])


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_fused_backward_ops_are_differentiable_to_fourth_order(name):
    v = [0.3, -1.2, 2.0, 0.0]
    x = tg.tensor(v, dtype=tg.float64, requires_grad=True)
    xt = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    y, yt = getattr(x, name)().sum(), getattr(xt, name)().sum()
    for order in range(1, 5):
        (g,) = tg.grad(y, [x], create_graph=True)
        (gt,) = torch.autograd.grad(yt, [xt], create_graph=True)
        np.testing.assert_allclose(g.numpy(), gt.detach().numpy(), rtol=1e-12, atol=1e-15,
                                   err_msg=f"order {order}")
        y, yt = (g * g).sum(), (gt * gt).sum()   # mixes the gradient and its input


def test_the_special_flag_follows_each_mode_and_each_thread():
    assert not STATE.special
    with tg.GradientTape():
        assert STATE.special
    assert not STATE.special
    with tg.autograd.detect_anomaly():
        seen = []
        t = threading.Thread(target=lambda: seen.append(STATE.special))
        t.start()
        t.join()
        assert STATE.special and seen == [False]
    assert not STATE.special


def test_array_level_backward_is_per_thread():
    """While one thread's backward runs a VJP rule on arrays, another thread's ops still
    take and return tensors (and record): the array mode is thread-local."""
    inside, release, seen = threading.Event(), threading.Event(), []

    class Waits(tg.autograd.Function):
        array_vjp = True

        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def vjp(ctx, g):
            seen.append(("rule", type(g).__name__, STATE.arrays))
            inside.set()
            release.wait(10)
            return g * 2

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = Waits.apply(x).sum()
    t = threading.Thread(target=y.backward)
    t.start()
    assert inside.wait(10)
    a = tg.tensor([3.0], requires_grad=True)
    out = a * a      # in this thread, during the other thread's array-level rule
    arr = tg.exp(np.zeros(2))   # an array argument: wrapped, as outside any backward
    seen.append(("other", type(out).__name__, type(arr).__name__, STATE.arrays,
                 out.grad_fn is not None))
    release.set()
    t.join(10)
    assert seen == [("rule", "ndarray", True), ("other", "Tensor", "Tensor", False, True)]
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_forward_without_recording_drops_what_it_would_save():
    x = tg.tensor([1.0, -2.0])
    with tg.no_grad():
        y = x.to(tg.float64)   # the cast's forward stores the input dtype on its ctx
    assert y.grad_fn is None and y.dtype == tg.float64
    z = tg.tensor([1.0, -2.0], requires_grad=True).to(tg.float64)
    assert z.grad_fn is not None and z.grad_fn.in_dtype == tg.float32


def test_hooks_and_retained_grads_survive_a_checkpoint_strip():
    # a checkpointed segment drops what its nodes saved; the hooks and retain_grad requests
    # on its tensors are part of the graph, not saved values, and must still run
    from tapegrad.utils.checkpoint import checkpoint
    x = tg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    seen = {}

    def segment(v):
        h = v * 3
        h.register_hook(lambda g: g * 10)   # doubles as a check that the hook's result is used
        h.retain_grad()
        seen["h"] = h
        out = (h * h).sum()
        out.register_hook(lambda g: g * 0.5)  # on the node the backward reaches first
        return out

    checkpoint(segment, x).backward()
    # d/dh (h*h).sum() = 2h = 6x, halved at the output, scaled by 10 at h, times 3 for x
    np.testing.assert_allclose(seen["h"].grad.numpy(), 0.5 * 10 * 6 * x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), 3 * 0.5 * 10 * 6 * x.numpy())


def test_anomaly_mode_names_the_gradient_index_that_is_not_finite():
    class SecondIsNan(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, g * float("nan")

    a = tg.tensor([1.0], requires_grad=True)
    b = tg.tensor([2.0], requires_grad=True)
    out = SecondIsNan.apply(a, b).sum()
    with tg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"'SecondIsNan' returned nan values in its 1th "
                                               r"output"):
            out.backward()


def test_a_gradient_of_another_float_dtype_is_cast_to_its_input_dtype():
    class Widens(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return (g * 2).to(tg.float64)

    a = tg.tensor([1.0, 2.0], dtype=tg.float32, requires_grad=True)
    Widens.apply(a).sum().backward()
    assert a.grad.dtype == tg.float32
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0])
