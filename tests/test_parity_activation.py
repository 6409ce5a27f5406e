"""PyTorch parity for ops/activation.py (through tg.nn.functional, as users call them): one row
per op and variant, then error cases, inplace=True and the kink conventions."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tapegrad as tg
import tapegrad.nn.functional as F
from parity import Row, check_row, parametrize


def away(*shape, low=-2.0, high=2.0, kinks=(0.0,)):
    """Uniform values kept at least 0.1 from each kink (finite differences and PyTorch's
    one-sided conventions both apply only away from them)."""
    def make(rng):
        x = rng.uniform(low, high, shape)
        for k in kinks:
            x = x + 0.2 * (abs(x - k) < 0.1)
        return [x]
    return make


def r(*shape, low=-2.0, high=2.0):
    return lambda rng: [rng.uniform(low, high, shape)]


def non_leaf(fn):
    """Apply an inplace activation to a non-leaf (a leaf that requires grad would raise)."""
    return lambda a: fn(a * 1.0)


ROWS = [
    Row("relu6", F.relu6, TF.relu6, away(2, 4, low=-2, high=8, kinks=(0.0, 6.0))),
    Row("relu6-inplace", non_leaf(lambda a: F.relu6(a, inplace=True)),
        non_leaf(lambda a: TF.relu6(a, inplace=True)), away(2, 4, low=-2, high=8,
                                                             kinks=(0.0, 6.0))),
    Row("leaky_relu", F.leaky_relu, TF.leaky_relu, away(2, 3)),
    Row("leaky_relu-slope", lambda a: F.leaky_relu(a, 0.2), lambda a: TF.leaky_relu(a, 0.2),
        away(2, 3)),
    Row("leaky_relu-inplace", non_leaf(lambda a: F.leaky_relu(a, 0.1, inplace=True)),
        non_leaf(lambda a: TF.leaky_relu(a, 0.1, inplace=True)), away(2, 3)),
    Row("prelu-channels", F.prelu, TF.prelu,
        lambda rng: away(2, 3, 2)(rng) + [rng.uniform(0.1, 0.5, (3,))]),
    Row("prelu-shared", F.prelu, TF.prelu,
        lambda rng: away(2, 3)(rng) + [rng.uniform(0.1, 0.5, (1,))]),
    Row("prelu-1d", lambda x, w: x.prelu(w), lambda x, w: x.prelu(w),
        lambda rng: away(4)(rng) + [rng.uniform(0.1, 0.5, (1,))]),
    Row("elu", F.elu, TF.elu, away(2, 3)),
    Row("elu-alpha", lambda a: F.elu(a, alpha=0.5), lambda a: TF.elu(a, alpha=0.5), away(2, 3)),
    Row("elu-large", F.elu, TF.elu, lambda rng: [np.array([-800.0, -30.0, 30.0, 800.0])]),
    Row("elu-inplace", non_leaf(lambda a: F.elu(a, inplace=True)),
        non_leaf(lambda a: TF.elu(a, inplace=True)), away(2, 3)),
    Row("selu", F.selu, TF.selu, away(2, 3)),
    Row("celu", F.celu, TF.celu, away(2, 3)),
    Row("celu-alpha", lambda a: F.celu(a, 2.0), lambda a: TF.celu(a, 2.0), away(2, 3)),
    Row("gelu", F.gelu, TF.gelu, r(2, 3, low=-4, high=4)),
    Row("gelu-tails", F.gelu, TF.gelu, lambda rng: [np.array([-9.0, -6.0, -2.0, 6.0, 9.0])]),
    Row("gelu-tanh", lambda a: F.gelu(a, approximate="tanh"),
        lambda a: TF.gelu(a, approximate="tanh"), r(2, 3, low=-4, high=4)),
    Row("silu", F.silu, TF.silu, r(2, 3, low=-4, high=4)),
    Row("silu-inplace", non_leaf(lambda a: F.silu(a, inplace=True)),
        non_leaf(lambda a: TF.silu(a, inplace=True)), r(2, 3)),
    Row("mish", F.mish, TF.mish, r(2, 3, low=-4, high=4)),
    Row("hardtanh", F.hardtanh, TF.hardtanh, away(2, 3, kinks=(-1.0, 1.0))),
    Row("hardtanh-bounds", lambda a: F.hardtanh(a, -0.5, 1.5),
        lambda a: TF.hardtanh(a, -0.5, 1.5), away(2, 3, kinks=(-0.5, 1.5))),
    Row("hardtanh-inplace", non_leaf(lambda a: F.hardtanh(a, inplace=True)),
        non_leaf(lambda a: TF.hardtanh(a, inplace=True)), away(2, 3, kinks=(-1.0, 1.0))),
    Row("hardsigmoid", F.hardsigmoid, TF.hardsigmoid,
        away(2, 4, low=-4, high=4, kinks=(-3.0, 3.0))),
    Row("hardswish", F.hardswish, TF.hardswish, away(2, 4, low=-4, high=4, kinks=(-3.0, 3.0))),
    Row("softsign", F.softsign, TF.softsign, away(2, 3)),
    Row("tanhshrink", F.tanhshrink, TF.tanhshrink, r(2, 3)),
    Row("threshold", lambda a: F.threshold(a, 0.5, -1.0), lambda a: TF.threshold(a, 0.5, -1.0),
        away(2, 3, kinks=(0.5,))),
    Row("glu", F.glu, TF.glu, r(2, 4)),
    Row("glu-dim0", lambda a: F.glu(a, 0), lambda a: TF.glu(a, 0), r(4, 3)),
    Row("glu-dim1", lambda a: F.glu(a, dim=1), lambda a: TF.glu(a, dim=1), r(2, 2, 3)),
    Row("log_softmax", lambda a: F.log_softmax(a, dim=-1), lambda a: TF.log_softmax(a, dim=-1),
        r(2, 4)),
    Row("log_softmax-dim0", lambda a: F.log_softmax(a, 0), lambda a: TF.log_softmax(a, 0),
        r(3, 2)),
    Row("log_softmax-method", lambda a: a.log_softmax(1), lambda a: a.log_softmax(1),
        r(2, 3, 2)),
    Row("log_softmax-axis", lambda a: F.log_softmax(a, axis=1),
        lambda a: TF.log_softmax(a, dim=1), r(2, 3)),
    Row("log_softmax-1d", lambda a: F.log_softmax(a, 0), lambda a: TF.log_softmax(a, 0), r(5)),
    Row("log_softmax-large", lambda a: F.log_softmax(a, -1), lambda a: TF.log_softmax(a, -1),
        lambda rng: [np.array([[1000.0, -1000.0, 999.0], [-500.0, -501.0, -1000.0]])]),
    Row("softmin", lambda a: F.softmin(a, dim=-1), lambda a: TF.softmin(a, dim=-1), r(2, 4)),
    Row("softmin-dim0", lambda a: F.softmin(a, 0), lambda a: TF.softmin(a, 0), r(3, 2)),
    Row("logsigmoid", F.logsigmoid, TF.logsigmoid, r(2, 3, low=-5, high=5)),
    Row("log_sigmoid-alias", F.log_sigmoid, TF.logsigmoid, r(4)),
    Row("logsigmoid-wide", F.logsigmoid, TF.logsigmoid,
        lambda rng: [np.array([-1000.0, -40.0, -19.0, 21.0, 40.0, 1000.0])]),
    Row("softplus-F", F.softplus, TF.softplus, r(2, 3, low=-25, high=25)),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


# -- errors ----------------------------------------------------------------------------------
ERRORS = [  # (name, tapegrad call, torch call, exception, message fragment)
    ("celu-alpha0", lambda x: F.celu(x, alpha=0.0), lambda x: TF.celu(x, alpha=0.0),
     RuntimeError, "alpha cannot be 0"),
    ("gelu-approximate", lambda x: F.gelu(x, approximate="fast"),
     lambda x: TF.gelu(x, approximate="fast"), RuntimeError, "approximate argument"),
    ("hardtanh-bounds", lambda x: F.hardtanh(x, 2.0, 1.0), lambda x: TF.hardtanh(x, 2.0, 1.0),
     ValueError, "min_val cannot be greater than max_val"),
    ("glu-odd", F.glu, TF.glu, RuntimeError, "Halving dimension must be even"),
    ("prelu-channels", lambda x: F.prelu(x, tg.zeros(2)), lambda x: TF.prelu(x, torch.zeros(2)),
     RuntimeError, "Mismatch of parameter numbers and input channel size"),
]


@pytest.mark.parametrize("name,tg_call,torch_call,exc,fragment", ERRORS,
                         ids=[e[0] for e in ERRORS])
def test_errors_match_pytorch(name, tg_call, torch_call, exc, fragment):
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    with pytest.raises(exc, match=fragment):
        torch_call(torch.tensor(x))
    with pytest.raises(exc, match=fragment):
        tg_call(tg.tensor(x))


def test_error_messages_name_op_and_shape():
    with pytest.raises(RuntimeError, match=r"glu.*\[2, 3\]"):
        F.glu(tg.zeros(2, 3))
    with pytest.raises(RuntimeError, match=r"prelu.*\[2, 3\]"):
        F.prelu(tg.zeros(2, 3), tg.zeros(2))
    with pytest.raises(RuntimeError, match="glu does not support scalars"):
        F.glu(tg.tensor(1.0))
    with pytest.raises(IndexError, match="log_softmax"):
        F.log_softmax(tg.zeros(2, 3), dim=2)


# -- inplace=True ------------------------------------------------------------------------------
def test_inplace_writes_into_input_and_keeps_gradients():
    x = tg.tensor([-1.0, 0.5, 2.0], dtype=tg.float64, requires_grad=True)
    h = x * 2.0
    out = F.elu(h, inplace=True)
    assert out is h
    np.testing.assert_allclose(h.numpy(), [np.expm1(-2.0), 1.0, 4.0])
    (g,) = tg.grad(out.sum(), [x])
    np.testing.assert_allclose(g.numpy(), [2 * np.exp(-2.0), 2.0, 2.0])


def test_inplace_on_leaf_requiring_grad_raises():
    x = tg.tensor([-1.0, 0.5], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        F.relu6(x, inplace=True)
    with tg.no_grad():  # allowed outside grad mode, as in PyTorch
        F.relu6(x, inplace=True)
    np.testing.assert_allclose(x.numpy(), [0.0, 0.5])


def test_inplace_without_graph():
    x = tg.tensor([-3.0, 0.5, 9.0])
    assert F.hardtanh(x, inplace=True) is x
    np.testing.assert_allclose(x.numpy(), [-1.0, 0.5, 1.0])


# -- kink conventions, by value (the parity rows avoid these points) ----------------------------
def _grad_at(fn, values):
    x = tg.tensor(values, dtype=tg.float64, requires_grad=True)
    (g,) = tg.grad(fn(x).sum(), [x])
    return g.numpy()


def test_kink_conventions():
    # same as PyTorch
    assert _grad_at(F.relu6, [0.0, 6.0]).tolist() == [0.0, 0.0]
    assert _grad_at(F.hardtanh, [-1.0, 1.0]).tolist() == [0.0, 0.0]
    assert _grad_at(lambda x: F.leaky_relu(x, 0.2), [0.0]).tolist() == [0.2]
    assert _grad_at(lambda x: F.elu(x, 0.5), [0.0]).tolist() == [0.5]
    assert _grad_at(lambda x: F.celu(x, 2.0), [0.0]).tolist() == [1.0]
    assert _grad_at(lambda x: F.threshold(x, 0.5, -1.0), [0.5]).tolist() == [0.0]
    np.testing.assert_allclose(_grad_at(F.hardsigmoid, [-3.0, 3.0]), [0.0, 0.0])
    assert _grad_at(F.softsign, [0.0]).tolist() == [1.0]
    # differs from PyTorch (which gives -0.5 and 1.5): the outer one-sided derivatives
    np.testing.assert_allclose(_grad_at(F.hardswish, [-3.0, 3.0]), [0.0, 1.0])


def test_prelu_weight_gradient():
    x = tg.tensor([[1.0, -2.0], [-3.0, 4.0]], dtype=tg.float64)
    w = tg.tensor([0.25, 0.5], dtype=tg.float64, requires_grad=True)
    (g,) = tg.grad(F.prelu(x, w).sum(), [w])
    np.testing.assert_allclose(g.numpy(), [-3.0, -2.0])


def test_activations_keep_float32():
    x = tg.tensor([-1.5, 0.3, 2.0])
    for fn in (F.relu6, F.leaky_relu, F.elu, F.selu, F.celu, F.gelu, F.silu, F.mish, F.hardtanh,
               F.hardsigmoid, F.hardswish, F.softsign, F.tanhshrink, F.logsigmoid,
               lambda a: F.gelu(a, approximate="tanh"), lambda a: F.threshold(a, 0.1, 2.0),
               lambda a: F.log_softmax(a, 0), lambda a: F.softmin(a, 0)):
        assert fn(x).dtype == tg.float32


def test_integer_input_becomes_float32():
    x = tg.tensor([-2, 0, 3])
    for fn in (F.elu, F.gelu, F.silu, F.logsigmoid, lambda a: F.log_softmax(a, 0)):
        assert fn(x).dtype == tg.float32


def test_implicit_dim_none_matches_pytorch():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 2))
    for tg_fn, torch_fn in ((F.log_softmax, TF.log_softmax), (F.softmin, TF.softmin)):
        with pytest.warns(UserWarning, match="Implicit dimension"):
            got = tg_fn(tg.tensor(x), dim=None)
        with pytest.warns(UserWarning):
            want = torch_fn(torch.tensor(x), dim=None)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
