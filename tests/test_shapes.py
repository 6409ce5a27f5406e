"""Reliability cases 40, 43 and 44 of ../shared/reference/reliability_cases.md (section F):
broadcasting gradients are summed back to each input's shape, size-0 arrays go forward and
backward with correctly shaped empty gradients, and single-element outputs / Python scalars
behave as in PyTorch."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import tapegrad as tg


def np_sum_to(x, shape):
    """The reference unbroadcast: sum leading axes, then axes that were 1."""
    lead = x.ndim - len(shape)
    x = x.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and x.shape[i] != 1)
    return x.sum(axis=axes, keepdims=True).reshape(shape)


# -- 40: broadcasting -------------------------------------------------------------------------
# (op, d out/d a, d out/d b) as NumPy functions of (a, b), on arrays of the broadcast shape
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: np.ones_like(a * b), lambda a, b: np.ones_like(a * b)),
    "sub": (lambda a, b: a - b, lambda a, b: np.ones_like(a * b), lambda a, b: -np.ones_like(a * b)),
    "mul": (lambda a, b: a * b, lambda a, b: b + 0 * a, lambda a, b: a + 0 * b),
    "div": (lambda a, b: a / b, lambda a, b: 1 / b + 0 * a, lambda a, b: -a / b ** 2),
    "maximum": (np.maximum, lambda a, b: (a > b) + 0.0, lambda a, b: (b > a) + 0.0),
}
TG = {"add": tg.add, "sub": tg.sub, "mul": tg.mul, "div": tg.div, "maximum": tg.maximum}

SHAPES = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0,
                                       max_side=3)
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(shapes=SHAPES, seed=st.integers(0, 2 ** 16))
def test_binary_broadcast_gradients(name, shapes, seed):
    (sa, sb), out_shape = shapes
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, sa) * rng.choice([-1, 1], sa)
    b = rng.uniform(0.5, 2.0, sb)
    u = rng.standard_normal(out_shape)
    ta, tb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    f, da, db = BINARY[name]
    out = TG[name](ta, tb)
    np.testing.assert_allclose(out.numpy(), f(a, b), rtol=1e-12)
    ga, gb = tg.grad(out, [ta, tb], tg.tensor(u))
    assert ga.shape == sa and gb.shape == sb
    np.testing.assert_allclose(ga.numpy(), np_sum_to(u * da(a, b), sa), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gb.numpy(), np_sum_to(u * db(a, b), sb), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=4, min_side=0,
                                            max_side=3),
       seed=st.integers(0, 2 ** 16))
def test_where_broadcast_gradients(shapes, seed):
    (sc, sa, sb), out_shape = shapes
    rng = np.random.default_rng(seed)
    c, a, b = rng.uniform(size=sc) > 0.5, rng.standard_normal(sa), rng.standard_normal(sb)
    u = rng.standard_normal(out_shape)
    ta, tb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    out = tg.where(tg.tensor(c), ta, tb)
    np.testing.assert_array_equal(out.numpy(), np.where(c, a, b))
    ga, gb = tg.grad(out, [ta, tb], tg.tensor(u))
    assert ga.shape == sa and gb.shape == sb
    np.testing.assert_allclose(ga.numpy(), np_sum_to(np.where(c, u, 0.0), sa), atol=1e-12)
    np.testing.assert_allclose(gb.numpy(), np_sum_to(np.where(c, 0.0, u), sb), atol=1e-12)


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2 ** 16))
def test_inplace_broadcast_operand_summed_back(shapes, seed):
    (sx, sb), out_shape = shapes
    if out_shape != sx:  # in place, the result keeps x's shape: only b may broadcast
        sx = out_shape
    rng = np.random.default_rng(seed)
    x0, b = rng.standard_normal(sx), rng.standard_normal(sb)
    tx, tb = tg.tensor(x0, requires_grad=True), tg.tensor(b, requires_grad=True)
    y = tx * 1.0
    y.mul_(tb)
    y.add_(tb)
    u = rng.standard_normal(sx)
    gx, gb = tg.grad(y, [tx, tb], tg.tensor(u))
    assert gx.shape == sx and gb.shape == sb
    np.testing.assert_allclose(gx.numpy(), u * b, atol=1e-12)
    np.testing.assert_allclose(gb.numpy(), np_sum_to(u * x0 + u, sb), atol=1e-12)


@pytest.mark.parametrize("op", [lambda x: x + 2.5, lambda x: 2.5 - x, lambda x: x * 3,
                                lambda x: 1.5 / (x + 3), lambda x: tg.maximum(x, 0.1),
                                lambda x: tg.where(x > 0, x, 0.0)],
                         ids=["add", "rsub", "mul", "rdiv", "maximum", "where"])
def test_scalar_operand_gradient_keeps_shape(op):
    x = tg.tensor(np.random.default_rng(0).uniform(0.2, 1.0, (2, 3)), requires_grad=True)
    (g,) = tg.grad(op(x).sum(), x)
    assert g.shape == x.shape and g.dtype == x.dtype


# -- 43: size-0 arrays ------------------------------------------------------------------------
I0 = tg.tensor(np.zeros((0,), dtype=np.int64))
EMPTY_CASES = [
    # (name, input shape, function)
    ("reshape", (0, 3), lambda x: x.reshape(3, 0)),
    ("flatten", (2, 0, 3), lambda x: x.flatten()),
    ("unflatten", (2, 0), lambda x: x.unflatten(1, (0, 5))),
    ("permute", (0, 2, 3), lambda x: x.permute(2, 0, 1)),
    ("transpose", (0, 3), lambda x: x.T),
    ("squeeze", (0, 1), lambda x: x.squeeze(1)),
    ("unsqueeze", (0, 3), lambda x: x.unsqueeze(0)),
    ("expand", (1, 0), lambda x: x.expand(4, 0)),
    ("expand-to-0", (1, 3), lambda x: x.expand(0, 3)),
    ("repeat", (2, 0), lambda x: x.repeat(3, 2)),
    ("repeat-0", (2, 3), lambda x: x.repeat(0, 1)),
    ("tile", (0, 2), lambda x: x.tile((2,))),
    ("flip", (0, 3), lambda x: x.flip(0)),
    ("roll", (0, 3), lambda x: x.roll(1, 0)),
    ("cat", (0, 3), lambda x: tg.cat([x, x], 0)),
    ("cat-nonempty", (0, 3), lambda x: tg.cat([x, tg.ones(2, 3, dtype=tg.float64)], 0)),
    ("stack", (0, 3), lambda x: tg.stack([x, x], 1)),
    ("split", (0, 3), lambda x: x.split(1, 1)[2]),
    ("chunk", (0, 4), lambda x: x.chunk(2, 1)[1]),
    ("unbind", (0, 2), lambda x: x.unbind(1)[0]),
    ("narrow", (0, 3), lambda x: x.narrow(1, 1, 2)),
    ("narrow-0", (2, 3), lambda x: x.narrow(1, 1, 0)),
    ("movedim", (0, 2, 3), lambda x: x.movedim(0, 2)),
    ("getitem-slice", (0, 3), lambda x: x[:, 1:]),
    ("getitem-empty-list", (3, 2), lambda x: x[[]]),
    ("getitem-mask", (2, 3), lambda x: x[tg.tensor(np.zeros((2, 3), bool))]),
    ("getitem-int-array", (0, 3), lambda x: x[:, [0, 2]]),
    ("index_select", (3, 2), lambda x: x.index_select(0, I0)),
    ("gather", (2, 3), lambda x: x.gather(1, tg.tensor(np.zeros((2, 0), np.int64)))),
    ("take_along_dim", (0, 3), lambda x: x.take_along_dim(tg.tensor(np.zeros((0, 1), np.int64)), 1)),
    ("scatter", (0, 3), lambda x: x.scatter(1, tg.tensor(np.zeros((0, 1), np.int64)), 1.0)),
    ("scatter_add", (2, 3), lambda x: x.scatter_add(1, tg.tensor(np.zeros((2, 0), np.int64)),
                                                    tg.zeros(2, 0, dtype=tg.float64))),
    ("masked_fill", (0, 3), lambda x: x.masked_fill(tg.tensor([True, False, True]), 1.0)),
    ("pad-constant", (0, 3), lambda x: tg.pad(x, (1, 1))),
    ("pad-reflect", (0, 2, 3), lambda x: tg.pad(x, (1, 1), mode="reflect")),
    ("pad-replicate", (0, 2, 3), lambda x: tg.pad(x, (1, 1), mode="replicate")),
    ("add", (0, 3), lambda x: x + tg.ones(3, dtype=tg.float64)),
    ("add-broadcast-to-0", (2, 3), lambda x: x[:, None] + tg.ones(2, 0, 3, dtype=tg.float64)),
    ("mul", (0, 3), lambda x: x * x),
    ("div", (0, 3), lambda x: x / 2.0),
    ("pow", (0, 3), lambda x: x ** 2),
    ("exp", (0,), tg.exp),
    ("log", (0,), tg.log),
    ("tanh", (2, 0), tg.tanh),
    ("abs", (2, 0), tg.abs),
    ("maximum", (0, 3), lambda x: tg.maximum(x, tg.zeros(3, dtype=tg.float64))),
    ("where", (0, 3), lambda x: tg.where(x > 0, x, 0.0)),
    ("clamp", (0, 3), lambda x: x.clamp(-1.0, 1.0)),
    ("matmul", (0, 3), lambda x: x @ tg.ones(3, 2, dtype=tg.float64)),
    ("matmul-inner-0", (2, 0), lambda x: x @ tg.ones(0, 2, dtype=tg.float64)),
    ("sum-all", (0, 3), lambda x: x.sum()),
    ("sum-dim", (0, 3), lambda x: x.sum(0)),
    ("sum-other-dim", (0, 3), lambda x: x.sum(1)),
    ("mean-dim", (0, 3), lambda x: x.mean(1)),
    ("amax-nonempty-dim", (0, 3), lambda x: x.amax(1)),
    ("softmax", (0, 3), lambda x: tg.softmax(x, -1)),
]


@pytest.mark.parametrize("name,shape,f", EMPTY_CASES, ids=[c[0] for c in EMPTY_CASES])
def test_empty_forward_and_backward(name, shape, f):
    a = np.zeros(shape)
    x = tg.tensor(a, requires_grad=True)
    out = f(x)
    assert out.requires_grad
    u = tg.tensor(np.ones(out.shape))
    (g,) = tg.grad(out, x, u, allow_unused=True)
    assert g is not None and g.shape == x.shape and g.dtype == x.dtype
    if x.numel() == 0 or out.numel() == 0:
        assert not np.any(g.numpy())


def test_empty_reductions_follow_numpy_identities():
    x = tg.tensor(np.zeros((0, 3)), requires_grad=True)
    assert float(x.sum()) == 0.0
    np.testing.assert_array_equal(x.sum(0).numpy(), np.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(float(x.mean()))
        assert np.isnan(x.mean(0).numpy()).all()
    (g,) = tg.grad(x.sum(), x)
    assert g.shape == (0, 3)
    with pytest.raises((IndexError, RuntimeError, ValueError)):
        x.amax(0)  # no identity for max over an empty dim (NumPy and PyTorch raise too)


def test_empty_index_ops_out_of_range_still_checked_on_nonempty():
    with pytest.raises(IndexError):
        tg.zeros(0, 3).index_select(0, tg.tensor([0]))


# -- 44: 0-d vs shape-(1,) outputs, Python scalars ----------------------------------------------
@pytest.mark.parametrize("shape", [(), (1,), (1, 1), (1, 1, 1)])
def test_backward_accepts_any_single_element_output(shape):
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum().reshape(shape)
    assert y.shape == shape
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    (g,) = tg.grad((x * x).sum().reshape(shape), x)
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0, 6.0])


def test_multi_element_output_needs_explicit_gradient():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (x * 2).backward()


def test_single_element_gradient_keeps_input_shape():
    for shape in [(), (1,), (1, 1)]:
        x = tg.tensor(np.full(shape, 3.0), requires_grad=True)
        y = x * x
        y.backward()
        assert x.grad.shape == shape
        np.testing.assert_array_equal(x.grad.numpy(), np.full(shape, 6.0))


def _leaves(t):
    out, stack, seen = [], [t.node], set()
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        if n.is_leaf:
            out.append(n)
        else:
            stack.extend(n.next)
    return out


def test_python_scalars_never_become_leaves():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = ((2.0 * x + 3) / 4.0 - 1.5) ** 2 * 0.5 + tg.maximum(x, 0.5) + tg.where(x > 1, x, 2.0)
    y = tg.clamp(y, -10.0, 10.0).masked_fill(tg.tensor([False, True]), 7.0).sum()
    assert _leaves(y) == [x.node]
    (g,) = tg.grad(y, [x])
    assert g.shape == x.shape
    # a float from .item() is a plain number: it carries no graph
    s = (x * x).sum().item()
    assert isinstance(s, float)
    z = x * s
    assert _leaves(z.sum()) == [x.node]


def test_numpy_scalars_and_0d_arrays_are_constants():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * np.float64(2.0) + np.array(1.0)).sum()
    assert _leaves(y) == [x.node]
