"""The Tensor API, factories, dtypes and promotion, grad modes, and gradcheck itself."""
import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.autograd import gradcheck, gradgradcheck


def test_constructors_and_default_dtypes():
    assert tg.tensor([1.0, 2.0]).dtype == tg.float32
    assert tg.tensor([1, 2]).dtype == tg.int64
    assert tg.tensor(True).dtype == tg.bool
    assert tg.tensor(np.zeros(2)).dtype == tg.float64  # NumPy arrays keep their dtype
    assert tg.Variable(5.0, requires_grad=True).dtype == tg.float32
    assert tg.Tensor([1.0]).dtype == tg.float32
    assert tg.tensor([1, 2], dtype=tg.float64).dtype == tg.float64
    assert tg.Variable is tg.Tensor


def test_tensor_copies_from_numpy_shares():
    a = np.zeros(3, dtype=np.float32)
    t, s = tg.tensor(a), tg.from_numpy(a)
    a[0] = 7
    assert t.numpy()[0] == 0 and s.numpy()[0] == 7
    s2 = tg.from_numpy(a, requires_grad=True)
    assert s2.requires_grad and s2.is_leaf


def test_variable_of_existing_tensor_is_a_new_leaf_sharing_data():
    base = tg.ones(3)
    v = tg.Variable(base, requires_grad=True)
    assert v.requires_grad and not base.requires_grad
    with tg.no_grad():
        v.mul_(2)
    assert base.numpy()[0] == 2.0


@pytest.mark.parametrize("name,args", [
    ("zeros", (2, 3)), ("ones", ((2, 3),)), ("empty", ([2, 3],)), ("rand", (2, 3)),
    ("randn", (2, 3))])
def test_factories_shapes_and_dtype(name, args):
    t = getattr(tg, name)(*args)
    assert t.shape == (2, 3) and t.dtype == tg.float32
    assert getattr(tg, name)(*args, dtype=tg.float64).dtype == tg.float64
    assert getattr(tg, name)(*args, requires_grad=True).requires_grad


def test_other_factories():
    assert tg.full((2, 2), 3.0).tolist() == [[3.0, 3.0], [3.0, 3.0]]
    assert tg.full((1,), 3).dtype == tg.int64
    assert tg.arange(5).tolist() == [0, 1, 2, 3, 4] and tg.arange(5).dtype == tg.int64
    assert tg.arange(0, 1, 0.5).dtype == tg.float32
    np.testing.assert_allclose(tg.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(tg.eye(3).numpy(), np.eye(3))
    r = tg.randint(0, 10, (100,))
    assert r.dtype == tg.int64 and r.numpy().min() >= 0 and r.numpy().max() < 10
    x = tg.randn(2, 3, dtype=tg.float64)
    for like in ("zeros_like", "ones_like", "rand_like", "randn_like", "empty_like"):
        t = getattr(tg, like)(x)
        assert t.shape == (2, 3) and t.dtype == tg.float64
    assert tg.full_like(x, 2.0).numpy().sum() == 12.0


def test_manual_seed_makes_every_random_function_reproducible():
    def draw():
        return (tg.rand(3).numpy(), tg.randn(3).numpy(), tg.randint(0, 100, (3,)).numpy(),
                tg.randperm(5).numpy(), tg.randn_like(tg.zeros(2)).numpy())
    tg.manual_seed(123)
    a = draw()
    tg.manual_seed(123)
    b = draw()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    tg.manual_seed(124)
    assert not np.array_equal(draw()[1], a[1])


def test_properties():
    x = tg.randn(2, 3, requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2 and x.size() == (2, 3)
    assert x.size(1) == 3 and x.numel() == 6 and len(x) == 2 and x.T.shape == (3, 2)
    assert x.is_leaf and x.grad_fn is None
    y = x * 2
    assert not y.is_leaf and y.grad_fn.name == "mul" and y.requires_grad
    d = x.data
    assert not d.requires_grad and np.shares_memory(d.numpy(), x.numpy())
    c = x.clone()
    assert c.grad_fn.name == "clone" and not np.shares_memory(c.numpy(), x.numpy())


def test_conversions():
    x = tg.tensor([[1.5]])
    assert x.item() == 1.5 and float(x) == 1.5 and int(tg.tensor(3)) == 3
    assert x.tolist() == [[1.5]] and np.asarray(x).shape == (1, 1)
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="cannot be converted"):
        tg.tensor([1.0, 2.0]).item()
    with pytest.raises(TypeError, match="0-d"):
        len(tg.tensor(1.0))
    assert bool(tg.tensor(1.0)) and not bool(tg.tensor(0))


def test_repr_shows_values_dtype_and_grad_fn():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], dtype=float32, requires_grad=True)"
    assert "grad_fn=<mul>" in repr(x * 2) and "dtype=float32" in repr(x * 2)
    assert repr(tg.tensor([1, 2])) == "tensor([1, 2], dtype=int64)"


def test_operators_with_reflected_forms():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    outs = [x + 1, 1 + x, x - 1, 1 - x, x * 2, 2 * x, x / 2, 2 / x, x ** 2, 2 ** x, -x,
            abs(-x), x @ x, np.array([1.0, 1.0]) @ x]
    ref = [[2, 3], [2, 3], [0, 1], [0, -1], [2, 4], [2, 4], [.5, 1], [2, 1], [1, 4],
           [2, 4], [-1, -2], [1, 2], 5, 3]
    for o, r in zip(outs, ref):
        np.testing.assert_allclose(o.numpy(), r)
        assert o.requires_grad


def test_comparisons_return_bool_without_gradient():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for c in (x < 2, x <= 2, x > 2, x >= 2, x == 2, x != 2, 2 < x):
        assert c.dtype == tg.bool and not c.requires_grad
    np.testing.assert_array_equal((x == 2).numpy(), [False, True, False])


def test_type_promotion_follows_pytorch():
    cases = [
        (tg.ones(2), 2.5, tg.float32),                         # python float keeps float32
        (tg.ones(2), 2, tg.float32),
        (tg.ones(2, dtype=tg.int64), 2.5, tg.float32),         # int tensor + float -> default
        (tg.ones(2, dtype=tg.int32), 2, tg.int32),
        (tg.tensor([True]), 1, tg.int64),
        (tg.ones(2), tg.ones(2, dtype=tg.float64), tg.float64),
        (tg.ones(2), tg.tensor(1.0, dtype=tg.float64), tg.float32),  # 0-d doesn't upcast
        (tg.ones(2, dtype=tg.int32), tg.tensor(1.0, dtype=tg.float64), tg.float64),
        (tg.ones(2, dtype=tg.int64), tg.ones(2, dtype=tg.int32), tg.int64),
    ]
    for a, b, expected in cases:
        assert (a + b).dtype == expected, (a.dtype, b, expected)
        ta = torch.from_numpy(a.numpy())
        tb = torch.from_numpy(np.asarray(b.numpy())) if isinstance(b, tg.Tensor) else b
        assert str((ta + tb).dtype).replace("torch.", "") == str(expected)
    assert (tg.tensor([1, 2]) / 2).dtype == tg.float32  # true division of ints
    assert tg.tensor([1, 2]).exp().dtype == tg.float32


def test_basic_indexing_with_gradient():
    x = tg.arange(12, dtype=tg.float64).reshape(3, 4).requires_grad_()
    y = x[1:, ::2].sum() + x[0, 3] * 2 + x[-1][0]
    y.backward()
    expected = np.zeros((3, 4))
    expected[1:, ::2] += 1
    expected[0, 3] += 2
    expected[-1, 0] += 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_in_place_ops_and_version_counter():
    x = tg.tensor([1.0, 2.0])
    v = x._version
    x.add_(1).mul_(2).sub_(1).div_(2)
    np.testing.assert_allclose(x.numpy(), [1.5, 2.5])
    assert x._version == v + 4
    x += 1
    x -= 1
    x *= 2
    x /= 2
    np.testing.assert_allclose(x.numpy(), [1.5, 2.5])
    x.zero_()
    assert x.tolist() == [0, 0]
    x.fill_(3)
    assert x.tolist() == [3, 3]
    x.copy_(tg.tensor([4.0, 5.0]))
    assert x.tolist() == [4, 5]
    with pytest.raises(RuntimeError, match="can't be cast"):
        tg.tensor([1, 2]).add_(0.5)
    with pytest.raises(RuntimeError, match="broadcast shape"):
        tg.zeros(3).add_(tg.zeros(2, 3))


def test_in_place_on_non_leaf_is_differentiable():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 2
    b.mul_(a)  # b = 2a * a
    b.add_(1)
    b.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 4 * a.numpy())
    c = tg.zeros(2)
    w = tg.tensor([3.0, 4.0], requires_grad=True)
    c.add_(w * w)  # a constant becomes part of the graph
    c.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [6.0, 8.0])


def test_requires_grad_flags():
    x = tg.randn(2)
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    x.requires_grad = False
    assert not x.requires_grad


def test_grad_modes_as_decorators_and_contexts():
    x = tg.randn(2, requires_grad=True)

    @tg.no_grad()
    def f():
        return x * 2

    @tg.no_grad
    def g():
        return x * 2

    @tg.enable_grad()
    def h():
        return x * 2

    @tg.set_grad_enabled(False)
    def k():
        return x * 2

    assert not f().requires_grad and not g().requires_grad and not k().requires_grad
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert h().requires_grad
        with tg.enable_grad():
            assert (x * 2).requires_grad
    with tg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert tg.is_grad_enabled()


def test_gradcheck_passes_and_reports_the_worst_element():
    x = tg.randn(3, dtype=tg.float64, requires_grad=True)
    assert gradcheck(lambda t: (t * t).sum(), [x])
    assert gradgradcheck(lambda t: (t ** 3).sum(), [x])

    class Wrong(tg.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t * t

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2 t g

    with pytest.raises(tg.GradcheckError, match=r"input 0.*worst.*numerical.*analytical"):
        gradcheck(Wrong.apply, [x])
    assert gradcheck(Wrong.apply, [x], raise_exception=False) is False


def test_gradcheck_upcasts_float32():
    x = tg.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match="float64"):
        assert gradcheck(lambda t: t.tanh().sum(), [x])


def test_has_nan_and_has_inf():
    assert tg.tensor([1.0, float("nan")]).has_nan() and not tg.tensor([1.0]).has_nan()
    assert tg.tensor([float("inf")]).has_inf() and not tg.tensor([1]).has_inf()
