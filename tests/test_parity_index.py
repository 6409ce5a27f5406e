"""PyTorch parity for indexing, gathering and scattering (values in float64 and float32,
first- and second-order gradients), index conventions tested by value, and the errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tapegrad as tg
from parity import Row, check_row, parametrize, normal, normals, both


r, rs = normal, normals


def lib(a):
    return torch if isinstance(a, torch.Tensor) else tg


def fn(name):
    """Call ``lib.name(*args)`` on whichever library the first tensor belongs to."""
    return lambda a, *rest, **kw: getattr(lib(a), name)(a, *rest, **kw)


def with_index(shape, idx):
    idx = np.asarray(idx)
    return lambda rng: [rng.standard_normal(shape), idx]


def key_of(a, k):
    """Index arrays as the library's own tensors (tensors used as indices)."""
    return torch.tensor(k) if isinstance(a, torch.Tensor) else tg.tensor(k)


def assign(a, key, v):
    y = a.clone()
    y[key] = v
    return y


MASK = np.array([[True, False, True], [False, False, True]])

ROWS = [
    # -- getitem ------------------------------------------------------------------------------
    Row("getitem-neg-int", *both(lambda a: a[-1, -2]), r(3, 4)),
    Row("getitem-slice-step", *both(lambda a: a[::2, 1:3]), r(3, 4)),
    Row("getitem-ellipsis-none", *both(lambda a: a[..., None, 1]), r(2, 3, 4)),
    Row("getitem-int-list", *both(lambda a: a[[0, 2, 2]]), r(3, 4)),
    Row("getitem-repeated", *both(lambda a: a[[1, 1, 1, 0]]), r(3, 2)),
    Row("getitem-neg-array", *both(lambda a: a[[-1, 0, -1]]), r(3, 2)),
    Row("getitem-tensor-index", *both(lambda a: a[key_of(a, np.array([[0, 1], [1, 1]]))]), r(2, 3)),
    Row("getitem-two-arrays", *both(lambda a: a[[0, 1, 1], [2, 0, 2]]), r(2, 3)),
    Row("getitem-mixed", *both(lambda a: a[1:, [0, 2, 0]]), r(3, 4)),
    Row("getitem-split-adv", *both(lambda a: a[[0, 1], :, [1, 1]]), r(2, 3, 4)),
    Row("getitem-bool", *both(lambda a: a[key_of(a, MASK)]), r(2, 3)),
    Row("getitem-bool-row", *both(lambda a: a[key_of(a, np.array([True, False, True]))]), r(3, 2)),
    Row("getitem-bool-mixed", *both(lambda a: a[key_of(a, np.array([True, False])), 1:]), r(2, 3)),
    Row("getitem-comparison", *both(lambda a: a[a > 0]), r(2, 3)),
    Row("getitem-empty", *both(lambda a: a[[]]), r(3, 2)),
    Row("getitem-0d-int-tensor", *both(lambda a: a[key_of(a, np.array(1))]), r(2, 3)),
    Row("getitem-0d-bool-true", *both(lambda a: a[key_of(a, np.array(True))]), r(2, 3)),
    Row("getitem-0d-bool-false", *both(lambda a: a[1, key_of(a, np.array(False))]), r(2, 3)),
    # -- setitem (recorded on a clone) ------------------------------------------------------------
    Row("setitem-basic", *both(lambda a, v: assign(a, (slice(None), 1), v)), rs((2, 3), (2,))),
    Row("setitem-broadcast", *both(lambda a, v: assign(a, (slice(0, 2),), v)), rs((3, 2), (2,))),
    Row("setitem-int-array", *both(lambda a, v: assign(a, ([2, 0],), v)), rs((3, 2), (2, 2))),
    Row("setitem-mask", *both(lambda a, v: assign(a, key_of(a, MASK), v)), rs((2, 3), (3,))),
    Row("setitem-scalar", *both(lambda a: assign(a, (0,), 2.5)), r(2, 3)),
    # -- cat / stack / split ------------------------------------------------------------------
    Row("cat", lambda a, b: tg.cat([a, b]), lambda a, b: torch.cat([a, b]), rs((2, 3), (1, 3))),
    Row("cat-dim", lambda a, b, c: tg.cat((a, b, c), dim=-1),
        lambda a, b, c: torch.cat((a, b, c), dim=-1), rs((2, 1), (2, 3), (2, 2))),
    Row("concat-alias", lambda a, b: tg.concat([a, b], 1), lambda a, b: torch.concat([a, b], 1),
        rs((2, 1), (2, 2))),
    Row("concatenate-axis", lambda a, b: tg.concatenate([a, b], axis=0),
        lambda a, b: torch.concatenate([a, b], axis=0), rs((1, 2), (2, 2))),
    Row("cat-empty-legacy", lambda a, b: tg.cat([a, b], 1), lambda a, b: torch.cat([a, b], 1),
        rs((2, 3), (0,))),
    Row("cat-many", lambda *xs: tg.cat(xs, 0), lambda *xs: torch.cat(xs, 0),
        rs(*[(1, 2)] * 12)),
    Row("stack", lambda a, b: tg.stack([a, b]), lambda a, b: torch.stack([a, b]), rs((2, 3), (2, 3))),
    Row("stack-last", lambda a, b, c: tg.stack([a, b, c], dim=-1),
        lambda a, b, c: torch.stack([a, b, c], dim=-1), rs((3,), (3,), (3,))),
    Row("stack-0d", lambda a, b: tg.stack([a, b]), lambda a, b: torch.stack([a, b]), rs((), ())),
    Row("split-int", *both(lambda a: a.split(2)), r(5, 2)),
    Row("split-sizes", *both(lambda a: a.split([1, 3, 1], dim=1)), r(2, 5)),
    Row("split-fn", *both(lambda a: lib(a).split(a, 3, -1)), r(2, 7)),
    Row("chunk", *both(lambda a: a.chunk(3)), r(5, 2)),
    Row("chunk-fewer", *both(lambda a: a.chunk(4, dim=1)), r(2, 6)),
    Row("unbind", *both(lambda a: a.unbind()), r(3, 2)),
    Row("unbind-dim", *both(lambda a: a.unbind(1)), r(2, 3)),
    Row("unbind-many", *both(lambda a: a.unbind(-1)), r(2, 9)),  # > 4 pieces: cut as a tree
    Row("split-many", *both(lambda a: a.split([1, 2, 0, 3, 1, 1, 2])), r(10, 2)),
    Row("chunk-many", *both(lambda a: a.chunk(6, 1)), r(2, 11)),
    # -- index_select / gather / take_along_dim ------------------------------------------------
    Row("index_select", *both(lambda a, i: a.index_select(0, i)), with_index((3, 4), [2, 0, 2])),
    Row("index_select-dim1", *both(lambda a, i: fn("index_select")(a, 1, i)),
        with_index((3, 4), [3, 1])),
    Row("index_select-0d-index", *both(lambda a, i: a.index_select(1, i)), with_index((2, 3), 1)),
    Row("gather", *both(lambda a, i: a.gather(1, i)), with_index((2, 3), [[0, 2, 2], [1, 0, 1]])),
    Row("gather-dim0-smaller", *both(lambda a, i: fn("gather")(a, 0, i)),
        with_index((3, 4), [[2, 0], [1, 1]])),
    Row("take_along_dim", *both(lambda a, i: fn("take_along_dim")(a, i, dim=1)),
        with_index((2, 3), [[0], [2]])),
    Row("take_along_dim-broadcast", *both(lambda a, i: a.take_along_dim(i, 0)),
        with_index((2, 3), [[1, 0, 1]])),
    Row("take_along_dim-flat", *both(lambda a, i: fn("take_along_dim")(a, i)),
        with_index((2, 3), [5, 0, 5])),
    Row("take_along_dim-argsort", lambda a: tg.take_along_dim(a, tg.tensor(np.argsort(a.numpy(), 1)), 1),
        lambda a: torch.take_along_dim(a, torch.argsort(a, 1), 1), r(2, 4)),
    # -- scatter --------------------------------------------------------------------------------
    Row("scatter", lambda a, i, s: a.scatter(1, i, s), lambda a, i, s: a.scatter(1, i, s),
        lambda rng: [rng.standard_normal((2, 3)), np.array([[2, 0], [1, 2]]),
                     rng.standard_normal((2, 2))]),
    Row("scatter-larger-src", lambda a, i, s: tg.scatter(a, 0, i, s),
        lambda a, i, s: torch.scatter(a, 0, i, s),
        lambda rng: [rng.standard_normal((3, 2)), np.array([[1, 0]]), rng.standard_normal((2, 3))],
        grad=False),  # torch's backward fails here; see test_scatter_larger_src_gradient
    Row("scatter-scalar", *both(lambda a, i: a.scatter(1, i, 1.5)),
        with_index((2, 3), [[0], [2]])),
    Row("scatter-value-kw", *both(lambda a, i: a.scatter(1, i, value=-2.0)),
        with_index((2, 3), [[0, 1], [2, 2]])),
    Row("scatter_add", lambda a, i, s: a.scatter_add(1, i, s),
        lambda a, i, s: a.scatter_add(1, i, s),
        lambda rng: [rng.standard_normal((2, 3)), np.array([[2, 0, 2], [1, 1, 1]]),
                     rng.standard_normal((2, 3))]),
    Row("scatter_add-repeats", lambda a, i, s: tg.scatter_add(a, 0, i, s),
        lambda a, i, s: torch.scatter_add(a, 0, i, s),
        lambda rng: [rng.standard_normal((3,)), np.array([1, 1, 1, 0]), rng.standard_normal((4,))]),
    Row("scatter-reduce-add", lambda a, i, s: a.scatter(1, i, s, reduce="add"),
        lambda a, i, s: a.scatter_add(1, i, s),
        lambda rng: [rng.standard_normal((2, 3)), np.array([[2, 2], [0, 1]]),
                     rng.standard_normal((2, 2))]),
    # -- masked_fill ----------------------------------------------------------------------------
    Row("masked_fill", *both(lambda a, m: a.masked_fill(m, 0.5)),
        lambda rng: [rng.standard_normal((2, 3)), MASK]),
    Row("masked_fill-broadcast-mask", *both(lambda a, m: a.masked_fill(m, -1.0)),
        lambda rng: [rng.standard_normal((2, 3)), np.array([True, False, True])]),
    Row("masked_fill-broadcast-out", *both(lambda a, m: fn("masked_fill")(a, m, 3.0)),
        lambda rng: [rng.standard_normal((3,)), np.array([[True], [False]])]),
    Row("masked_fill-tensor-value", *both(lambda a, m, v: a.masked_fill(m, v)),
        lambda rng: [rng.standard_normal((2, 3)), MASK, rng.standard_normal(())]),
    # -- pad --------------------------------------------------------------------------------------
    Row("pad-constant", lambda a: tg.pad(a, (1, 2)), lambda a: F.pad(a, (1, 2)), r(2, 3)),
    Row("pad-constant-2d-value", lambda a: tg.nn.functional.pad(a, (1, 0, 0, 2), value=0.5),
        lambda a: F.pad(a, (1, 0, 0, 2), value=0.5), r(2, 3)),
    Row("pad-constant-3dims", lambda a: tg.pad(a, (1, 1, 0, 1, 2, 0)),
        lambda a: F.pad(a, (1, 1, 0, 1, 2, 0)), r(2, 2, 2)),
    Row("pad-negative-crop", lambda a: tg.pad(a, (-1, 2, 1, -1)),
        lambda a: F.pad(a, (-1, 2, 1, -1)), r(3, 4)),
    Row("pad-reflect-1d", lambda a: tg.pad(a, (2, 3), mode="reflect"),
        lambda a: F.pad(a, (2, 3), mode="reflect"), r(1, 2, 4)),
    Row("pad-reflect-2d", lambda a: tg.pad(a, (1, 2, 2, 1), mode="reflect"),
        lambda a: F.pad(a, (1, 2, 2, 1), mode="reflect"), r(1, 1, 3, 3)),
    Row("pad-replicate-1d", lambda a: tg.pad(a, (2, 1), mode="replicate"),
        lambda a: F.pad(a, (2, 1), mode="replicate"), r(1, 2, 3)),
    Row("pad-replicate-2d", lambda a: tg.pad(a, (1, 1, 3, 0), mode="replicate"),
        lambda a: F.pad(a, (1, 1, 3, 0), mode="replicate"), r(1, 1, 2, 3)),
    Row("pad-circular", lambda a: tg.pad(a, (2, 1), mode="circular"),
        lambda a: F.pad(a, (2, 1), mode="circular"), r(1, 2, 3)),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


# -- one_hot (no gradient) --------------------------------------------------------------------
@pytest.mark.parametrize("idx,n", [([0, 3, 1], -1), ([[1, 0], [2, 2]], 4), (2, 3), ([], 3)])
def test_one_hot(idx, n):
    a = np.array(idx, dtype=np.int64)
    got = tg.nn.functional.one_hot(tg.tensor(a), n)
    want = F.one_hot(torch.tensor(a), n)
    assert got.dtype == np.int64 and not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), want.numpy())


# -- conventions tested by value ---------------------------------------------------------------
def test_repeated_indices_accumulate():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])
    x.grad = None
    x.gather(0, tg.tensor([2, 2])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 2.0])
    x.grad = None
    x.index_select(0, tg.tensor([1, 1, 1])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 3.0, 0.0])


def test_scatter_gradient_of_overwritten_places_is_zero():
    x = tg.tensor(np.ones((2, 3)), requires_grad=True)
    s = tg.tensor(np.ones((2, 1)) * 5, requires_grad=True)
    out = x.scatter(1, tg.tensor([[2], [0]]), s)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1, 0], [0, 1, 1]])
    np.testing.assert_array_equal(s.grad.numpy(), [[1], [1]])


def test_masked_fill_gradient_is_selected_not_multiplied():
    # an inf cotangent at a filled place must not become inf * 0 = nan for x
    x = tg.tensor([2.0, 1.0], requires_grad=True)
    y = x.masked_fill(tg.tensor([True, False]), 0.0)
    (g,) = tg.grad(y, x, tg.tensor([float("inf"), 1.0]))
    np.testing.assert_array_equal(g.numpy(), [0.0, 1.0])


def test_scatter_larger_src_gradient():
    # torch 2.13 fails in backward here (ScatterBackward0 returns the index-shaped gradient);
    # tapegrad gives src's unused part a zero gradient
    x = tg.tensor(np.zeros((3, 2)), requires_grad=True)
    s = tg.tensor(np.ones((2, 3)), requires_grad=True)
    x.scatter(0, tg.tensor([[1, 0]]), s).sum().backward()
    np.testing.assert_array_equal(s.grad.numpy(), [[1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0], [0, 1], [1, 1]])


def test_negative_step_slice():
    # torch rejects negative steps; tapegrad follows NumPy
    a = np.arange(12.0).reshape(3, 4)
    x = tg.tensor(a, requires_grad=True)
    y = x[::-2, 1:3]
    np.testing.assert_array_equal(y.numpy(), a[::-2, 1:3])
    (y * tg.tensor(np.arange(4.0).reshape(2, 2))).sum().backward()
    want = np.zeros((3, 4))
    want[::-2, 1:3] = np.arange(4.0).reshape(2, 2)
    np.testing.assert_array_equal(x.grad.numpy(), want)


def test_cat_stack_split_first_class_views_and_int_promotion():
    a = tg.tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    b = tg.tensor(np.arange(4).reshape(2, 2))
    out = tg.cat([a, b], 1)
    assert out.dtype == np.float32  # as torch: float32 with int64 stays float32
    assert tg.stack([a, b]).dtype == np.float32
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((2, 2)))
    parts = a.split(1)
    assert len(parts) == 2 and all(p.grad_fn is not None for p in parts)
    assert parts[0].grad_fn is not parts[1].grad_fn
    assert tg.cat(a, b, dim=0).shape == (4, 2)  # varargs form


def test_cat_many_inputs_one_node():
    xs = [tg.tensor(np.full((1, 3), float(i)), requires_grad=True) for i in range(200)]
    out = tg.cat(xs)
    assert out.grad_fn.name == "cat"
    (out * tg.tensor(np.arange(200.0)[:, None])).sum().backward()
    np.testing.assert_array_equal([x.grad.numpy()[0, 0] for x in xs], np.arange(200.0))


def test_forward_mode_through_cat_with_constant_input():
    from helpers import jvp_by_replay
    a = tg.tensor(np.ones(2), requires_grad=True)
    c = tg.tensor(np.zeros(3))
    out, t = jvp_by_replay(lambda a: tg.cat([c, a * 2]), [a], [tg.tensor(np.ones(2))])
    np.testing.assert_array_equal(t.numpy(), [0, 0, 0, 2, 2])


def test_setitem_jvp_without_base_tangent():
    from helpers import jvp_by_replay
    v = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)

    def f(v):
        x = tg.zeros(4, dtype=tg.float64)
        x[1:3] = v * 3
        return x
    out, t = jvp_by_replay(f, [v], [tg.tensor(np.ones(2))])
    np.testing.assert_array_equal(t.numpy(), [0, 3, 3, 0])


def test_getitem_second_order_through_advanced_index():
    x = tg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = (x[[0, 0, 2]] ** 3).sum()
    (g,) = tg.grad(y, x, create_graph=True)
    (h,) = tg.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), [2 * 6 * 1.0, 0, 6 * 3.0])


# -- errors --------------------------------------------------------------------------------------
X = tg.zeros(2, 3)
IDX_BAD = tg.tensor([[0, 5]])
ERRORS = [
    ("getitem-oob", lambda: X[5], IndexError, "index 5 is out of bounds"),
    ("getitem-oob-array", lambda: X[tg.tensor([0, 5])], IndexError, "shape \\[2, 3\\]"),
    ("getitem-float-index", lambda: X[tg.tensor([0.0])], IndexError, "long, int or bool"),
    ("index_select-oob", lambda: X.index_select(1, tg.tensor([3])), IndexError,
     "index_select.*index 3.*size 3"),
    ("index_select-2d", lambda: X.index_select(1, tg.tensor([[0]])), IndexError, "vector"),
    ("gather-oob", lambda: X.gather(1, IDX_BAD), IndexError, "gather.*index 5.*size 3"),
    ("gather-oob-is-runtime", lambda: X.gather(1, IDX_BAD), RuntimeError, "out of bounds"),
    ("gather-neg", lambda: X.gather(0, tg.tensor([[-1]])), IndexError, "index -1"),
    ("gather-ndim", lambda: X.gather(1, tg.tensor([0])), RuntimeError, "same number of dim"),
    ("gather-float", lambda: X.gather(1, tg.tensor([[0.0]])), RuntimeError, "int64"),
    ("gather-size", lambda: X.gather(1, tg.tensor([[0], [0], [0]])), RuntimeError,
     "Size does not match"),
    ("scatter-oob", lambda: X.scatter(1, IDX_BAD, 1.0), IndexError, "scatter.*index 5"),
    ("scatter-dtype", lambda: X.scatter(1, tg.tensor([[0]]), tg.zeros(1, 1, dtype=tg.float64)),
     RuntimeError, "dtype"),
    ("scatter_add-oob", lambda: X.scatter_add(0, tg.tensor([[2]]), tg.zeros(1, 1)), IndexError,
     "scatter_add.*index 2.*size 2"),
    ("take_along_dim-oob", lambda: X.take_along_dim(tg.tensor([[3]]), 1), IndexError,
     "take_along_dim.*index 3"),
    ("take_along_dim-ndim", lambda: X.take_along_dim(tg.tensor([0]), 1), RuntimeError,
     "same number of dim"),
    ("masked_fill-float-mask", lambda: X.masked_fill(tg.tensor([1.0, 0.0, 1.0]), 1.0),
     RuntimeError, "boolean masks"),
    ("masked_fill-vector-value", lambda: X.masked_fill(tg.tensor([True]), tg.zeros(2)),
     RuntimeError, "0-dimensional value"),
    ("masked_fill-shape", lambda: X.masked_fill(tg.tensor([True, False]), 1.0), RuntimeError,
     "broadcast"),
    ("cat-empty", lambda: tg.cat([]), ValueError, "non-empty"),
    ("cat-0d", lambda: tg.cat([tg.tensor(1.0)]), RuntimeError, "zero-dimensional"),
    ("cat-shape", lambda: tg.cat([X, tg.zeros(3, 3)], 1), RuntimeError,
     "must match except in dimension 1.*\\[3, 3\\]"),
    ("cat-dim", lambda: tg.cat([X, X], 2), IndexError, "cat.*out of range"),
    ("stack-shape", lambda: tg.stack([X, tg.zeros(3, 3)]), RuntimeError, "equal size"),
    ("stack-dim", lambda: tg.stack([X, X], 4), IndexError, "stack.*out of range"),
    ("split-sum", lambda: X.split([1, 1], 1), RuntimeError, "sum exactly to 3"),
    ("split-zero", lambda: X.split(0, 1), RuntimeError, "split_size"),
    ("chunk-zero", lambda: X.chunk(0), RuntimeError, "greater than 0"),
    ("pad-odd", lambda: tg.pad(X, (1,)), RuntimeError, "divisible by 2"),
    ("pad-long", lambda: tg.pad(X, (1,) * 6), RuntimeError, "Padding length"),
    ("pad-reflect-big", lambda: tg.pad(X, (3, 3), mode="reflect"), RuntimeError,
     "less than the corresponding input dimension"),
    ("pad-mode", lambda: tg.pad(X, (1, 1), mode="wrap"), NotImplementedError, "wrap"),
    ("one_hot-big", lambda: tg.one_hot(tg.tensor([0, 3]), 3), IndexError, "smaller than"),
    ("one_hot-neg", lambda: tg.one_hot(tg.tensor([-1]), 3), RuntimeError, "non-negative"),
    ("one_hot-float", lambda: tg.one_hot(tg.tensor([0.0]), 3), RuntimeError, "integer type"),
    ("one_hot-empty", lambda: tg.one_hot(tg.tensor(np.array([], dtype=np.int64))), RuntimeError,
     "infer"),
]


@pytest.mark.parametrize("name,f,exc,frag", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(name, f, exc, frag):
    with pytest.raises(exc, match=frag):
        f()
