"""F.interpolate in every mode (and nn.Upsample, the deprecated upsample forms, adaptive
average pooling in 1-d and 3-d) against PyTorch 2.13: values, gradients, second order (the
VJP of the VJP, through the cotangent: each mode is linear, so that is the forward again),
forward mode, float32, PyTorch's own OpInfo samples (all of them), index rules on exact
ties, the PyTorch bug where tapegrad differs on purpose, and errors."""
import warnings

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.core.errors import ShapeError

from parity import Row, check_row, parametrize

torch = pytest.importorskip("torch")
TF = torch.nn.functional

#: (name, input shape, F.interpolate keywords)
CASES = [
    ("nearest-1d-up", (2, 3, 4), dict(size=7)),
    ("nearest-1d-down", (2, 2, 9), dict(size=4)),
    ("nearest-2d-scale", (1, 2, 3, 4), dict(scale_factor=2)),
    ("nearest-2d-scale-pair", (1, 2, 5, 4), dict(scale_factor=(1.7, 0.6))),
    ("nearest-2d-recompute", (1, 1, 5, 4), dict(scale_factor=1.7, recompute_scale_factor=True)),
    ("nearest-3d", (1, 2, 3, 4, 2), dict(size=(5, 3, 4))),
    ("nearest-exact-1d", (2, 2, 5), dict(size=8, mode="nearest-exact")),
    ("nearest-exact-2d-scale", (1, 2, 4, 5), dict(scale_factor=(0.6, 1.7),
                                                  mode="nearest-exact")),
    ("nearest-exact-3d", (1, 1, 4, 3, 5), dict(size=(2, 5, 3), mode="nearest-exact")),
    ("linear", (2, 3, 4), dict(size=7, mode="linear")),
    ("linear-align", (2, 2, 5), dict(size=3, mode="linear", align_corners=True)),
    ("linear-scale", (1, 2, 4), dict(scale_factor=1.7, mode="linear")),
    ("linear-one-output", (1, 2, 5), dict(size=1, mode="linear")),
    ("linear-one-output-align", (1, 2, 5), dict(size=1, mode="linear", align_corners=True)),
    ("bilinear", (1, 2, 3, 4), dict(size=(5, 7), mode="bilinear")),
    ("bilinear-align", (2, 1, 4, 3), dict(size=(3, 6), mode="bilinear", align_corners=True)),
    ("bilinear-scale", (1, 2, 4, 4), dict(scale_factor=(0.6, 2.5), mode="bilinear")),
    ("bilinear-recompute", (1, 2, 4, 5), dict(scale_factor=1.7, mode="bilinear",
                                              recompute_scale_factor=True)),
    ("bicubic-up", (1, 2, 4, 5), dict(size=(7, 9), mode="bicubic")),
    ("bicubic-down", (1, 2, 8, 9), dict(size=(3, 4), mode="bicubic")),
    ("bicubic-align", (2, 1, 4, 5), dict(size=(6, 3), mode="bicubic", align_corners=True)),
    ("bicubic-scale", (1, 1, 5, 4), dict(scale_factor=(1.7, 0.6), mode="bicubic")),
    ("trilinear", (1, 2, 3, 4, 2), dict(size=(5, 3, 4), mode="trilinear")),
    ("trilinear-align", (1, 1, 3, 2, 4), dict(size=(4, 5, 2), mode="trilinear",
                                              align_corners=True)),
    ("trilinear-scale", (1, 1, 4, 3, 3), dict(scale_factor=(0.6, 1.7, 2.0),
                                              mode="trilinear")),
    ("area-1d", (2, 2, 7), dict(size=3, mode="area")),
    ("area-2d", (1, 2, 5, 7), dict(size=(3, 4), mode="area")),
    ("area-2d-up", (1, 1, 3, 2), dict(size=(5, 7), mode="area")),
    ("area-3d-scale", (1, 1, 4, 6, 5), dict(scale_factor=0.5, mode="area")),
    ("empty-batch", (0, 2, 4), dict(size=6, mode="linear")),
]


def _rows():
    rows = []
    for name, shape, kw in CASES:
        rows.append(Row(name, lambda x, kw=kw: F.interpolate(x, **kw),
                        lambda x, kw=kw: TF.interpolate(x, **kw),
                        lambda rng, shape=shape: [rng.standard_normal(shape)],
                        rtol=1e-10, atol=1e-12, f32=False))
    return rows


@parametrize(_rows())
def test_interpolate_matches_pytorch(row):
    """Values, gradients and forward mode in float64 (parity.py's checks)."""
    check_row(row)


def _second_order(lib, x, kw, u, v):
    """d/du <VJP(u), v>: the VJP of the VJP, which for a linear map is the map applied to
    v (through the cotangent u, which takes gradients)."""
    fn, grad = (TF.interpolate, torch.autograd.grad) if lib is torch else (F.interpolate,
                                                                           tg.grad)
    new = torch.tensor if lib is torch else tg.tensor
    xt = new(x).requires_grad_()
    ut = new(u).requires_grad_()
    (gx,) = grad(fn(xt, **kw), [xt], ut, create_graph=True)
    (gu,) = grad((gx * new(v)).sum(), [ut])
    return gu.detach().numpy() if lib is torch else gu.numpy()


@pytest.mark.parametrize("name,shape,kw", CASES, ids=[c[0] for c in CASES])
def test_second_order_matches_pytorch(name, shape, kw):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    out_shape = tuple(TF.interpolate(torch.tensor(x), **kw).shape)
    u, v = rng.standard_normal(out_shape), rng.standard_normal(shape)
    np.testing.assert_allclose(_second_order(tg, x, kw, u, v),
                               _second_order(torch, x, kw, u, v), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,shape,kw", CASES, ids=[c[0] for c in CASES])
def test_float32_matches_pytorch(name, shape, kw):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    out = F.interpolate(tg.tensor(x), **kw)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), TF.interpolate(torch.tensor(x), **kw).numpy(),
                               rtol=1e-5, atol=1e-5)


# -- PyTorch's own samples ----------------------------------------------------------------
def _opinfo_entries():
    from torch.testing._internal.common_methods_invocations import op_db
    names = ("nn.functional.interpolate", "nn.functional.upsample_nearest",
             "nn.functional.upsample_bilinear")
    return [(f"{i.name}.{i.variant_test_name}".rstrip("."), i) for i in op_db
            if i.name in names]


ENTRIES = _opinfo_entries()


@pytest.mark.parametrize("key,info", ENTRIES, ids=[k for k, _ in ENTRIES])
def test_every_opinfo_sample(key, info):
    """All of PyTorch's samples for the entry (not a capped few), float64: values, the VJP,
    and the second order through the cotangent."""
    fn = getattr(F, info.name.rsplit(".", 1)[-1])
    rng = np.random.default_rng(0)
    n = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the deprecated upsample_* warn, in both libraries
        for s in info.sample_inputs("cpu", torch.float64, requires_grad=True):
            x = s.input.detach().numpy()
            args = tuple(tuple(a) if isinstance(a, torch.Size) else a for a in s.args)
            kw = {k: tuple(v) if isinstance(v, torch.Size) else v for k, v in s.kwargs.items()}
            t_out = info.op(s.input, *s.args, **s.kwargs)
            xg = tg.tensor(x, requires_grad=True)
            g_out = fn(xg, *args, **kw)
            np.testing.assert_allclose(g_out.numpy(), t_out.detach().numpy(), rtol=1e-10,
                                       atol=1e-12, err_msg=f"{key} {s}")
            u = tg.tensor(rng.standard_normal(g_out.shape), requires_grad=True)
            ut = torch.tensor(u.numpy(), requires_grad=True)
            (gg,) = tg.grad(g_out, [xg], u, create_graph=True)
            (gt,) = torch.autograd.grad(t_out, [s.input], ut, create_graph=True)
            np.testing.assert_allclose(gg.numpy(), gt.detach().numpy(), rtol=1e-10, atol=1e-12)
            v = rng.standard_normal(x.shape)
            (hg,) = tg.grad((gg * tg.tensor(v)).sum(), [u])
            (ht,) = torch.autograd.grad((gt * torch.tensor(v)).sum(), [ut])
            np.testing.assert_allclose(hg.numpy(), ht.numpy(), rtol=1e-10, atol=1e-12)
            n += 1
    assert n >= 4


# -- index rules ----------------------------------------------------------------------------
def _positions(lib, n_in, kw, dtype):
    x = np.arange(n_in, dtype=dtype).reshape(1, 1, n_in)
    out = (TF.interpolate(torch.tensor(x), **kw).numpy() if lib is torch else
           F.interpolate(tg.tensor(x), **kw).numpy())
    return out.reshape(-1).astype(int)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nearest_index_rules_on_exact_ties(dtype):
    """nearest is floor(o * s), nearest-exact floor((o + 0.5) * s): on exact ties the index
    depends on PyTorch's float32 rounding, which tapegrad reproduces (2 -> 41: output 20
    sits exactly on 20.5 * 2/41 = 1)."""
    for n_in in range(1, 12):
        for n_out in list(range(1, 30)) + [41, 82]:
            for mode in ("nearest", "nearest-exact"):
                kw = dict(size=n_out, mode=mode)
                np.testing.assert_array_equal(_positions(tg, n_in, kw, dtype),
                                              _positions(torch, n_in, kw, dtype),
                                              err_msg=f"{n_in} -> {n_out} {mode}")
    for sf in (0.3, 0.6, 1.3, 1.7, 2.05, 2.5, 3.0):
        for n_in in range(1, 12):
            kw = dict(scale_factor=sf, mode="nearest-exact")
            if int(n_in * sf) > 0:
                np.testing.assert_array_equal(_positions(tg, n_in, kw, dtype),
                                              _positions(torch, n_in, kw, dtype))


def _jacobian(fn, shape):
    """The matrix of the linear map ``fn`` on inputs of ``shape`` (column j: fn(e_j))."""
    n = int(np.prod(shape))
    return np.stack([fn(np.eye(n)[j].reshape(shape)).reshape(-1) for j in range(n)], axis=1)


@pytest.mark.parametrize("shape,kw", [
    ((1, 1, 2), dict(scale_factor=1.3)),                      # 2 -> 2: both read input 0
    ((1, 1, 3), dict(scale_factor=2.2)),                      # 3 -> 6, not [0 0 1 1 2 2]
    ((1, 1, 4, 4), dict(scale_factor=1.1, mode="bicubic")),   # 4 -> 4 with a scale
])
def test_gradient_is_the_transpose_where_pytorch_differs(shape, kw):
    """Where PyTorch 2.13's CPU backward takes another path than its forward, its gradient
    is not the derivative of its output: 'nearest' backward recomputes the indices with a
    float32 scale and copies when n_out == n_in or 2 * n_in even if a scale_factor says
    otherwise; 'bicubic' backward copies when the sizes are equal, though the forward
    resamples by the scale_factor. tapegrad's values equal PyTorch's and its gradient is
    the transpose of that forward map (its Jacobian)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    xg = tg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yg, yt = F.interpolate(xg, **kw), TF.interpolate(xt, **kw)
    np.testing.assert_allclose(yg.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    jac = _jacobian(lambda a: TF.interpolate(torch.tensor(a), **kw).numpy(), shape)
    u = rng.standard_normal(yg.shape)
    (g,) = tg.grad(yg, [xg], tg.tensor(u))
    np.testing.assert_allclose(g.numpy().reshape(-1), jac.T @ u.reshape(-1), rtol=1e-12,
                               atol=1e-14)
    (gt,) = torch.autograd.grad(yt, [xt], torch.tensor(u))
    assert not np.allclose(gt.numpy().reshape(-1), jac.T @ u.reshape(-1))   # PyTorch's


def test_nearest_index_tie_without_scale_factor():
    """2 -> 82: output 41 reads input 1 (41 * 2/82 = 1 exactly, in PyTorch's arithmetic),
    and its gradient goes there too."""
    x = np.arange(2.0).reshape(1, 1, 2)
    xg = tg.tensor(x, requires_grad=True)
    yg = F.interpolate(xg, size=82)
    np.testing.assert_array_equal(yg.numpy(), TF.interpolate(torch.tensor(x), size=82).numpy())
    assert yg.numpy()[0, 0, 41] == 1.0
    (g,) = tg.grad(yg.sum(), [xg])
    np.testing.assert_array_equal(g.numpy(), [[[41.0, 41.0]]])


def test_integer_input_nearest_keeps_dtype():
    x = np.arange(12).reshape(1, 2, 6)
    out = F.interpolate(tg.tensor(x), size=4)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), TF.interpolate(torch.tensor(x, dtype=torch.float64),
                                                              size=4).numpy().astype(int))


def test_same_size_returns_a_new_tensor():
    x = tg.tensor(np.arange(12.0).reshape(1, 1, 3, 4))
    y = F.interpolate(x, size=(3, 4), mode="bilinear")
    assert y is not x
    y.add_(1.0)
    np.testing.assert_array_equal(y.numpy() - 1.0, x.numpy())


# -- adaptive average pooling, Upsample, deprecated forms -----------------------------------
AAP = [
    ("aap1d", "adaptive_avg_pool1d", (2, 3, 7), 3),
    ("aap1d-unbatched-up", "adaptive_avg_pool1d", (3, 4), 6),
    ("aap3d", "adaptive_avg_pool3d", (1, 2, 5, 4, 3), (2, 3, 2)),
    ("aap3d-none", "adaptive_avg_pool3d", (2, 4, 6, 5), (None, 2, 3)),
    ("aap3d-int", "adaptive_avg_pool3d", (1, 1, 4, 4, 4), 3),
]


@parametrize([Row(name, lambda x, f=f, o=o: getattr(F, f)(x, o),
                  lambda x, f=f, o=o: getattr(TF, f)(x, o),
                  lambda rng, s=s: [rng.standard_normal(s)], rtol=1e-10, atol=1e-12)
              for name, f, s, o in AAP])
def test_adaptive_avg_pool_matches_pytorch(row):
    check_row(row)


def test_adaptive_avg_pool_to_size_zero():
    """An empty output, as PyTorch (whose backward refuses it; tapegrad's is zero)."""
    x = tg.tensor(np.ones((2, 3, 4)), requires_grad=True)
    out = F.adaptive_avg_pool1d(x, 0)
    assert out.shape == tuple(TF.adaptive_avg_pool1d(torch.ones(2, 3, 4), 0).shape) == (2, 3, 0)
    (g,) = tg.grad(out.sum(), [x])
    np.testing.assert_array_equal(g.numpy(), np.zeros((2, 3, 4)))


@pytest.mark.parametrize("make,shape", [
    (lambda m: m.Upsample(scale_factor=2, mode="linear"), (2, 3, 4)),
    (lambda m: m.Upsample(size=(3, 5, 4), mode="trilinear", align_corners=True),
     (1, 2, 2, 3, 4)),
    (lambda m: m.Upsample(scale_factor=(1.5, 0.5), mode="bicubic"), (1, 2, 4, 6)),
    (lambda m: m.Upsample(size=5, mode="nearest-exact"), (1, 1, 3, 3, 3)),
    (lambda m: m.AdaptiveAvgPool1d(3), (2, 3, 8)),
    (lambda m: m.AdaptiveAvgPool3d((2, None, 1)), (1, 2, 3, 4, 5)),
])
def test_modules_match_pytorch(make, shape):
    x = np.random.default_rng(3).standard_normal(shape)
    ours, theirs = make(nn), make(torch.nn)
    assert repr(ours) == repr(theirs)
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kw", [("upsample_nearest", dict(size=(3, 5))),
                                     ("upsample_bilinear", dict(scale_factor=2)),
                                     ("upsample", dict(scale_factor=1.5, mode="bilinear"))])
def test_deprecated_forms_warn_and_match(name, kw):
    x = np.random.default_rng(4).standard_normal((1, 2, 3, 4))
    with pytest.warns(UserWarning, match="deprecated"):
        ours = getattr(F, name)(tg.tensor(x), **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(TF, name)(torch.tensor(x), **kw)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)


# -- errors ---------------------------------------------------------------------------------
X3 = tg.zeros(2, 3, 4)
X4 = tg.zeros(1, 2, 3, 4)


@pytest.mark.parametrize("call,err,words", [
    (lambda: F.interpolate(X3, size=5, mode="bilinear"), NotImplementedError,
     "mode 'bilinear' needs a 4-d input, got shape [2, 3, 4]"),
    (lambda: F.interpolate(X4, size=5, mode="trilinear"), NotImplementedError, "5-d input"),
    (lambda: F.interpolate(X4, size=5, mode="cubic"), NotImplementedError, "unknown mode"),
    (lambda: F.interpolate(tg.zeros(3, 4), size=5), NotImplementedError, "3-d, 4-d or 5-d"),
    (lambda: F.interpolate(X3, size=5, align_corners=True), ValueError, "align_corners"),
    (lambda: F.interpolate(X3, size=5, scale_factor=2), ValueError, "only one of size"),
    (lambda: F.interpolate(X3), ValueError, "either size or scale_factor"),
    (lambda: F.interpolate(X4, size=(2, 3, 4)), ValueError,
     "size (2, 3, 4) must give one entry per spatial dim of the input, which has 2 ([3, 4])"),
    (lambda: F.interpolate(X4, scale_factor=(2,)), ValueError, "scale_factor (2,)"),
    (lambda: F.interpolate(X3, size=5.0), TypeError, "size must be an int"),
    (lambda: F.interpolate(X3, scale_factor="2"), TypeError, "scale_factor must be a number"),
    (lambda: F.interpolate(X3, size=5, recompute_scale_factor=True), ValueError,
     "recompute_scale_factor"),
    (lambda: F.interpolate(X4, size=5, mode="bilinear", antialias=True), NotImplementedError,
     "no antialiased kernel"),
    (lambda: F.interpolate(X3, size=5, antialias=True), ValueError, "antialias=True is only"),
    (lambda: F.interpolate(X3, size=0), ShapeError, "output size [0]"),
    (lambda: F.interpolate(X3, scale_factor=0.1), ShapeError, "output size [0]"),
    (lambda: F.interpolate(tg.zeros(2, 0, 4), size=3), ShapeError, "[2, 0, 4]"),
    (lambda: F.interpolate(tg.zeros(2, 3, 4, dtype=tg.int64), size=3, mode="linear"),
     NotImplementedError, "floating-point input, got int64"),
    (lambda: F.interpolate(np.zeros((2, 3, 4)), size=3), TypeError, "expected a tensor"),
    (lambda: F.adaptive_avg_pool1d(X4, 2), ShapeError, "adaptive_avg_pool1d: expected a 2-d"),
    (lambda: F.adaptive_avg_pool3d(X4, (1, 2)), ValueError, "adaptive_avg_pool3d: output_size"),
    (lambda: F.adaptive_avg_pool1d(tg.zeros(3, 0), 2), ShapeError, "non-empty spatial dims"),
])
def test_errors(call, err, words):
    with pytest.raises(err) as e:
        call()
    msg = str(e.value)
    assert words in msg, msg
    assert msg.split(":")[0] in ("interpolate", "adaptive_avg_pool1d", "adaptive_avg_pool3d")


def test_shape_errors_are_runtime_and_value_errors():
    with pytest.raises(RuntimeError):
        F.interpolate(X3, size=0)
    with pytest.raises(ValueError):
        F.interpolate(X3, size=0)
