"""PyTorch parity for ops/extra.py: values (float64 and float32), first- and second-order
gradients and forward-mode tangents per row; then method-only helpers, in-place ops, the
random fills' reproducibility, and error cases."""
import numpy as np
import pytest
import torch

import tapegrad as tg
from parity import Row, check_row, parametrize, uniform as r, uniform2 as r2, normals


def ints(*arrays):
    return lambda rng: [np.array(a) for a in arrays]


def with_nans(rng):
    x = rng.standard_normal((3, 4))
    x[0, 1] = x[2, 3] = np.nan
    return [x]


def idx(*index):
    """A float input plus a fixed integer index."""
    return lambda shape: (lambda rng: [rng.standard_normal(shape), np.array(index)])


def off_int(*shape):
    return lambda rng: [rng.integers(-3, 3, shape) + rng.uniform(0.1, 0.9, shape)]


def mask_in(shape, mshape):
    return lambda rng: [rng.standard_normal(shape), rng.uniform(size=mshape) > 0.5]


ROWS = [
    Row("clamp_min", lambda x: tg.clamp_min(x, 0.1), lambda x: torch.clamp_min(x, 0.1),
        off_int(2, 3)),
    Row("clamp_min-method", lambda x: x.clamp_min(-0.5), lambda x: x.clamp_min(-0.5),
        off_int(4)),
    Row("clamp_min-tensor", tg.clamp_min, torch.clamp_min, r2((2, 3), (3,), low2=-0.2, high2=0.2)),
    Row("clamp_max", lambda x: tg.clamp_max(x, 0.1), lambda x: torch.clamp_max(x, 0.1),
        off_int(2, 3)),
    Row("clamp_max-method", lambda x: x.clamp_max(1.5), lambda x: x.clamp_max(1.5), off_int(4)),
    Row("nonzero", tg.nonzero, torch.nonzero, ints([[0, 1, 2], [3, 0, 0]]), grad=False),
    Row("nonzero-float", lambda x: x.nonzero(), lambda x: x.nonzero(),
        lambda rng: [np.array([0.0, 1.5, 0.0, -2.0])], grad=False, f32=False),
    Row("nonzero-as_tuple", lambda x: tg.nonzero(x, as_tuple=True),
        lambda x: torch.nonzero(x, as_tuple=True), ints([[0, 1, 2], [3, 0, 0]]), grad=False),
    Row("isclose", tg.isclose, torch.isclose,
        lambda rng: [np.array([1.0, 2.0, np.nan, 3.0]), np.array([1.0 + 1e-9, 2.1, np.nan, 3.0])],
        grad=False),
    Row("isclose-equal_nan", lambda a, b: a.isclose(b, rtol=0.1, equal_nan=True),
        lambda a, b: a.isclose(b, rtol=0.1, equal_nan=True),
        lambda rng: [np.array([1.0, 2.0, np.nan, 3.0]), np.array([1.05, 2.5, np.nan, 3.0])],
        grad=False),
    Row("nansum", tg.nansum, torch.nansum, with_nans),
    Row("nansum-dim", lambda x: x.nansum(1), lambda x: x.nansum(1), with_nans),
    Row("nansum-int", tg.nansum, torch.nansum, ints([[1, 2], [3, 4]]), grad=False),
    Row("nanmean", tg.nanmean, torch.nanmean, with_nans),
    Row("nanmean-dim", lambda x: tg.nanmean(x, 0, keepdim=True),
        lambda x: torch.nanmean(x, 0, keepdim=True), with_nans),
    Row("addcmul", lambda a, b, c: tg.addcmul(a, b, c, value=0.5),
        lambda a, b, c: torch.addcmul(a, b, c, value=0.5), normals((2, 3), (2, 1), (3,))),
    Row("addcmul-method", lambda a, b, c: a.addcmul(b, c), lambda a, b, c: a.addcmul(b, c),
        normals((3,), (2, 3), (2, 3))),
    Row("addcdiv", lambda a, b, c: tg.addcdiv(a, b, c, value=-2),
        lambda a, b, c: torch.addcdiv(a, b, c, value=-2),
        lambda rng: [rng.standard_normal((2, 3)), rng.standard_normal((2, 3)),
                     rng.uniform(0.5, 2, (3,))]),
    Row("addmm", tg.addmm, torch.addmm, normals((2, 4), (2, 3), (3, 4))),
    Row("addmm-beta-alpha", lambda a, b, c: a.addmm(b, c, beta=0.5, alpha=2),
        lambda a, b, c: a.addmm(b, c, beta=0.5, alpha=2), normals((4,), (2, 3), (3, 4))),
    Row("addmm-beta0", lambda a, b, c: tg.addmm(a, b, c, beta=0),
        lambda a, b, c: torch.addmm(a, b, c, beta=0), normals((2, 4), (2, 3), (3, 4))),
    Row("baddbmm", tg.baddbmm, torch.baddbmm, normals((2, 3, 4), (2, 3, 5), (2, 5, 4))),
    Row("baddbmm-method", lambda a, b, c: a.baddbmm(b, c, beta=2, alpha=-0.5),
        lambda a, b, c: a.baddbmm(b, c, beta=2, alpha=-0.5), normals((1, 4), (2, 3, 5), (2, 5, 4))),
    Row("diff", tg.diff, torch.diff, normals((3, 4))),
    Row("diff-n2-dim0", lambda x: x.diff(n=2, dim=0), lambda x: x.diff(n=2, dim=0),
        normals((4, 3))),
    Row("diff-prepend-append", lambda x, p, a: tg.diff(x, 1, -1, p, a),
        lambda x, p, a: torch.diff(x, 1, -1, p, a), normals((2, 3), (2, 1), (2, 2))),
    Row("diff-n-large", lambda x: tg.diff(x, n=5), lambda x: torch.diff(x, n=5), normals((3,))),
    Row("diff-int", tg.diff, torch.diff, ints([1, 4, 9, 16]), grad=False),
    Row("kron", tg.kron, torch.kron, normals((2, 3), (2, 2))),
    Row("kron-method-mixed", lambda a, b: a.kron(b), lambda a, b: a.kron(b), normals((3,), (2, 2))),
    Row("cross", lambda a, b: tg.cross(a, b, dim=1), lambda a, b: torch.cross(a, b, dim=1),
        normals((2, 3), (2, 3))),
    Row("cross-dim0-broadcast", lambda a, b: a.cross(b, dim=0), lambda a, b: a.cross(b, dim=0),
        normals((3, 2), (3, 1))),
    Row("cross-default-dim", lambda a, b: tg.cross(a, b), lambda a, b: torch.linalg.cross(a, b),
        normals((4, 3), (4, 3))),
    Row("frac", tg.frac, torch.frac, off_int(2, 3)),
    Row("frac-method", lambda x: x.frac(), lambda x: x.frac(), off_int(5)),
    Row("sgn", tg.sgn, torch.sgn, r(2, 3)),
    Row("sgn-method", lambda x: x.sgn(), lambda x: x.sgn(), r(4)),
    Row("hypot", tg.hypot, torch.hypot, r2((2, 3), (3,), low=0.2, high=2)),
    Row("hypot-method", lambda a, b: a.hypot(b), lambda a, b: a.hypot(b), r2((2, 1), (1, 3))),
    Row("xlogy", tg.xlogy, torch.xlogy, r2((2, 3), (3,), low=-2, high=2, low2=0.2, high2=3)),
    Row("xlogy-zeros", tg.xlogy, torch.xlogy,
        lambda rng: [np.array([0.0, 0.0, 1.5, 0.0, 2.0]), np.array([0.0, 2.0, 0.5, np.nan, 1.0])],
        grad=False),
    Row("xlogy-zero-x-grad", tg.xlogy, torch.xlogy,
        lambda rng: [np.array([0.0, 0.0, 1.5]), np.array([0.5, 2.0, 0.5])]),
    Row("xlogy-method-scalar", lambda a: a.xlogy(2.5), lambda a: a.xlogy(2.5), r(3)),
    Row("sinc", tg.sinc, torch.sinc, r(2, 3, low=0.1, high=2)),
    Row("sinc-method", lambda x: x.sinc(), lambda x: x.sinc(), r(4, low=-3, high=-0.1)),
    Row("sinc-zero", tg.sinc, torch.sinc, lambda rng: [np.array([0.0, 0.5])], grad2=False),
    Row("repeat_interleave", lambda x: tg.repeat_interleave(x, 2),
        lambda x: torch.repeat_interleave(x, 2), normals((2, 3))),
    Row("repeat_interleave-dim", lambda x: x.repeat_interleave(3, dim=0),
        lambda x: x.repeat_interleave(3, dim=0), normals((2, 3))),
    Row("repeat_interleave-tensor", lambda x, rep: tg.repeat_interleave(x, rep, dim=1),
        lambda x, rep: torch.repeat_interleave(x, rep, dim=1), idx(1, 0, 2)((2, 3))),
    Row("repeat_interleave-counts", lambda rep: tg.repeat_interleave(rep),
        lambda rep: torch.repeat_interleave(rep), ints([2, 0, 3]), grad=False),
    Row("tensor_split", lambda x: tg.tensor_split(x, 3), lambda x: torch.tensor_split(x, 3),
        normals((7, 2))),
    Row("tensor_split-indices", lambda x: x.tensor_split([1, 3], dim=1),
        lambda x: x.tensor_split([1, 3], dim=1), normals((2, 5))),
    Row("tensor_split-out-of-range", lambda x: tg.tensor_split(x, (1, 6, -1)),
        lambda x: torch.tensor_split(x, (1, 6, -1)), normals((4,))),
    Row("masked_select", tg.masked_select, torch.masked_select, mask_in((2, 3), (2, 3))),
    Row("masked_select-broadcast", lambda x, m: x.masked_select(m),
        lambda x, m: x.masked_select(m), mask_in((3,), (2, 1))),
    Row("index_add", lambda x, i, s: tg.index_add(x, 0, i, s),
        lambda x, i, s: torch.index_add(x, 0, i, s),
        lambda rng: [rng.standard_normal((3, 4)), np.array([2, 0, 2]),
                     rng.standard_normal((3, 4))]),
    Row("index_add-alpha", lambda x, i, s: x.index_add(1, i, s, alpha=2.0),
        lambda x, i, s: x.index_add(1, i, s, alpha=2.0),
        lambda rng: [rng.standard_normal((3, 4)), np.array([3, 1]), rng.standard_normal((3, 2))]),
    Row("index_copy", lambda x, i, s: tg.index_copy(x, 0, i, s),
        lambda x, i, s: torch.index_copy(x, 0, i, s),
        lambda rng: [rng.standard_normal((3, 4)), np.array([2, 0]), rng.standard_normal((2, 4))]),
    Row("index_copy-method", lambda x, i, s: x.index_copy(1, i, s),
        lambda x, i, s: x.index_copy(1, i, s),
        lambda rng: [rng.standard_normal((3, 4)), np.array([3, 1, 0]),
                     rng.standard_normal((3, 3))]),
    Row("index_fill", lambda x, i: tg.index_fill(x, 1, i, -1.5),
        lambda x, i: torch.index_fill(x, 1, i, -1.5), idx(0, 2)((3, 4))),
    Row("index_fill-tensor-value", lambda x, i, v: x.index_fill(0, i, v),
        lambda x, i, v: x.index_fill(0, i, v),
        lambda rng: [rng.standard_normal((3, 4)), np.array([1]), rng.standard_normal(())]),
    Row("take", tg.take, torch.take, idx([0, 5], [-1, 2])((2, 3))),
    Row("take-method", lambda x, i: x.take(i), lambda x, i: x.take(i), idx(3, 3, 0)((4,))),
    Row("rot90", tg.rot90, torch.rot90, normals((2, 3))),
    Row("rot90-k2-dims", lambda x: x.rot90(2, (1, 2)), lambda x: x.rot90(2, (1, 2)),
        normals((2, 3, 4))),
    Row("rot90-k3", lambda x: tg.rot90(x, 3), lambda x: torch.rot90(x, 3), normals((2, 3))),
    Row("rot90-k-neg", lambda x: tg.rot90(x, -1, (1, 0)), lambda x: torch.rot90(x, -1, (1, 0)),
        normals((2, 3))),
    Row("aminmax", lambda x: tuple(tg.aminmax(x)), lambda x: tuple(torch.aminmax(x)),
        normals((3, 4))),
    Row("aminmax-dim", lambda x: tuple(x.aminmax(dim=1)), lambda x: tuple(x.aminmax(dim=1)),
        normals((3, 4))),
    Row("aminmax-keepdim", lambda x: tuple(tg.aminmax(x, dim=0, keepdim=True)),
        lambda x: tuple(torch.aminmax(x, dim=0, keepdim=True)), normals((3, 4))),
    Row("where-method", lambda x, y: x.where(x > 0, y), lambda x, y: x.where(x > 0, y),
        normals((2, 3), (3,))),
    Row("type_as", lambda x, y: x.type_as(y), lambda x, y: x.type_as(y),
        lambda rng: [rng.integers(0, 5, (2, 3)), rng.standard_normal(3)]),
    Row("view_as", lambda x, y: x.view_as(y), lambda x, y: x.view_as(y), normals((2, 3), (3, 2))),
    Row("reshape_as", lambda x, y: x.reshape_as(y), lambda x, y: x.reshape_as(y),
        normals((2, 3), (6,))),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


@pytest.mark.parametrize("a,b", [([1.0, 2.0], [1.0, 2.0 + 1e-9]), ([1.0, 2.0], [1.0, 2.1]),
                                 ([1.0, np.nan], [1.0, np.nan])])
def test_allclose_and_equal_match_torch(a, b):
    ta, tb = tg.tensor(a), tg.tensor(b)
    pa, pb = torch.tensor(a), torch.tensor(b)
    assert tg.allclose(ta, tb) is torch.allclose(pa, pb)
    assert ta.allclose(tb, equal_nan=True) is pa.allclose(pb, equal_nan=True)
    assert tg.equal(ta, tb) is torch.equal(pa, pb)
    assert ta.equal(ta) is pa.equal(pa)
    assert tg.equal(tg.tensor([1, 2]), tg.tensor([[1, 2]])) is False


def test_aminmax_fields():
    out = tg.aminmax(tg.tensor([[3.0, -1.0], [2.0, 5.0]]), dim=1)
    assert out.min.tolist() == [-1.0, 2.0] and out.max.tolist() == [3.0, 5.0]


def test_new_creation_helpers_keep_dtype():
    x = tg.tensor([1.0, 2.0], dtype=tg.float64)
    t = torch.tensor([1.0, 2.0], dtype=torch.float64)
    for name, args in (("new_zeros", ((2, 3),)), ("new_ones", (2, 3)), ("new_full", ((2,), 7)),
                       ("new_tensor", ([1, 2, 3],)), ("new_empty", ((0, 2),))):
        a, b = getattr(x, name)(*args), getattr(t, name)(*args)
        assert a.shape == tuple(b.shape) and str(a.dtype) == str(b.dtype).split(".")[-1], name
        if name != "new_empty":
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    y = x.new_zeros(3, dtype=tg.int64, requires_grad=False)
    assert y.dtype == np.int64 and not y.requires_grad
    assert x.new_ones((2,), requires_grad=True).requires_grad
    src = tg.tensor([1.0, 2.0])
    copy = x.new_tensor(src)
    copy[0] = 5.0
    assert src.tolist() == [1.0, 2.0]            # new_tensor copies
    assert x.is_contiguous() and x.t().is_contiguous()


def test_clamp_inplace_matches_torch_and_records_gradient():
    x0 = np.array([-2.0, -0.3, 0.4, 1.7])
    a = tg.tensor(x0, requires_grad=True)
    t = torch.tensor(x0, requires_grad=True)
    ya, yt = a * 2, t * 2
    assert ya.clamp_(-1.0, 1.0) is ya
    yt.clamp_(-1.0, 1.0)
    np.testing.assert_allclose(ya.numpy(), yt.detach().numpy())
    ya.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy())
    b = tg.tensor(x0)
    b.clamp_(min=0.0)
    assert b.tolist() == np.maximum(x0, 0.0).tolist()
    with pytest.raises(ValueError, match="at least one of min and max"):
        b.clamp_()


def test_masked_fill_inplace_matches_torch_and_records_gradient():
    x0 = np.arange(6.0).reshape(2, 3)
    mask = np.array([True, False, True])
    a = tg.tensor(x0, requires_grad=True)
    t = torch.tensor(x0, requires_grad=True)
    ya, yt = a * 1.0, t * 1.0
    assert ya.masked_fill_(tg.tensor(mask), -1.0) is ya
    yt.masked_fill_(torch.tensor(mask), -1.0)
    np.testing.assert_array_equal(ya.numpy(), yt.detach().numpy())
    (ya * ya).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy())
    with pytest.raises(RuntimeError, match="boolean masks"):
        tg.zeros(3).masked_fill_(tg.tensor([1, 0, 1]), 1.0)


FILLS = [("uniform_", (-1.0, 3.0)), ("normal_", (2.0, 0.5)), ("bernoulli_", (0.3,)),
         ("exponential_", (2.0,)), ("random_", (3, 9)), ("random_", (5,)), ("random_", ())]


@pytest.mark.parametrize("name,args", FILLS, ids=[f"{n}{a}" for n, a in FILLS])
def test_random_fills_are_reproducible_and_in_range(name, args):
    def draw(seed):
        tg.manual_seed(seed)
        x = tg.zeros(2000, dtype=tg.float64)
        assert getattr(x, name)(*args) is x
        return x.numpy().copy()
    a, b, c = draw(7), draw(7), draw(8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    if name == "uniform_":
        assert a.min() >= -1.0 and a.max() < 3.0 and abs(a.mean() - 1.0) < 0.1
    elif name == "normal_":
        assert abs(a.mean() - 2.0) < 0.05 and abs(a.std() - 0.5) < 0.05
    elif name == "bernoulli_":
        assert set(np.unique(a)) <= {0.0, 1.0} and abs(a.mean() - 0.3) < 0.05
    elif name == "exponential_":
        assert a.min() >= 0 and abs(a.mean() - 0.5) < 0.05
    elif args == (3, 9):
        assert set(np.unique(a)) == set(range(3, 9))
    elif args == (5,):
        assert set(np.unique(a)) == set(range(5))
    else:
        assert (a == np.round(a)).all() and a.min() >= 0 and a.max() <= 2 ** 53


def test_random_fills_use_tapegrad_generator_not_numpy_global():
    tg.manual_seed(3)
    a = tg.empty(5).uniform_().numpy().copy()
    tg.manual_seed(3)
    np.random.seed(0)
    np.random.random(10)
    b = tg.empty(5).uniform_().numpy()
    np.testing.assert_array_equal(a, b)
    g = tg.Generator(1) if hasattr(tg, "Generator") else None
    if g is not None:
        x1 = tg.empty(4).normal_(generator=tg.Generator(1)).numpy()
        x2 = tg.empty(4).normal_(generator=tg.Generator(1)).numpy()
        np.testing.assert_array_equal(x1, x2)


def test_random_fill_on_leaf_requiring_grad():
    w = tg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.uniform_()
    with tg.no_grad():
        w.uniform_()
    assert w.requires_grad and (w.numpy() != 0).all()


def test_bernoulli_with_tensor_probabilities():
    tg.manual_seed(0)
    x = tg.empty(4).bernoulli_(tg.tensor([0.0, 1.0, 0.0, 1.0]))
    assert x.tolist() == [0.0, 1.0, 0.0, 1.0]


# -- error cases --------------------------------------------------------------------------------
def test_errors_match_torch_type_and_message():
    x = tg.zeros(2, 3)
    with pytest.raises(RuntimeError,
                       match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        tg.addmm(tg.zeros(2, 5), x, tg.zeros(4, 5))
    with pytest.raises(RuntimeError, match="Expected size for first two dimensions of batch2"):
        tg.baddbmm(tg.zeros(2, 3, 4), tg.zeros(2, 3, 5), tg.zeros(2, 4, 4))
    with pytest.raises(RuntimeError, match="inputs dimension 1 must have length 3"):
        tg.cross(tg.zeros(2, 4), tg.zeros(2, 4), dim=1)
    with pytest.raises(RuntimeError, match="expected total rotation dims == 2"):
        tg.rot90(x, 1, (0, 1, 0))
    with pytest.raises(RuntimeError, match="expected rotation dims to be different"):
        tg.rot90(x, 1, (1, 1))
    with pytest.raises(RuntimeError, match="diff expects input to be at least one-dimensional"):
        tg.diff(tg.tensor(1.0))
    with pytest.raises(IndexError, match="out of bounds"):
        tg.index_add(x, 0, tg.tensor([2]), tg.zeros(1, 3))
    with pytest.raises(IndexError, match="out of range"):
        tg.diff(x, dim=2)
    with pytest.raises(RuntimeError, match="masked_select.*BoolTensor"):
        tg.masked_select(x, tg.zeros(2, 3))
    with pytest.raises(RuntimeError, match="index_copy.*source of shape"):
        tg.index_copy(x, 0, tg.tensor([0]), tg.zeros(2, 3))
    with pytest.raises(RuntimeError, match="repeats can not be negative"):
        tg.repeat_interleave(x, tg.tensor([1, -1, 0]), dim=1)
    with pytest.raises(RuntimeError, match="number of sections must be larger than 0"):
        tg.tensor_split(x, 0)


@pytest.mark.parametrize("call", [
    lambda m: m.addmm(m.zeros(2, 5), m.zeros(2, 3), m.zeros(4, 5)),
    lambda m: m.cross(m.zeros(2, 4), m.zeros(2, 4), dim=1),
    lambda m: m.rot90(m.zeros(3), 1),
    lambda m: m.diff(m.tensor(1.0)),
    lambda m: m.index_add(m.zeros(2, 3), 0, m.tensor([2]), m.zeros(1, 3)),
], ids=["addmm", "cross", "rot90-1d", "diff-0d", "index_add-range"])
def test_error_types_agree_with_torch(call):
    """Same exception class as PyTorch (tapegrad's index error subclasses both)."""
    with pytest.raises(Exception) as et:
        call(torch)
    with pytest.raises(Exception) as eg:
        call(tg)
    assert isinstance(eg.value, et.type)
