"""Interop with PyTorch, NumPy and CuPy: safetensors files (``tapegrad.safetensors``) and
DLPack (``tg.from_dlpack``, ``Tensor.__dlpack__``), checked against torch 2.13."""
import sys

import numpy as np
import pytest
import torch

import tapegrad as tg
from helpers import REAL_CUDA, cuda_for_tests

st_torch = pytest.importorskip("safetensors.torch")
from tapegrad.safetensors import load_file, save_file  # noqa: E402

DTYPES = [("float16", torch.float16), ("float32", torch.float32), ("float64", torch.float64),
          ("int8", torch.int8), ("int16", torch.int16), ("int32", torch.int32),
          ("int64", torch.int64), ("uint8", torch.uint8), ("uint16", torch.uint16),
          ("uint32", torch.uint32), ("uint64", torch.uint64), ("bool", torch.bool)]


def _values(np_dtype, shape=(2, 3)):
    """Distinct values of ``np_dtype`` (negative ones where the dtype has them)."""
    n = np.arange(int(np.prod(shape)))
    if np_dtype == "bool":
        return (n % 2 == 0).reshape(shape)
    return (n if np_dtype.startswith("u") else n - 2).astype(np_dtype).reshape(shape)


# -- safetensors: PyTorch models into tapegrad and back -------------------------------------
def _pair(build):
    """The same architecture in both frameworks (``build(nn)`` with nn = torch.nn, tg.nn)."""
    torch.manual_seed(0)
    return build(torch.nn), build(tg.nn)


def _mlp(nn):
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(),
                         nn.Linear(16, 3))


def _cnn(nn):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4),
                                          nn.ReLU(), nn.MaxPool2d(2))
            self.bn = nn.BatchNorm1d(4 * 4 * 4)
            self.head = nn.Linear(4 * 4 * 4, 5)

        def forward(self, x):
            return self.head(self.bn(self.features(x).flatten(1)))
    return Net()


def _torch_to_tapegrad(tmp_path, build, x, train_steps=0):
    t_model, g_model = _pair(build)
    t_model.train()
    with torch.no_grad():
        for i in range(train_steps):   # non-trivial running stats, num_batches_tracked > 0
            t_model(torch.from_numpy(x) * (i + 1) + i)
    t_model.eval()
    path = tmp_path / "torch.safetensors"
    st_torch.save_file(t_model.state_dict(), path)
    loaded = load_file(path)
    assert set(loaded) == set(t_model.state_dict())
    assert g_model.load_state_dict(loaded) == ([], [])
    g_model.eval()
    with torch.no_grad():
        want = t_model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(g_model(tg.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)
    return t_model, g_model


def test_torch_mlp_loads_into_tapegrad(tmp_path):
    x = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    _torch_to_tapegrad(tmp_path, _mlp, x)


def test_torch_cnn_with_batchnorm_loads_into_tapegrad(tmp_path):
    x = np.random.default_rng(1).standard_normal((6, 2, 8, 8)).astype(np.float32)
    t_model, g_model = _torch_to_tapegrad(tmp_path, _cnn, x, train_steps=3)
    g_state = g_model.state_dict()
    for k, v in t_model.state_dict().items():   # running stats and counters came across
        np.testing.assert_array_equal(g_state[k].numpy(), v.numpy())
    assert int(g_state["bn.num_batches_tracked"].item()) == 3
    assert g_state["features.1.num_batches_tracked"].dtype == tg.int64


def test_tapegrad_model_round_trips_into_torch(tmp_path):
    t_model, g_model = _pair(_cnn)
    g_model.train()
    with tg.no_grad():
        g_model(tg.randn(4, 2, 8, 8))      # running stats differ from torch's fresh ones
    path = tmp_path / "tg.safetensors"
    save_file(g_model.state_dict(), path, metadata={"format": "pt", "by": "tapegrad"})
    t_model.load_state_dict(st_torch.load_file(path))
    t_model.eval()
    g_model.eval()
    x = np.random.default_rng(2).standard_normal((3, 2, 8, 8)).astype(np.float32)
    with torch.no_grad():
        want = t_model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(g_model(tg.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)
    from safetensors import safe_open
    with safe_open(path, framework="np") as f:
        assert f.metadata() == {"format": "pt", "by": "tapegrad"}


@pytest.mark.parametrize("np_dtype,torch_dtype", DTYPES, ids=[d[0] for d in DTYPES])
def test_safetensors_dtypes_match_torch(tmp_path, np_dtype, torch_dtype):
    arr = _values(np_dtype)
    t = tg.tensor(arr)
    tensors = {"plain": t, "scalar": t[1, 2], "empty": t[:0], "transposed": t.t(),
               "strided": t[:, ::2], "expanded": t[:1].expand(3, 3)}
    path = tmp_path / "d.safetensors"
    save_file(tensors, path)
    by_torch = st_torch.load_file(path)
    back = load_file(path)
    for k, v in tensors.items():
        assert by_torch[k].dtype == torch_dtype and back[k].dtype == v.dtype, k
        np.testing.assert_array_equal(by_torch[k].numpy(), v.numpy(), err_msg=k)
        np.testing.assert_array_equal(back[k].numpy(), v.numpy(), err_msg=k)
    assert back["scalar"].shape == () and back["empty"].shape == (0, 3)
    back["plain"].add_(1) if np_dtype != "bool" else back["plain"].fill_(True)  # writeable


def test_safetensors_on_a_gpu(tmp_path):
    with cuda_for_tests():
        w = tg.arange(6.0, device="cuda").reshape(2, 3)
        save_file({"w": w, "b": tg.ones(2, device="cuda", requires_grad=True)},
                  tmp_path / "g.safetensors")
        back = load_file(tmp_path / "g.safetensors", device="cuda")
        assert back["w"].device.type == "cuda" and not back["b"].requires_grad
        np.testing.assert_array_equal(back["w"].cpu().numpy(), np.arange(6.0).reshape(2, 3))
        model = tg.nn.Linear(3, 2, device="cuda")
        model.load_state_dict({"weight": back["w"], "bias": back["b"]})
        np.testing.assert_array_equal(model.weight.detach().cpu().numpy(), w.cpu().numpy())
    on_cpu = load_file(tmp_path / "g.safetensors")
    assert on_cpu["w"].device.type == "cpu"


def test_safetensors_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no such file.*missing.safetensors"):
        load_file(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="bad.safetensors' is not a valid safetensors file"):
        load_file(bad)
    f8 = tmp_path / "f8.safetensors"
    st_torch.save_file({"w": torch.ones(2, dtype=torch.float8_e4m3fn), "b": torch.ones(2)}, f8)
    with pytest.raises(TypeError, match=r"'w': F8_E4M3; convert them to float32"):
        load_file(f8)
    with pytest.raises(TypeError, match="expected a dict of name -> tensor, got list"):
        save_file([tg.ones(2)], tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="tensor names must be str, got 0"):
        save_file({0: tg.ones(2)}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="the value for 'w' is a list, not a tensor"):
        save_file({"w": [1.0]}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="metadata must be a dict of str -> str"):
        save_file({"w": tg.ones(2)}, tmp_path / "x.safetensors", metadata={"n": 1})
    # wrong shapes on load_state_dict: every mismatch named, nothing loaded
    t_model, g_model = _pair(_mlp)
    path = tmp_path / "mlp.safetensors"
    st_torch.save_file(t_model.state_dict(), path)
    small = tg.nn.Sequential(tg.nn.Linear(5, 8), tg.nn.ReLU(), tg.nn.Linear(8, 16),
                             tg.nn.Tanh(), tg.nn.Linear(16, 3))
    before = small[0].weight.detach().numpy().copy()
    with pytest.raises(RuntimeError, match=r"size mismatch for '0.weight': copying a param with "
                                           r"shape \[16, 5\].*model is \[8, 5\](.|\n)*'2.weight'"):
        small.load_state_dict(load_file(path))
    np.testing.assert_array_equal(small[0].weight.detach().numpy(), before)
    # without the package: a clear way to install it
    for name in ("safetensors", "safetensors.numpy"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "tapegrad\[safetensors\]"'):
        load_file(path)


# -- DLPack -----------------------------------------------------------------------------------
def t_dev(t):
    return t.__dlpack_device__()


def test_dlpack_shares_memory_with_numpy():
    t = tg.arange(6.0).reshape(2, 3)
    a = np.from_dlpack(t)
    a[0, 0] = 42.0
    t.mul_(2)
    np.testing.assert_array_equal(a, t.numpy())
    assert a[0, 0] == 84.0
    b = np.arange(4.0)
    u = tg.from_dlpack(b)
    b[1] = -1.0
    u.add_(1)
    np.testing.assert_array_equal(u.numpy(), b)
    assert b.tolist() == [1.0, 0.0, 3.0, 4.0] and not u.requires_grad


def test_dlpack_shares_memory_with_torch():
    t = tg.arange(6.0).reshape(2, 3)
    x = torch.from_dlpack(t)
    x[1, 1] = -5.0
    t[0, 0] = 7.0
    assert x.tolist() == t.tolist() == [[7.0, 1.0, 2.0], [3.0, -5.0, 5.0]]
    y = torch.arange(4.0)
    u = tg.from_dlpack(y)
    y[0] = 10.0
    u.mul_(3)
    assert y.tolist() == u.tolist() == [30.0, 3.0, 6.0, 9.0]
    assert tg.from_dlpack(torch.utils.dlpack.to_dlpack(y)).tolist() == y.tolist()  # a capsule


@pytest.mark.parametrize("np_dtype,torch_dtype", DTYPES, ids=[d[0] for d in DTYPES])
def test_dlpack_dtypes_0d_and_empty(np_dtype, torch_dtype):
    for arr in (_values(np_dtype), _values(np_dtype, ()), _values(np_dtype, (0, 2))):
        t = tg.tensor(arr)
        x = torch.from_dlpack(t)
        assert x.dtype == torch_dtype and tuple(x.shape) == arr.shape
        np.testing.assert_array_equal(x.numpy(), arr)
        back = tg.from_dlpack(x)
        assert back.dtype == t.dtype and back.shape == t.shape
        np.testing.assert_array_equal(back.numpy(), arr)


def test_dlpack_non_contiguous_views():
    t = tg.arange(12.0).reshape(3, 4)
    for view, strides in ((t.t(), (1, 4)), (t[:, ::2], (4, 2)), (t[1:, 1:3], (4, 1)),
                          (t[:1].expand(2, 4), (0, 1))):
        x = torch.from_dlpack(view)
        assert x.stride() == strides and x.tolist() == view.tolist()
    torch.from_dlpack(t.t())[0, 1] = -1.0      # a view still shares the tensor's memory
    assert t[1, 0].item() == -1.0
    y = torch.arange(12.0).reshape(3, 4)
    for view in (y.t(), y[:, 1::2], y[::2]):
        u = tg.from_dlpack(view)
        np.testing.assert_array_equal(u.numpy(), view.numpy())
    tg.from_dlpack(y.t())[3, 2] = 100.0
    assert y[2, 3].item() == 100.0


def test_dlpack_negative_strides_are_copied_unless_forbidden():
    t = tg.arange(6.0).reshape(2, 3)
    f = t.flip(0)                  # a NumPy view with negative strides: PyTorch aborts on them
    x = torch.from_dlpack(f)
    assert x.tolist() == [[3.0, 4.0, 5.0], [0.0, 1.0, 2.0]] and x.is_contiguous()
    with pytest.raises(BufferError, match=r"negative strides \(-12, 4\).*copy=False"):
        f.__dlpack__(copy=False)
    assert np.from_dlpack(f).tolist() == f.tolist()


def test_dlpack_requires_grad_is_refused_as_in_torch():
    t = tg.ones(3, requires_grad=True)
    with pytest.raises(BufferError) as ours:
        torch.from_dlpack(t)
    with pytest.raises(BufferError) as theirs:
        torch.from_dlpack(torch.ones(3, requires_grad=True))
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(BufferError, match="require gradient"):
        np.from_dlpack(t * 2)      # a non-leaf too
    d = torch.from_dlpack(t.detach())
    d[0] = 5.0
    assert t[0].item() == 5.0
    with pytest.raises(BufferError, match="require gradient"):
        tg.from_dlpack(torch.ones(2, requires_grad=True))    # PyTorch refuses, as we do


def test_from_dlpack_copy_device_and_errors():
    a = np.zeros(3)
    c = tg.from_dlpack(a, copy=True)
    c.add_(1)
    assert a.tolist() == [0.0, 0.0, 0.0]
    assert t_dev(tg.tensor(1.0)) == (1, 0)
    with pytest.raises(TypeError, match="expected an object with __dlpack__.*got list"):
        tg.from_dlpack([1.0, 2.0])
    with pytest.raises(TypeError, match="not complex64"):
        tg.from_dlpack(torch.ones(2, dtype=torch.complex64))
    with pytest.raises(BufferError, match="a CPU tensor is exported with stream=None"):
        tg.ones(2).__dlpack__(stream=3)
    with pytest.raises(TypeError, match="stream must be an int or None, got str"):
        tg.ones(2).__dlpack__(stream="s")

    class Metal:
        def __dlpack__(self, **kw):
            raise AssertionError("not called")

        def __dlpack_device__(self):
            return (8, 0)
    with pytest.raises(BufferError, match="on a Metal device .*CPU and CUDA memory only"):
        tg.from_dlpack(Metal())


def test_dlpack_on_cuda_stays_on_its_device():
    with cuda_for_tests():
        t = tg.arange(4.0, device="cuda")
        assert t_dev(t) == (2, t.device.index)
        u = tg.from_dlpack(t)
        assert u.device == t.device
        u.add_(1)
        assert t.cpu().tolist() == [1.0, 2.0, 3.0, 4.0]
        moved = tg.from_dlpack(np.arange(2.0), device="cuda")
        assert moved.device.type == "cuda" and moved.cpu().tolist() == [0.0, 1.0]
        with pytest.raises(ValueError, match="asks for a move, which copy=False forbids"):
            tg.from_dlpack(np.arange(2.0), device="cuda", copy=False)


@pytest.mark.skipif(not REAL_CUDA, reason="CuPy exchange needs a GPU (TAPEGRAD_TEST_CUDA=real)")
def test_dlpack_shares_memory_with_cupy():
    import cupy
    t = tg.arange(6.0, device="cuda").reshape(2, 3)
    c = cupy.from_dlpack(t)
    c[0, 0] = 42.0
    assert t[0, 0].item() == 42.0
    g = cupy.arange(4.0)
    u = tg.from_dlpack(g)
    u.mul_(2)
    assert u.device == tg.device("cuda", g.device.id) and g.tolist() == [0.0, 2.0, 4.0, 6.0]
    assert cupy.from_dlpack(t.t()).strides == (8, 24)
