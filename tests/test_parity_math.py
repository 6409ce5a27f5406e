"""PyTorch parity for ops/math.py: one row per op and per notable variant (values in float64
and float32, first- and second-order gradients), then error cases and conventions."""
import math

import numpy as np
import pytest
import torch

import tapegrad as tg
from parity import Row, check_row, parametrize, uniform, uniform2


r, r2 = uniform, uniform2


def fixed(*arrays):
    return lambda rng: [np.array(a) for a in arrays]


def mod_pair(s1, s2):
    """a = b * (k + f) with f in [0.2, 0.8]: away from the jumps of remainder and fmod."""
    def make(rng):
        b = rng.uniform(0.5, 2.0, s2) * rng.choice([-1.0, 1.0], s2)
        q = rng.integers(-3, 3, np.broadcast_shapes(s1, s2)) + rng.uniform(0.2, 0.8, s1)
        return [q * b, b]
    return make


def off_grid(*shape, half=False):
    """Values away from the jumps of floor/ceil/trunc (integers) or round (half-integers)."""
    lo, hi = (0.1, 0.4) if half else (0.1, 0.9)
    return lambda rng: [rng.integers(-3, 3, shape) + rng.uniform(lo, hi, shape)]


NONFINITE = [np.nan, np.inf, -np.inf, 1.5, -0.5, 0.0]
INTS = lambda rng: [rng.integers(-5, 6, (2, 3))]  # noqa: E731

ROWS = [
    Row("exp2", tg.exp2, torch.exp2, r(2, 3)),
    Row("exp2-method", lambda a: a.exp2(), lambda a: a.exp2(), r(4)),
    Row("exp2-int", tg.exp2, torch.exp2, INTS, grad=False),
    Row("expm1", tg.expm1, torch.expm1, r(2, 3)),
    Row("expm1-tiny", tg.expm1, torch.expm1, r(5, low=-1e-9, high=1e-9)),
    Row("log2", tg.log2, torch.log2, r(2, 3, low=0.2, high=3)),
    Row("log10", tg.log10, torch.log10, r(2, 3, low=0.2, high=3)),
    Row("log1p", tg.log1p, torch.log1p, r(2, 3, low=-0.8, high=2)),
    Row("log1p-tiny", tg.log1p, torch.log1p, r(5, low=-1e-9, high=1e-9)),
    Row("rsqrt", tg.rsqrt, torch.rsqrt, r(2, 3, low=0.2, high=3)),
    Row("reciprocal", tg.reciprocal, torch.reciprocal, r(2, 3, low=0.3, high=2)),
    Row("reciprocal-int", tg.reciprocal, torch.reciprocal, lambda rng: [np.array([1, 2, -4])],
        grad=False),
    Row("sin", tg.sin, torch.sin, r(2, 3, low=-4, high=4)),
    Row("sin-0d", tg.sin, torch.sin, r()),
    Row("sin-int", tg.sin, torch.sin, INTS, grad=False),
    Row("cos", tg.cos, torch.cos, r(2, 3, low=-4, high=4)),
    Row("tan", tg.tan, torch.tan, r(2, 3, low=-1.2, high=1.2)),
    Row("asin", tg.asin, torch.asin, r(2, 3, low=-0.9, high=0.9)),
    Row("arcsin", tg.arcsin, torch.arcsin, r(3, low=-0.9, high=0.9)),
    Row("acos", tg.acos, torch.acos, r(2, 3, low=-0.9, high=0.9)),
    Row("atan", tg.atan, torch.atan, r(2, 3, low=-4, high=4)),
    Row("sinh", tg.sinh, torch.sinh, r(2, 3)),
    Row("cosh", tg.cosh, torch.cosh, r(2, 3)),
    Row("asinh", tg.asinh, torch.asinh, r(2, 3, low=-4, high=4)),
    Row("acosh", tg.acosh, torch.acosh, r(2, 3, low=1.2, high=4)),
    Row("atanh", tg.atanh, torch.atanh, r(2, 3, low=-0.9, high=0.9)),
    Row("erf", tg.erf, torch.erf, r(2, 3, low=-3, high=3)),
    Row("erf-wide", tg.erf, torch.erf, fixed([-6.0, -2.5, -1.5, -0.3, 0.0, 1e-8, 0.7, 1.9,
                                              2.1, 4.0, 27.0])),
    Row("erf-method", lambda a: a.erf(), lambda a: a.erf(), r(4)),
    Row("erf-int", tg.erf, torch.erf, INTS, grad=False),
    Row("erfc", tg.erfc, torch.erfc, r(2, 3, low=-3, high=3)),
    Row("erfc-tail", tg.erfc, torch.erfc, fixed([-6.0, -1.2, 0.5, 1.1, 1.7, 2.3, 5.0, 9.0,
                                                 20.0]), f32=False),
    Row("atan2", tg.atan2, torch.atan2, r2((2, 3), (3,))),
    Row("atan2-method", lambda a, b: a.atan2(b), lambda a, b: a.atan2(b), r2((2, 1), (1, 3))),
    Row("arctan2", tg.arctan2, torch.arctan2, r2((3,), (3,))),
    Row("atan2-int", tg.atan2, torch.atan2,
        lambda rng: [rng.integers(-3, 4, (4,)), rng.integers(1, 4, (4,))], grad=False),
    Row("remainder", tg.remainder, torch.remainder, mod_pair((2, 3), (3,))),
    Row("remainder-op", lambda a, b: a % b, lambda a, b: a % b, mod_pair((2, 1), (1, 3))),
    Row("remainder-scalar", lambda a: a % 2.5, lambda a: a % 2.5,
        lambda rng: [2.5 * (rng.integers(-3, 3, (2, 3)) + rng.uniform(0.2, 0.8, (2, 3)))]),
    # PyTorch has no derivative for remainder(Scalar, Tensor); tapegrad's is tested below
    Row("rmod", lambda b: 2.5 % b, lambda b: 2.5 % b, r(3, low=0.65, high=0.8), grad=False),
    Row("remainder-int", tg.remainder, torch.remainder,
        lambda rng: [rng.integers(-9, 9, (2, 3)), np.array([2, -3, 4])], grad=False),
    Row("fmod", tg.fmod, torch.fmod, mod_pair((2, 3), (3,))),
    Row("fmod-int", tg.fmod, torch.fmod,
        lambda rng: [rng.integers(-9, 9, (2, 3)), np.array([2, -3, 4])], grad=False),
    Row("floor_divide", tg.floor_divide, torch.floor_divide, mod_pair((2, 3), (3,)),
        grad=False),
    Row("floordiv-op", lambda a, b: a // b, lambda a, b: a // b, mod_pair((3,), ()),
        grad=False),
    Row("rfloordiv", lambda b: 7.0 // b, lambda b: 7.0 // b, r(3, low=0.65, high=0.8),
        grad=False),
    Row("floor_divide-int", lambda a, b: a // b, lambda a, b: a // b,
        lambda rng: [rng.integers(-9, 9, (2, 3)), np.array([2, -3, 4])], grad=False),
    Row("logaddexp", tg.logaddexp, torch.logaddexp, r2((2, 3), (3,))),
    Row("logaddexp-method", lambda a, b: a.logaddexp(b), lambda a, b: a.logaddexp(b),
        r2((2, 1), (1, 3))),
    Row("logaddexp-equal", tg.logaddexp, torch.logaddexp,
        fixed([0.5, -1.0, 3.0], [0.5, -1.0, 3.0])),
    # PyTorch's second derivative is NaN at |a - b| = 1000 (exp overflows in its rule);
    # tapegrad's is 0 (test_numerics checks it by value)
    Row("logaddexp-large", tg.logaddexp, torch.logaddexp,
        fixed([1000.0, -1000.0, 1000.0, -1000.0], [0.0, 0.0, 999.0, -1001.0]), grad2=False),
    Row("logaddexp-inf", tg.logaddexp, torch.logaddexp,
        fixed([np.inf, -np.inf, np.inf, 1.0], [np.inf, -np.inf, 2.0, -np.inf]), grad=False),
    Row("softplus", tg.softplus, torch.nn.functional.softplus, r(2, 3, low=-4, high=4)),
    Row("softplus-beta", lambda a: tg.softplus(a, beta=2.0, threshold=3.0),
        lambda a: torch.nn.functional.softplus(a, beta=2.0, threshold=3.0),
        fixed([-2.0, -0.3, 0.4, 1.2, 1.7, 3.0])),
    Row("softplus-positional", lambda a: tg.softplus(a, 0.5, 4.0),
        lambda a: torch.nn.functional.softplus(a, 0.5, 4.0), r(2, 3, low=-12, high=12)),
    Row("softplus-large", tg.softplus, torch.nn.functional.softplus,
        fixed([-1000.0, -30.0, 19.5, 21.0, 1000.0])),
    Row("logit", tg.logit, torch.logit, r(2, 3, low=0.05, high=0.95)),
    Row("logit-method", lambda a: a.logit(), lambda a: a.logit(), r(3, low=0.1, high=0.9)),
    Row("logit-eps", lambda a: tg.logit(a, eps=0.1), lambda a: torch.logit(a, eps=0.1),
        fixed([0.02, 0.3, 0.5, 0.8, 0.95])),
    Row("lerp-scalar-low", lambda a, b: tg.lerp(a, b, 0.3), lambda a, b: torch.lerp(a, b, 0.3),
        r2((2, 3), (3,))),
    Row("lerp-scalar-high", lambda a, b: a.lerp(b, 0.8), lambda a, b: a.lerp(b, 0.8),
        r2((2, 3), (2, 3))),
    Row("lerp-tensor-weight", tg.lerp, torch.lerp,
        lambda rng: [rng.standard_normal((2, 3)), rng.standard_normal((3,)),
                     rng.uniform(0, 1, (2, 3))]),
    Row("floor", tg.floor, torch.floor, off_grid(2, 3)),
    Row("ceil", tg.ceil, torch.ceil, off_grid(2, 3)),
    Row("trunc", tg.trunc, torch.trunc, off_grid(2, 3)),
    Row("fix", tg.fix, torch.fix, off_grid(4)),
    Row("round", tg.round, torch.round, off_grid(2, 3, half=True)),
    Row("round-half-even", tg.round, torch.round, fixed([0.5, 1.5, 2.5, -0.5, -1.5]), grad=False),
    Row("round-decimals", lambda a: tg.round(a, decimals=2),
        lambda a: torch.round(a, decimals=2), fixed([1.2345, -2.3456, 0.0149])),
    Row("floor-method", lambda a: a.floor(), lambda a: a.floor(), off_grid(3)),
    Row("floor-int", tg.floor, torch.floor, INTS, grad=False),
    Row("isnan", lambda a: tg.isnan(a).int(), lambda a: torch.isnan(a).int(), fixed(NONFINITE),
        grad=False),
    Row("isinf", lambda a: a.isinf().int(), lambda a: a.isinf().int(), fixed(NONFINITE),
        grad=False),
    Row("isfinite", lambda a: tg.isfinite(a).int(), lambda a: torch.isfinite(a).int(),
        fixed(NONFINITE), grad=False),
    Row("nan_to_num", tg.nan_to_num, torch.nan_to_num, fixed(NONFINITE)),
    Row("nan_to_num-values", lambda a: a.nan_to_num(nan=1.0, posinf=9.0, neginf=-9.0),
        lambda a: a.nan_to_num(nan=1.0, posinf=9.0, neginf=-9.0), fixed(NONFINITE)),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


# -- errors: PyTorch's category, a message naming the op --------------------------------------
def test_floor_divide_backward_raises_like_pytorch():
    a = tg.tensor([3.5, -2.5], requires_grad=True)
    y = a // 2.0
    assert y.requires_grad  # recorded, as in PyTorch (grad_fn=NotImplemented)
    with pytest.raises(RuntimeError, match="floor_divide"):
        y.sum().backward()
    ta = torch.tensor([3.5, -2.5], requires_grad=True)
    with pytest.raises(RuntimeError, match="floor_divide"):
        (ta // 2.0).sum().backward()


@pytest.mark.parametrize("op", [tg.remainder, tg.floor_divide, tg.fmod])
def test_integer_division_by_zero(op):
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        op(tg.tensor([7, 8]), tg.tensor([2, 0]))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        torch_op = getattr(torch, op.__name__)
        torch_op(torch.tensor([7, 8]), torch.tensor([2, 0]))


@pytest.mark.parametrize("name", ["atan2", "remainder", "fmod", "logaddexp", "floor_divide"])
def test_broadcast_mismatch_is_runtime_error(name):
    fragment = r"must match the size of tensor b \(2\) at non-singleton dimension 1"
    with pytest.raises(RuntimeError, match=fragment):
        getattr(torch, name)(torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(RuntimeError, match=name + ": The size.*" + fragment + r".*\[2, 3\]"):
        getattr(tg, name)(tg.zeros(2, 3), tg.zeros(2))


def test_lerp_shape_mismatch():
    with pytest.raises(RuntimeError, match=r"lerp.*\[3\].*\[2\]"):
        tg.lerp(tg.zeros(3), tg.zeros(2), 0.5)


# -- conventions and edge values ----------------------------------------------------------------
def test_rmod_gradient():
    # 2.5 % b = 2.5 - floor(2.5 / b) * b, so d/db = -floor(2.5 / b) (PyTorch raises here)
    b = tg.tensor([0.7, -0.9, 2.0], dtype=tg.float64, requires_grad=True)
    (g,) = tg.grad((2.5 % b).sum(), [b])
    np.testing.assert_allclose(g.numpy(), [-3.0, 3.0, -1.0])


def test_float_remainder_by_zero_is_nan_like_pytorch():
    assert np.isnan(tg.remainder(tg.tensor([5.0]), 0.0).numpy()).all()
    assert torch.remainder(torch.tensor([5.0]), 0.0).isnan().all()


def test_rounding_gradient_is_a_recorded_zero():
    for op in (tg.floor, tg.ceil, tg.round, tg.trunc):
        x = tg.tensor([0.5, 1.0, np.inf, -2.0], dtype=tg.float64, requires_grad=True)
        y = op(x)
        assert y.requires_grad
        (g,) = tg.grad((y * tg.tensor([1.0, np.inf, np.nan, 2.0], dtype=tg.float64)).sum(), [x])
        assert np.array_equal(g.numpy(), np.zeros(4))  # zero even where the upstream is inf/NaN


def test_rounding_keeps_integer_dtype():
    for op in (tg.floor, tg.ceil, tg.round, tg.trunc):
        assert op(tg.tensor([1, -2])).dtype == tg.int64


def test_logit_eps_bounds_convention():
    # tapegrad's clamp passes no gradient at exactly the bounds (PyTorch's logit passes it)
    x = tg.tensor([0.1, 0.5, 0.9, 0.95], dtype=tg.float64, requires_grad=True)
    (g,) = tg.grad(tg.logit(x, eps=0.1).sum(), [x])
    np.testing.assert_allclose(g.numpy(), [0.0, 4.0, 0.0, 0.0])


def test_nan_to_num_gradient_is_selected():
    x = tg.tensor([np.nan, np.inf, 2.0], dtype=tg.float64, requires_grad=True)
    (g,) = tg.grad(tg.nan_to_num(x).sum(), [x])
    assert np.array_equal(g.numpy(), [0.0, 0.0, 1.0])


def test_erf_matches_math_erf():
    xs = np.concatenate([np.linspace(-7, 7, 2801), [1e-300, -1e-12, 0.999999, 1.0, 2.0]])
    got_erf = tg.erf(tg.tensor(xs)).numpy()
    got_erfc = tg.erfc(tg.tensor(xs)).numpy()
    want_erf = np.array([math.erf(v) for v in xs])
    want_erfc = np.array([math.erfc(v) for v in xs])
    np.testing.assert_allclose(got_erf, want_erf, rtol=4e-15, atol=0)
    np.testing.assert_allclose(got_erfc, want_erfc, rtol=8e-15, atol=0)
    assert tg.erf(tg.tensor([np.inf, -np.inf])).tolist() == [1.0, -1.0]
    assert tg.erfc(tg.tensor([np.inf, -np.inf])).tolist() == [0.0, 2.0]
    assert np.isnan(tg.erf(tg.tensor([np.nan])).numpy()).all()


def test_float32_stays_float32():
    x = tg.tensor([0.3, 0.6], dtype=tg.float32)
    for op in (tg.erf, tg.erfc, tg.sin, tg.exp2, tg.log1p, tg.softplus, tg.logit, tg.rsqrt,
               lambda a: tg.logaddexp(a, 1.0), lambda a: tg.atan2(a, 2.0),
               lambda a: a % 0.25, lambda a: tg.lerp(a, a * 2, 0.3)):
        assert op(x).dtype == tg.float32
