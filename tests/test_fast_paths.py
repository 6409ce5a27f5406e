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


def test_forward_without_recording_drops_what_it_would_save():
    x = tg.tensor([1.0, -2.0])
    with tg.no_grad():
        y = x.to(tg.float64)   # the cast's forward stores the input dtype on its ctx
    assert y.grad_fn is None and y.dtype == tg.float64
    z = tg.tensor([1.0, -2.0], requires_grad=True).to(tg.float64)
    assert z.grad_fn is not None and z.grad_fn.in_dtype == tg.float32
