"""Forward-mode AD: dual levels, every op's JVP against finite differences and against
reverse mode, the seed's DualTensor/ForwardADContext, forward over reverse, and case 47."""
import math

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.forward_ad as fwAD
from tapegrad.core.tensor import Tensor

from helpers import registry_cases, case_id, to_inputs, call, finite_difference_jvp

CASES = registry_cases()


@pytest.mark.parametrize("name,i,sample", CASES, ids=[case_id(c) for c in CASES])
def test_forward_mode_matches_finite_differences_and_reverse(name, i, sample):
    args = to_inputs(sample, requires_grad=False)
    floats = [a for a in args if isinstance(a, Tensor) and a.dtype.kind == "f"]
    if not floats:
        pytest.skip("no floating input")
    rng = np.random.default_rng(2)
    tangents = [tg.tensor(rng.standard_normal(a.shape)) if isinstance(a, Tensor) and
                a.dtype.kind == "f" else None for a in args]
    fn = call(name, sample)
    with fwAD.dual_level():
        duals = [fwAD.make_dual(a, t) if t is not None else a for a, t in zip(args, tangents)]
        out = fn(*duals)
        primal, tangent = fwAD.unpack_dual(out)
    if tangent is None:
        tangent = tg.zeros_like(primal)
    diff = [(a, t) for a, t in zip(args, tangents) if t is not None]
    for a, _ in diff:
        a.requires_grad_(True)
    np.testing.assert_allclose(tangent.numpy(), finite_difference_jvp(fn, args, tangents),
                               rtol=1e-5, atol=1e-6)
    ref = fn(*args)
    if ref.requires_grad and ref.numel():
        u = tg.tensor(rng.standard_normal(ref.shape))
        vjps = tg.grad(ref, [a for a, _ in diff], u, allow_unused=True)
        rhs = sum(float((g.numpy() * t.numpy()).sum()) for g, (_, t) in zip(vjps, diff)
                  if g is not None)
        assert float((u.numpy() * tangent.numpy()).sum()) == pytest.approx(rhs, rel=1e-7,
                                                                          abs=1e-9)


def test_dual_level_basics():
    x = tg.tensor([1.0, 2.0])
    with fwAD.dual_level():
        d = fwAD.make_dual(x, tg.tensor([1.0, 0.0]))
        y = (d * d).exp().sum()
        p, t = fwAD.unpack_dual(y)
        assert fwAD.unpack_dual(x).tangent is None
    assert p.item() == pytest.approx(math.e + math.e ** 4, rel=1e-6)
    assert t.item() == pytest.approx(2 * math.e, rel=1e-6)  # d/dx0 exp(x0^2) at 1
    assert not STATE_levels()


def STATE_levels():
    return tg.core.modes.STATE.fw_levels


def test_make_dual_checks_shape_and_dtype():
    with fwAD.dual_level():
        with pytest.raises(ValueError, match=r"tangent has shape \[3\].*\[2\]"):
            fwAD.make_dual(tg.zeros(2), tg.zeros(3))
        with pytest.raises(TypeError, match="floating"):
            fwAD.make_dual(tg.tensor([1, 2]), tg.zeros(2))
    with pytest.raises(RuntimeError, match="dual_level"):
        fwAD.make_dual(tg.zeros(2), tg.zeros(2))


def test_seed_dual_tensor_and_context():
    ctx = tg.ForwardADContext()
    x = tg.DualTensor(tg.tensor(2.0), tg.tensor(1.0))  # dx/dx = 1
    y = ctx.sin(x)
    z = ctx.mul(y, x)
    assert z.value().item() == pytest.approx(math.sin(2) * 2, rel=1e-6)
    assert z.tangent().item() == pytest.approx(math.cos(2) * 2 + math.sin(2), rel=1e-5)
    with pytest.raises(AttributeError, match="no op named"):
        ctx.not_an_op


def test_forward_over_reverse_hessian_vector_product_in_one_pass():
    rng = np.random.default_rng(0)
    A = tg.tensor(rng.standard_normal((3, 3)))
    x = tg.tensor(rng.standard_normal(3))
    v = tg.tensor(rng.standard_normal(3))

    def f(z):
        return (z @ A @ z).tanh() + (z ** 3).sum()
    leaf = x.clone().requires_grad_()
    with fwAD.dual_level():
        dual = fwAD.make_dual(leaf, v)  # a dual view of a leaf that requires grad
        (g,) = tg.grad(f(dual), [leaf])  # the gradient carries its directional derivative
        hv = fwAD.unpack_dual(g).tangent
    H = tg.func.hessian(f)(x).numpy()
    np.testing.assert_allclose(hv.numpy(), H @ v.numpy(), rtol=1e-6)


def test_nested_levels_give_second_derivatives():
    x = tg.tensor(1.3, dtype=tg.float64)
    f = lambda z: z.sin() * z  # noqa: E731
    d2 = tg.func.jvp(lambda a: tg.func.jvp(f, (a,), (tg.tensor(1.0, dtype=tg.float64),))[1],
                     (x,), (tg.tensor(1.0, dtype=tg.float64),))[1]
    assert d2.item() == pytest.approx(2 * math.cos(1.3) - 1.3 * math.sin(1.3), rel=1e-10)


def test_case47_missing_jvp_and_misnested_levels():
    class NoJvp(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    with fwAD.dual_level():
        d = fwAD.make_dual(tg.ones(2), tg.ones(2))
        with pytest.raises(NotImplementedError, match="'NoJvp' has no jvp rule"):
            NoJvp.apply(d)
    outer = fwAD.enter_dual_level()
    fwAD.enter_dual_level()
    with pytest.raises(RuntimeError, match="not the last one"):
        fwAD.exit_dual_level(outer)
    fwAD.exit_dual_level()
    fwAD.exit_dual_level(outer)
    assert not STATE_levels()


def test_forward_mode_cost_is_one_forward_pass():
    x = tg.randn(4)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, tg.ones(4))
        y = d
        for _ in range(10):
            y = y.tanh() * 1.5
        fwAD.unpack_dual(y)
    assert y.grad_fn is None  # nothing was recorded for a reverse pass


NONEMPTY = [c for c in CASES if not any(getattr(a, "size", 1) == 0 for a in c[2].args)]


@pytest.mark.parametrize("name,i,sample", NONEMPTY, ids=[case_id(c) for c in NONEMPTY])
def test_forward_over_reverse_matches_reverse_over_reverse(name, i, sample):
    """Hessian-vector products both ways: jvp of the VJP == VJP of (VJP . t)."""
    args = to_inputs(sample)
    diff = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
    fn = call(name, sample)
    if not diff:
        pytest.skip("no floating input")
    out = fn(*args)
    if not (isinstance(out, Tensor) and out.dtype.kind == "f"):
        pytest.skip("the op's result carries no gradient (an integer, bool or Python value)")
    assert out.requires_grad
    rng = np.random.default_rng(3)
    u = tg.tensor(rng.standard_normal(out.shape))
    ts = [tg.tensor(rng.standard_normal(a.shape)) for a in diff]
    gs = tg.grad(out, diff, u, create_graph=True, allow_unused=True)
    live = [(g * t).sum() for g, t in zip(gs, ts) if g is not None and g.requires_grad]
    if live:
        rr = tg.grad(sum(live), diff, allow_unused=True)
        rr = [np.zeros(a.shape) if h is None else h.numpy() for a, h in zip(diff, rr)]
    else:
        rr = [np.zeros(a.shape) for a in diff]
    leaves = [a.detach().requires_grad_() for a in diff]
    with fwAD.dual_level():
        duals = iter([fwAD.make_dual(leaf, t) for leaf, t in zip(leaves, ts)])
        new_args = [next(duals) if isinstance(a, Tensor) and a.requires_grad else a for a in args]
        gs2 = tg.grad(fn(*new_args), leaves, u, allow_unused=True)
        fr = [np.zeros(a.shape) if g is None or fwAD.unpack_dual(g).tangent is None
              else fwAD.unpack_dual(g).tangent.numpy() for a, g in zip(diff, gs2)]
    for a, b in zip(fr, rr):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_det_tangent_at_a_singular_matrix_is_the_cofactor_one():
    A = tg.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=tg.float64)
    dA = tg.tensor([[0.3, -1.0], [0.7, 0.2]], dtype=tg.float64)
    _, t = tg.func.jvp(tg.linalg.det, (A,), (dA,))
    eps = 1e-6
    fd = (np.linalg.det(A.numpy() + eps * dA.numpy()) -
          np.linalg.det(A.numpy() - eps * dA.numpy())) / (2 * eps)
    assert t.item() == pytest.approx(fd, rel=1e-6)
    assert abs(t.item()) > 1  # PyTorch's forward AD returns 0 here


def test_embedding_padding_row_has_no_tangent_like_its_gradient():
    w = tg.randn(5, 3, dtype=tg.float64)
    idx = tg.tensor([0, 1, 1, 4])
    _, t = tg.func.jvp(lambda v: tg.nn.functional.embedding(idx, v, padding_idx=1), (w,),
                       (tg.ones(5, 3, dtype=tg.float64),))
    np.testing.assert_array_equal(t.numpy()[[1, 2]], 0.0)
    np.testing.assert_array_equal(t.numpy()[[0, 3]], 1.0)


def test_in_place_ops_and_setitem_carry_tangents():
    x = tg.tensor([1.0, 2.0, 3.0], dtype=tg.float64)

    def f(v):
        y = v * 1.0
        y.mul_(v)          # y = v^2
        y[0] = v[1] * 3.0  # y[0] = 3 v1
        return y
    _, t = tg.func.jvp(f, (x,), (tg.ones(3, dtype=tg.float64),))
    np.testing.assert_allclose(t.numpy(), [3.0, 4.0, 6.0])
