"""tg.utils.data: batching, collation, seeded shuffling and splitting (case 58)."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad.utils.data import (DataLoader, Dataset, TensorDataset, default_collate,
                                 random_split)


def _ds(n=10):
    return TensorDataset(tg.arange(n).float().reshape(n, 1), tg.arange(n))


def test_tensor_dataset_and_sequential_batches():
    ds = _ds()
    assert len(ds) == 10
    x, y = ds[3]
    assert x.tolist() == [3.0] and int(y) == 3
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 1)
    assert len(DataLoader(ds, batch_size=4)) == 3
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and [b[1].tolist() for b in dl] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(tg.zeros(3), tg.zeros(4))


def test_shuffle_is_seeded_and_covers_everything():
    ds = _ds(50)

    def order(**kw):
        return [i for b in DataLoader(ds, batch_size=7, shuffle=True, **kw) for i in b[1].tolist()]

    a = order(generator=tg.Generator(3))
    assert a == order(generator=tg.Generator(3))
    assert sorted(a) == list(range(50)) and a != list(range(50))
    assert a != order(generator=tg.Generator(4))
    tg.manual_seed(5)
    b = order()
    tg.manual_seed(5)
    assert b == order()
    dl = DataLoader(ds, batch_size=50, shuffle=True, generator=tg.Generator(0))
    e1, e2 = [next(iter(dl))[1].tolist() for _ in range(2)]
    assert e1 != e2    # a fresh permutation every epoch


class Pairs(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full((2,), i, np.float32), "y": i, "name": f"s{i}"}, float(i) / 2


def test_default_collate_and_custom_collate():
    (d, f), = list(DataLoader(Pairs(), batch_size=5))
    assert d["x"].shape == (5, 2) and d["x"].dtype == np.float32
    assert d["y"].tolist() == [0, 1, 2, 3, 4] and d["y"].dtype == np.int64
    assert d["name"] == ["s0", "s1", "s2", "s3", "s4"]
    assert f.dtype == np.float64
    out = default_collate([tg.ones(2), tg.zeros(2)])
    assert out.shape == (2, 2)
    dl = DataLoader(Pairs(), batch_size=2, collate_fn=lambda b: len(b))
    assert list(dl) == [2, 2, 1]
    assert list(DataLoader(_ds(3), batch_size=None))[1][1].tolist() == 1


def test_random_split_lengths_fractions_and_generator():
    ds = _ds(10)
    a, b = random_split(ds, [7, 3], generator=tg.Generator(0))
    idx = sorted(a.indices + b.indices)
    assert idx == list(range(10)) and len(a) == 7 and len(b) == 3
    c, d = random_split(ds, [7, 3], generator=tg.Generator(0))
    assert a.indices == c.indices
    e, f, g = random_split(ds, [0.5, 0.3, 0.2], generator=tg.Generator(1))
    assert (len(e), len(f), len(g)) == (5, 3, 2)
    assert [len(s) for s in random_split(range(11), [0.5, 0.5])] == [6, 5]
    with pytest.raises(ValueError, match="sum of input lengths"):
        random_split(ds, [3, 3])
    x, y = a[0]
    assert int(y) == a.indices[0]
    batch = next(iter(DataLoader(a, batch_size=7)))
    assert batch[1].tolist() == a.indices


def test_num_workers_loads_in_the_calling_thread_and_says_so():
    with pytest.warns(UserWarning, match="num_workers=2 loads the batches in the calling"):
        loader = DataLoader(_ds(), batch_size=4, num_workers=2)
    assert [b[1].tolist() for b in loader] == [b[1].tolist() for b in DataLoader(_ds(), 4)]
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(_ds(), num_workers=-1)
