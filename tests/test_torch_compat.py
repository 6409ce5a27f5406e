"""What PyTorch programs touch beside tensor math (issue 17): tg.Size, finfo/iinfo, the
constants, is_floating_point, the thread and matmul-precision settings, autograd.Variable;
utils.data's samplers, ConcatDataset, get_worker_info and num_workers. Against PyTorch 2.13
where the answer is deterministic."""
import collections
import math

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import tapegrad as tg
from tapegrad.utils import data as tgd


# -- tg.Size, finfo, iinfo, constants ---------------------------------------------------
def test_size():
    s = tg.Size([2, 3])
    assert s == (2, 3) == tg.randn(2, 3).shape and isinstance(s, tuple) and s.numel() == 6
    assert tg.Size((tg.tensor(4),)) == (4,) and tg.Size().numel() == 1 == torch.Size().numel()
    with pytest.raises(TypeError, match="sequence of ints"):
        tg.Size([2.5])


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64"])
def test_finfo_as_pytorch(name):
    ours, theirs = tg.finfo(getattr(tg, name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert tg.finfo().eps == torch.finfo().eps
    with pytest.raises(TypeError, match="not a floating dtype"):
        tg.finfo(tg.int32)


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_as_pytorch(name):
    ours, theirs = tg.iinfo(getattr(tg, name)), torch.iinfo(getattr(torch, name))
    assert (ours.bits, ours.max, ours.min) == (theirs.bits, theirs.max, theirs.min)
    with pytest.raises(TypeError, match="not an integer dtype"):
        tg.iinfo(tg.float32)


def test_constants_and_dtype_questions():
    assert (tg.pi, tg.e, tg.inf, tg.newaxis) == (torch.pi, torch.e, torch.inf, torch.newaxis)
    assert math.isnan(tg.nan)
    for t, expected in ((tg.randn(2), True), (tg.ones(2, dtype=tg.bfloat16), True),
                        (tg.arange(3), False), (tg.tensor([True]), False)):
        assert t.is_floating_point() is expected and tg.is_floating_point(t) is expected
        assert not t.is_complex() and not tg.is_complex(t)


def test_settings_are_kept_without_effect():
    """The interop-thread and matmul-precision settings (set_num_threads is real: its tests
    are in test_threads.py)."""
    interop, precision = tg.get_num_interop_threads(), tg.get_float32_matmul_precision()
    try:
        tg.set_num_interop_threads(1)
        tg.set_float32_matmul_precision("high")
        assert tg.get_num_interop_threads() == 1 and tg.get_float32_matmul_precision() == "high"
    finally:
        tg.set_num_interop_threads(interop)
        tg.set_float32_matmul_precision(precision)
    assert precision == "highest"
    with pytest.raises(ValueError, match="positive integer"):
        tg.set_num_interop_threads(0)
    with pytest.raises(ValueError, match="'highest', 'high' or 'medium'"):
        tg.set_float32_matmul_precision("low")


def test_autograd_variable_is_tensor():
    v = tg.autograd.Variable(tg.ones(2), requires_grad=True)
    (v * 3).sum().backward()
    assert isinstance(v, tg.Tensor) and v.grad.tolist() == [3.0, 3.0]


# -- utils.data -------------------------------------------------------------------------
def _pair(n=10):
    x = np.arange(n, dtype=np.float32).reshape(n, 1)
    return tgd.TensorDataset(tg.tensor(x)), tud.TensorDataset(torch.tensor(x))


def test_sequential_and_batch_samplers_as_pytorch():
    ours, theirs = _pair()
    assert list(tgd.SequentialSampler(ours)) == list(tud.SequentialSampler(theirs))
    for bs, drop in ((3, False), (3, True), (5, True), (20, False)):
        a = tgd.BatchSampler(tgd.SequentialSampler(ours), bs, drop)
        b = tud.BatchSampler(tud.SequentialSampler(theirs), bs, drop)
        assert list(a) == list(b) and len(a) == len(b)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        tgd.BatchSampler(range(3), 0, False)


def test_random_samplers_draw_from_tapegrads_generator():
    ours, _ = _pair()
    tg.manual_seed(0)
    first = list(tgd.RandomSampler(ours))
    tg.manual_seed(0)
    assert list(tgd.RandomSampler(ours)) == first and sorted(first) == list(range(10))
    g = tg.Generator().manual_seed(3)
    again = tg.Generator().manual_seed(3)
    assert list(tgd.RandomSampler(ours, generator=g)) == \
        list(tgd.RandomSampler(ours, generator=again))
    long = list(tgd.RandomSampler(ours, num_samples=25))   # whole permutations, then part
    assert len(long) == 25 and sorted(long[:10]) == sorted(long[10:20]) == list(range(10))
    drawn = list(tgd.RandomSampler(ours, replacement=True, num_samples=200))
    assert len(drawn) == 200 and set(drawn) <= set(range(10))
    sub = tgd.SubsetRandomSampler([5, 7, 9])
    assert sorted(sub) == [5, 7, 9] and len(sub) == 3
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        tgd.RandomSampler(ours, num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        tgd.RandomSampler(ours, replacement=1)


def test_weighted_random_sampler():
    tg.manual_seed(1)
    counts = collections.Counter(tgd.WeightedRandomSampler([0.0, 1.0, 3.0], 4000))
    assert counts[0] == 0 and abs(counts[2] / 4000 - 0.75) < 0.03
    once = list(tgd.WeightedRandomSampler(tg.tensor([1.0, 1.0, 0.0, 2.0]), 3,
                                          replacement=False))
    assert sorted(once) == [0, 1, 3]
    with pytest.raises(ValueError, match="cannot draw 3 samples without replacement"):
        tgd.WeightedRandomSampler([1.0, 1.0], 3, replacement=False)
    with pytest.raises(ValueError, match="non-negative"):
        tgd.WeightedRandomSampler([-1.0, 2.0], 1)


def test_dataloader_with_samplers():
    ours, theirs = _pair(7)
    a = tgd.DataLoader(ours, batch_size=3, sampler=tgd.SequentialSampler(ours))
    b = tud.DataLoader(theirs, batch_size=3, sampler=tud.SequentialSampler(theirs))
    assert [x[0].tolist() for x in a] == [x[0].tolist() for x in b] and len(a) == len(b)
    c = tgd.DataLoader(ours, batch_sampler=tgd.BatchSampler(range(7), 4, True))
    assert [x[0].shape for x in c] == [(4, 1)]
    for kw, msg in (({"sampler": [0], "shuffle": True}, "mutually exclusive with shuffle"),
                    ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option")):
        with pytest.raises(ValueError, match=msg):
            tgd.DataLoader(ours, **kw)
        with pytest.raises(ValueError, match=msg):
            tud.DataLoader(theirs, **kw)
    assert isinstance(tgd.DistributedSampler(ours, 2, 0), tgd.Sampler)
    assert tgd.get_worker_info() is None


def test_concat_dataset_as_pytorch():
    (a, ta), (b, tb) = _pair(3), _pair(4)
    ours, theirs = tgd.ConcatDataset([a, b]), tud.ConcatDataset([ta, tb])
    assert len(ours) == len(theirs) == 7 and ours.cumulative_sizes == theirs.cumulative_sizes
    assert [ours[i][0].tolist() for i in range(-7, 7)] == \
        [theirs[i][0].tolist() for i in range(-7, 7)]
    assert len(a + b) == 7
    with pytest.raises(ValueError, match="should not exceed dataset length"):
        ours[-8]
    with pytest.raises(ValueError, match="should not be an empty iterable"):
        tgd.ConcatDataset([])
