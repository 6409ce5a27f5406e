"""Datasets (PyTorch's ``torch.utils.data.dataset``): ``Dataset``, ``TensorDataset``,
``ConcatDataset``, ``Subset`` and ``random_split``.

``random_split`` draws from a ``generator`` (``tg.Generator`` or NumPy Generator) or,
without one, from tapegrad's default generator, so ``tg.manual_seed`` makes it
reproducible.
"""
import bisect
import math

from ...random import rng

__all__ = ["Dataset", "TensorDataset", "ConcatDataset", "Subset", "random_split"]


class Dataset:
    """Anything with ``__getitem__(i)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Sample i is ``tuple(t[i] for t in tensors)``; all tensors share the first dim."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0]
        for i, t in enumerate(tensors):
            if t.shape[0] != n:
                raise ValueError(f"size mismatch between tensors: tensor 0 has {n} samples, "
                                 f"tensor {i} has {t.shape[0]} (shape {list(t.shape)})")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class ConcatDataset(Dataset):
    """The datasets one after another: index ``i`` past the end of the first is looked up in
    the next (``dataset_a + dataset_b`` makes one too)."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        self.cumulative_sizes, total = [], 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self):
        return self.cumulative_sizes[-1] if self.cumulative_sizes else 0

    def __getitem__(self, idx):
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += n
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order (``torch.utils.data.Subset``):
    ``Subset(ds, idx)[i]`` is ``ds[idx[i]]``; a list index fetches a batch at once.

    Args:
        dataset (Dataset): the full dataset.
        indices (sequence of int): positions in ``dataset``.
    """
    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Split into non-overlapping Subsets of the given lengths, or fractions summing to 1
    (remainders go one each to the first subsets, as PyTorch)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(f, float) for f in lengths) and \
            math.isclose(sum(lengths), 1) and sum(lengths) <= 1 + 1e-9:
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError(f"sum of input lengths ({sum(lengths)}) does not equal the length of "
                         f"the input dataset ({n})")
    perm = rng(generator).permutation(n).tolist()
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start:start + k]))
        start += k
    return out
