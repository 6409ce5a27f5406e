"""The device API (tg.device, factories, .to/.cuda/.cpu, tg.cuda) and what carries devices
(modules, optimizers, saving), on the test-only fake CUDA; and the real CUDA path's errors
on a machine without a GPU."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tapegrad as tg
from helpers import cuda_for_tests, need_two_gpus, without_gpu

CUDA0, CUDA1, CPU = tg.device("cuda:0"), tg.device("cuda:1"), tg.device("cpu")


@pytest.fixture
def gpu():
    with cuda_for_tests():
        yield


# -- tg.device ----------------------------------------------------------------------------
def test_device_parsing_and_equality():
    assert tg.device("cuda:1") == tg.device("cuda", 1) == tg.device(1) == "cuda:1"
    assert tg.device("cpu") == "cpu" and tg.device("cpu").index is None
    assert tg.device("cuda") != tg.device("cuda:0")          # as in PyTorch
    assert repr(tg.device("cuda:1")) == "device(type='cuda', index=1)"
    assert str(tg.device("cuda:1")) == "cuda:1" and str(CPU) == "cpu"
    assert tg.device(CUDA1) is CUDA1
    assert len({tg.device("cuda:0"), tg.device("cuda", 0)}) == 1


@pytest.mark.parametrize("bad, err, msg", [
    ("tpu", RuntimeError, "Expected one of cpu, cuda device type"),
    ("cuda:x", ValueError, "invalid device string"),
    ("cuda:-1", ValueError, "invalid device string"),
    (3.5, TypeError, "expected a string"),
])
def test_bad_device_specs(bad, err, msg):
    with pytest.raises(err, match=msg):
        tg.device(bad)


def test_a_cpu_tensor_reports_its_device():
    x = tg.ones(2)
    assert x.device == CPU and not x.is_cuda and x.get_device() == -1
    assert x.cpu() is x and x.to("cpu") is x


# -- without a GPU --------------------------------------------------------------------------
def test_without_a_gpu_cuda_is_unavailable_and_says_why():
    without_gpu()
    assert tg.cuda.is_available() is False
    assert tg.cuda.device_count() == 0
    cupy_installed = _can_import("cupy")
    why = "found no usable NVIDIA GPU" if cupy_installed else "CuPy is not installed"
    for make in (lambda: tg.ones(2).to("cuda"), lambda: tg.zeros(2, device="cuda"),
                 lambda: tg.nn.Linear(2, 2).cuda()):
        with pytest.raises(RuntimeError, match=why) as e:
            make()
        assert "tapegrad[cuda12]" in str(e.value) and "tapegrad[cuda13]" in str(e.value)


def test_without_cupy_the_error_says_how_to_install(monkeypatch):
    without_gpu()
    monkeypatch.setitem(sys.modules, "cupy", None)   # import cupy raises ImportError
    with pytest.raises(RuntimeError, match=r"CuPy is not installed.*pip install "
                                            r"\"tapegrad\[cuda12\]\""):
        tg.ones(1).cuda()
    assert not tg.cuda.is_available()


def _can_import(name):
    try:
        __import__(name)
    except Exception:   # noqa: BLE001
        return False
    return True


def test_import_tapegrad_does_not_import_cupy():
    code = "import sys, tapegrad; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": _src()})
    assert out.stdout.strip() == "False"


def _src():
    return os.path.dirname(os.path.dirname(tg.__file__))


# -- moving tensors -------------------------------------------------------------------------
def test_to_cuda_and_back_is_differentiable(gpu):
    x = tg.randn(3, 4, requires_grad=True)
    y = x.to("cuda")
    assert y.device == CUDA0 and y.is_cuda and y.get_device() == 0
    assert y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.device == CPU
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy(), rtol=1e-6)


def test_to_forms(gpu):
    need_two_gpus()
    x = tg.arange(6.0).reshape(2, 3)
    a = x.to("cuda", tg.float64)
    assert a.device == CUDA0 and a.dtype == tg.float64
    assert x.to(device="cuda:1").device == CUDA1
    assert x.to(a).device == CUDA0 and x.to(a).dtype == tg.float64
    assert x.cuda().device == CUDA0 and x.cuda(1).device == CUDA1
    assert a.to("cuda:0") is a and a.to("cuda:0", copy=True) is not a
    assert a.cpu().device == CPU and a.cuda(1).cpu().tolist() == x.tolist()
    assert x.to(tg.device("cuda")).device == CUDA0    # the current device


def test_reading_values_copies_but_numpy_raises(gpu):
    x = tg.tensor([[1.5, 2.0]], device="cuda")
    assert x.tolist() == [[1.5, 2.0]] and float(x[0, 0]) == 1.5 and x[0, 1].item() == 2.0
    assert "device='cuda:0'" in repr(x)
    with pytest.raises(TypeError, match=r"can't convert cuda:0 device type tensor to numpy. "
                                        r"Use Tensor.cpu\(\)"):
        x.numpy()
    np.testing.assert_array_equal(x.cpu().numpy(), [[1.5, 2.0]])
    with pytest.raises(TypeError, match="can't convert cuda:0"):
        np.asarray(x)


def test_ops_mixing_devices_name_the_op_and_both_devices(gpu):
    need_two_gpus()
    a, b = tg.ones(2), tg.ones(2, device="cuda")
    with pytest.raises(RuntimeError, match="add: expected all tensors to be on the same "
                                           "device, but found at least two devices, cpu and "
                                           "cuda:0"):
        a + b
    with pytest.raises(RuntimeError, match="matmul: .*cuda:1 and cuda:0"):
        tg.ones(2, 2, device="cuda:1") @ tg.ones(2, 2, device="cuda")
    assert (b * 2 + 1.5).device == CUDA0     # Python scalars go anywhere


def test_factories_take_device(gpu):
    need_two_gpus()
    makers = {
        "zeros": lambda d: tg.zeros(2, 3, device=d), "ones": lambda d: tg.ones(2, device=d),
        "empty": lambda d: tg.empty(2, device=d), "full": lambda d: tg.full((2,), 7, device=d),
        "arange": lambda d: tg.arange(5, device=d), "linspace": lambda d: tg.linspace(0, 1, 5, device=d),
        "eye": lambda d: tg.eye(3, device=d), "rand": lambda d: tg.rand(3, device=d),
        "randn": lambda d: tg.randn(3, device=d), "randint": lambda d: tg.randint(0, 9, (3,), device=d),
        "randperm": lambda d: tg.randperm(5, device=d), "tensor": lambda d: tg.tensor([1, 2], device=d),
        "as_tensor": lambda d: tg.as_tensor(np.ones(2), device=d),
    }
    for name, make in makers.items():
        for d in ("cuda", "cuda:1", "cpu"):
            t = make(d)
            assert t.device == tg.device(d if d != "cuda" else "cuda:0"), name
    x = tg.ones(2, 2, device="cuda:1")
    for like in (tg.zeros_like, tg.ones_like, tg.empty_like, tg.rand_like, tg.randn_like):
        assert like(x).device == CUDA1 and like(x, device="cpu").device == CPU
    assert tg.full_like(x, 3.0).device == CUDA1 and tg.randint_like(x, 5).device == CUDA1
    np.testing.assert_array_equal(tg.arange(4, device="cuda").cpu().numpy(), np.arange(4))


def test_each_device_has_its_own_generator_seeded_by_manual_seed(gpu):
    tg.manual_seed(3)
    a, c = tg.randn(4, device="cuda"), tg.randn(4)
    tg.manual_seed(3)
    b, d = tg.randn(4, device="cuda"), tg.randn(4)
    assert a.tolist() == b.tolist() and c.tolist() == d.tolist()
    assert a.tolist() != c.tolist()
    tg.cuda.manual_seed(5)
    e = tg.randn(4, device="cuda")
    tg.cuda.manual_seed(5)
    assert tg.randn(4, device="cuda").tolist() == e.tolist()
    state = tg.cuda.get_rng_state()
    f = tg.rand(3, device="cuda")
    tg.cuda.set_rng_state(state)
    assert tg.rand(3, device="cuda").tolist() == f.tolist()
    g = tg.Generator(device="cuda").manual_seed(1)
    h = tg.Generator(device="cuda").manual_seed(1)
    assert tg.rand(3, generator=g, device="cuda").tolist() == \
        tg.rand(3, generator=h, device="cuda").tolist()
    with pytest.raises(RuntimeError, match="generator of device cuda:0 can't draw"):
        tg.rand(2, generator=g, device="cpu")


def test_cuda_namespace(gpu):
    need_two_gpus()
    assert tg.cuda.is_available() and tg.cuda.device_count() == 2
    assert tg.cuda.current_device() == 0
    before = tg.cuda.memory_allocated()
    x = tg.zeros(1000, device="cuda")
    assert tg.cuda.memory_allocated() >= before + 4000
    assert tg.cuda.memory_allocated(1) == 0 or tg.cuda.memory_allocated(1) < before + 4000
    del x
    assert tg.cuda.memory_allocated() == before
    tg.cuda.synchronize()
    with tg.cuda.device(1):
        assert tg.zeros(1, device="cuda").device == CUDA1 and tg.cuda.current_device() == 1
    assert tg.cuda.current_device() == 0


# -- modules, optimizers, saving ------------------------------------------------------------
def _net():
    tg.manual_seed(0)
    return tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.ReLU(), tg.nn.BatchNorm1d(8),
                            tg.nn.Linear(8, 3))


def _step(model, opt, x, y):
    opt.zero_grad()
    loss = tg.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


@pytest.mark.parametrize("make_opt", [
    lambda ps: tg.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: tg.optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: tg.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    lambda ps: tg.optim.Adagrad(ps, lr=0.1),
])
def test_module_to_moves_in_place_and_training_matches_cpu(gpu, make_opt):
    x = tg.randn(16, 4, generator=tg.Generator(1))
    y = tg.randint(0, 3, (16,), generator=tg.Generator(2))
    ref, m = _net(), _net()
    ref_opt = make_opt(ref.parameters())
    params = list(m.parameters())
    opt = make_opt(m.parameters())           # built before the move
    assert m.cuda() is m
    assert all(p is q for p, q in zip(params, m.parameters()))
    assert all(p.device == CUDA0 for p in m.parameters())
    assert all(b.device == CUDA0 for b in m.buffers())
    xc, yc = x.cuda(), y.cuda()
    for _ in range(3):
        a, b = _step(ref, ref_opt, x, y), _step(m, opt, xc, yc)
        assert b == pytest.approx(a, rel=1e-5)
    for p in m.parameters():
        assert p.grad.device == CUDA0
        assert all(tg.device(str(_dev(v))) == CUDA0 for v in opt.state[p].values()
                   if hasattr(v, "ndim") and v.ndim)
    for p, q in zip(ref.parameters(), m.parameters()):
        np.testing.assert_allclose(q.cpu().numpy(), p.detach().numpy(), rtol=1e-5, atol=1e-6)
    m.cpu()                                   # state follows the parameters back
    assert _step(m, opt, x, y) == pytest.approx(_step(ref, ref_opt, x, y), rel=1e-5)


def _dev(arr):
    return tg.backend.device_of(arr)


def test_module_to_device_and_dtype_and_layer_device_argument(gpu):
    need_two_gpus()
    m = tg.nn.Linear(3, 2).to("cuda:1", tg.float64)
    assert m.weight.device == CUDA1 and m.weight.dtype == tg.float64
    lin = tg.nn.Linear(3, 2, device="cuda")
    conv = tg.nn.Conv2d(1, 2, 3, device="cuda")
    bn = tg.nn.BatchNorm2d(2, device="cuda")
    emb = tg.nn.Embedding(5, 2, device="cuda")
    for mod in (lin, conv, bn, emb):
        assert all(t.device == CUDA0 for t in list(mod.parameters()) + list(mod.buffers()))


def test_gradients_move_with_their_parameters(gpu):
    m = tg.nn.Linear(2, 1)
    m(tg.ones(1, 2)).sum().backward()
    m.cuda()
    assert m.weight.grad.device == CUDA0
    m(tg.ones(1, 2, device="cuda")).sum().backward()   # accumulates on the device
    np.testing.assert_allclose(m.weight.grad.cpu().numpy(), [[2.0, 2.0]])


def test_save_and_load_across_devices(gpu, tmp_path):
    need_two_gpus()
    m = _net().cuda()
    path = tmp_path / "m.tg"
    tg.save(m.state_dict(), path)
    sd = tg.load(path)                           # back where it was saved
    assert all(v.device == CUDA0 for v in sd.values())
    cpu = tg.load(path, map_location="cpu")
    assert all(v.device == CPU for v in cpu.values())
    one = tg.load(path, map_location="cuda:1")
    assert all(v.device == CUDA1 for v in one.values())
    mapped = tg.load(path, map_location={"cuda:0": "cuda:1"})
    assert all(v.device == CUDA1 for v in mapped.values())
    fresh = _net()
    fresh.load_state_dict(cpu)                   # into a CPU model
    m2 = _net().cuda()
    m2.load_state_dict(cpu)                      # host values into device parameters
    assert m2[0].weight.device == CUDA0
    x = tg.randn(5, 4)
    m.eval(), fresh.eval(), m2.eval()
    np.testing.assert_allclose(m2(x.cuda()).cpu().numpy(), fresh(x).detach().numpy(),
                               rtol=1e-6)


def test_loading_a_cuda_checkpoint_without_cuda_says_map_location(tmp_path):
    without_gpu()
    with cuda_for_tests():
        tg.save({"w": tg.ones(2, device="cuda")}, tmp_path / "c.tg")
    with pytest.raises(ValueError, match="saved on cuda:0, but CUDA is not available here; "
                                         "pass map_location='cpu'"):
        tg.load(tmp_path / "c.tg")
    assert tg.load(tmp_path / "c.tg", map_location="cpu")["w"].device == CPU


def test_optimizer_state_loads_onto_the_parameters_device(gpu, tmp_path):
    m = _net()
    opt = tg.optim.Adam(m.parameters(), lr=0.01)
    _step(m, opt, tg.randn(4, 4), tg.tensor([0, 1, 2, 0]))
    tg.save(opt.state_dict(), tmp_path / "o.tg")
    m.cuda()
    opt2 = tg.optim.Adam(m.parameters(), lr=0.01)
    opt2.load_state_dict(tg.load(tmp_path / "o.tg"))
    for p in m.parameters():
        assert _dev(opt2.state[p]["exp_avg"]) == CUDA0
    _step(m, opt2, tg.randn(4, 4, device="cuda"), tg.tensor([0, 1, 2, 0], device="cuda"))
