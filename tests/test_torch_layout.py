"""PyTorch's module layout and the small things programs touch (issue 17): every public name
of torch, torch.nn, torch.nn.functional, torch.optim, torch.utils.data and torch.linalg that
tapegrad has is importable at PyTorch's path; docs/torch-coverage.md lists what is missing;
tg.accelerator, tg.backends, set_printoptions, format() of 0-d tensors, set_default_dtype."""
import importlib
import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.core import printing

ROOT = pathlib.Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("torch_coverage",
                                               ROOT / "scripts" / "torch_coverage.py")
coverage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(coverage)
need_213 = pytest.mark.skipif(not torch.__version__.startswith(coverage.TORCH_VERSION),
                              reason="the coverage table is made from PyTorch 2.13")


@need_213
def test_coverage_doc_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "torch_coverage.py"), "--check"])
    assert r.returncode == 0, "docs/torch-coverage.md is stale: run python scripts/torch_coverage.py"


@pytest.mark.parametrize("ns", coverage.NAMESPACES)
def test_every_name_we_have_is_at_pytorchs_path(ns):
    mine = coverage.ours(ns)
    pairs = coverage.layout(ns)
    assert pairs or ns in ("torch.nn.functional", "torch.linalg")   # (F and linalg: flat)
    wrong = []
    for name, home in pairs:
        ours = getattr(mine, name)
        where = importlib.import_module("tapegrad" + home[len("torch"):])
        got = where if ours is where else getattr(where, name, None)
        if got is not ours:
            wrong.append(f"{ns}.{name} -> tapegrad{home[len('torch'):]}")
    assert wrong == []


def test_layout_examples():
    from tapegrad.nn.modules.rnn import LSTM
    from tapegrad.nn.modules.activation import MultiheadAttention, ReLU
    from tapegrad.nn.modules.loss import _Loss, CrossEntropyLoss
    from tapegrad.nn.modules.batchnorm import _BatchNorm
    from tapegrad.utils.data.distributed import DistributedSampler
    from tapegrad.utils.data.dataloader import DataLoader, default_collate
    from tapegrad.utils.data.dataset import Dataset, TensorDataset
    from tapegrad.optim.adamw import AdamW
    from tapegrad.autograd.grad_mode import no_grad
    assert (LSTM, MultiheadAttention, ReLU, CrossEntropyLoss) == \
        (tg.nn.LSTM, tg.nn.MultiheadAttention, tg.nn.ReLU, tg.nn.CrossEntropyLoss)
    assert issubclass(CrossEntropyLoss, _Loss) and issubclass(tg.nn.BatchNorm2d, _BatchNorm)
    assert tg.nn.modules.Module is tg.nn.Module and tg.nn.modules.Linear is tg.nn.Linear
    assert (DistributedSampler, DataLoader, default_collate, Dataset, TensorDataset) == \
        (tg.utils.data.DistributedSampler, tg.utils.data.DataLoader,
         tg.utils.data.default_collate, tg.utils.data.Dataset, tg.utils.data.TensorDataset)
    assert AdamW is tg.optim.AdamW and no_grad is tg.no_grad
    assert tg.functional.einsum is tg.einsum


def test_every_nn_modules_class_is_tg_nn_class():
    """The alias package defines nothing twice: each class is tg.nn's."""
    mods = tg.nn.modules
    classes = [getattr(mods, n) for n in dir(mods) if n[:1].isupper()]
    assert len(classes) > 100
    assert all(c is getattr(tg.nn, c.__name__) for c in classes)


def test_modules_utils():
    from tapegrad.nn.modules.utils import _pair, _triple, consume_prefix_in_state_dict_if_present
    assert _pair(3) == (3, 3) and _pair((1, 2)) == (1, 2) and _triple(0) == (0, 0, 0)
    sd = {"module.w": 1, "module.b": 2, "other": 3}
    consume_prefix_in_state_dict_if_present(sd, "module.")
    assert sd == {"w": 1, "b": 2, "other": 3}


# -- tg.accelerator, tg.backends --------------------------------------------------------
def test_accelerator_follows_cuda():
    acc = tg.accelerator
    if tg.cuda.is_available():
        assert acc.is_available() and acc.current_accelerator() == tg.device("cuda")
        assert acc.device_count() == tg.cuda.device_count()
        assert acc.current_device_index() == tg.cuda.current_device()
    else:
        assert not acc.is_available() and acc.current_accelerator() is None
        assert acc.device_count() == 0
        with pytest.raises(RuntimeError, match="no.*accelerator|none is available"):
            acc.current_device_index()
        with acc.device_index(None):   # leaves the (absent) device alone, as PyTorch
            pass


def test_backends_flags_are_kept_without_effect():
    b = tg.backends
    assert not b.mps.is_available() and not b.mps.is_built() and not b.cudnn.is_available()
    assert b.mkl.is_available() == tg.backend.blas().startswith("mkl")
    assert not b.openmp.is_available() and not b.mkldnn.is_available()
    saved = b.cudnn.benchmark, b.cudnn.deterministic, b.cuda.matmul.allow_tf32
    try:
        b.cudnn.benchmark = b.cudnn.deterministic = True
        b.cuda.matmul.allow_tf32 = True
        b.cudnn.allow_tf32 = True
        assert b.cudnn.benchmark and b.cudnn.deterministic and b.cuda.matmul.allow_tf32
        with b.cudnn.flags(enabled=False, deterministic=False):
            assert not b.cudnn.enabled and not b.cudnn.deterministic
        assert b.cudnn.enabled and b.cudnn.deterministic
        b.cuda.enable_flash_sdp(False)
        assert not b.cuda.flash_sdp_enabled() and b.cuda.math_sdp_enabled()
    finally:
        b.cudnn.benchmark, b.cudnn.deterministic, b.cuda.matmul.allow_tf32 = saved
        b.cuda.enable_flash_sdp(True)
    x = tg.randn(4, 4)   # results do not depend on the flags
    np.testing.assert_array_equal((x @ x).numpy(), (x @ x).numpy())


# -- printing ---------------------------------------------------------------------------
@pytest.fixture
def printoptions():
    saved = dict(printing.OPTIONS)
    yield
    printing.OPTIONS.update(saved)


def _body(t):
    """A tensor's repr without tapegrad's dtype (and PyTorch's) suffix."""
    r = repr(t)
    return r[:r.index(", dtype=")] + ")" if ", dtype=" in r else r


VALUES = [[1.0, 2.5], [1.0, 2.0], [1e-5, 1.0], [123456789.0, 1.0], [[1, 2], [3, 4]],
          [float("nan"), 1.5, float("inf")], [float("nan"), 1.0, float("-inf")], [0.0, -0.0],
          [True, False], 3.14159, -2.0, [[1e-5, 2.0], [3.0, 4.0]], [-1.5, 2.25, 1e3],
          np.arange(2000.0) / 7, (np.arange(1600.0) / 3).reshape(40, 40),
          (np.arange(1680.0) - 800).reshape(5, 6, 7, 8), np.arange(600.0).reshape(3, 200) / 7,
          np.zeros((0, 3)), np.zeros(0), np.arange(12).reshape(3, 4)]


@pytest.mark.parametrize("options", [
    {}, {"precision": 2}, {"threshold": 5}, {"edgeitems": 1, "threshold": 10},
    {"linewidth": 40}, {"sci_mode": True}, {"sci_mode": False}, {"profile": "short"},
    {"profile": "full", "linewidth": 120}, {"edgeitems": 0, "threshold": 3},
], ids=str)
def test_repr_matches_pytorch(options, printoptions):
    torch_saved = dict(vars(torch._tensor_str.PRINT_OPTS))
    try:
        tg.set_printoptions(**options)
        torch.set_printoptions(**options)
        for v in VALUES:
            a = np.asarray(v, dtype=np.float32) if isinstance(v, np.ndarray) and \
                v.dtype.kind == "f" else v
            assert _body(tg.tensor(a)) == _body(torch.tensor(a)), v
    finally:
        torch.set_printoptions(profile="default")
        vars(torch._tensor_str.PRINT_OPTS).update(torch_saved)


def test_repr_suffixes(printoptions):
    assert repr(tg.zeros(0, 3)) == "tensor([], size=(0, 3), dtype=float32)"
    assert repr(tg.tensor([1.0, 2.0], requires_grad=True)) == \
        "tensor([1., 2.], dtype=float32, requires_grad=True)"
    tg.set_printoptions(precision=1)
    assert repr(tg.tensor(2.25, dtype=tg.float64)) == "tensor(2.2, dtype=float64)"
    tg.set_printoptions(profile="default")
    assert printing.OPTIONS["precision"] == 4
    with pytest.raises(ValueError, match="profile must be one of"):
        tg.set_printoptions(profile="long")


# -- format(), default dtype ------------------------------------------------------------
@pytest.mark.parametrize("value,spec", [(3.14159, "+.2f"), (3.14159, ""), (-2.5, "8.3e"),
                                        (7, "03d"), (7, "")])
def test_format_of_0d_tensors_as_pytorch(value, spec):
    assert format(tg.tensor(value), spec) == format(torch.tensor(value), spec)
    assert "{:+.2f}".format(tg.tensor(2.0)) == "+2.00"


def test_format_of_other_tensors():
    t = tg.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match=r"unsupported format string '\.2f'.*shape \[2\]"):
        format(t, ".2f")
    with pytest.raises(TypeError):   # PyTorch's category for the same call
        format(torch.tensor([1.0, 2.0]), ".2f")
    assert f"{t}" == repr(t)


def test_set_default_dtype():
    try:
        tg.set_default_dtype(tg.float64)
        assert tg.get_default_dtype() == tg.float64
        assert tg.tensor([1.5]).dtype == tg.float64 and tg.zeros(2).dtype == tg.float64
        assert tg.nn.Linear(2, 2).weight.dtype == tg.float64
    finally:
        tg.set_default_dtype(tg.float32)
    assert tg.tensor([1.5]).dtype == tg.float32
    with pytest.raises(TypeError, match="only floating dtypes"):
        tg.set_default_dtype(tg.int64)


def test_size_of_one_dim_as_pytorch():
    ours, theirs = tg.ones(2, 3), torch.ones(2, 3)
    for d in (0, 1, -1, -2, np.int64(1), tg.tensor(1)):
        assert ours.size(d) == theirs.size(int(d))
    assert ours.size() == tuple(theirs.size())
    for d, err, msg in ((2, IndexError, r"size: dimension out of range \(expected to be in "
                                        r"range of \[-2, 1\], but got 2\)"),
                        (-3, IndexError, r"range of \[-2, 1\], but got -3"),
                        (1.5, TypeError, "size: dim must be an int, not float"),
                        (True, TypeError, "not bool")):
        with pytest.raises(err, match=msg):
            ours.size(d)
        with pytest.raises(err):   # PyTorch's category for the same call
            theirs.size(d)
    with pytest.raises(IndexError, match="size: dimension 0 given but the tensor has no "
                                         "dimensions"):
        tg.tensor(1.0).size(0)
