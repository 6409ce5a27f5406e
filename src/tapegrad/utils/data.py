"""Datasets and batching (PyTorch's ``torch.utils.data`` names).

Shuffling and ``random_split`` draw from a ``generator`` (``tg.Generator`` or NumPy
Generator) or, without one, from tapegrad's default generator, so ``tg.manual_seed``
makes every epoch's order reproducible. No worker processes: batches are built in the
calling thread (``num_workers`` is accepted and must be 0).
"""
import math
import numbers

from .. import backend
from ..core.tensor import Tensor
from ..random import Generator, rng

xp = backend.xp

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "DistributedSampler",
           "random_split", "default_collate"]


class Dataset:
    """Anything with ``__getitem__(i)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


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


def default_collate(batch):
    """Stack a list of samples: tensors/arrays are stacked along a new first dim, numbers
    become a 1-D tensor, tuples/lists/dicts are collated element-wise, strings listed."""
    first = batch[0]
    if isinstance(first, Tensor):   # (on the samples' device)
        return Tensor(backend.array_module(first._data).stack([b._data for b in batch]))
    if isinstance(first, (backend.ndarray, backend.generic)):
        return Tensor(xp.stack([xp.asarray(b) for b in batch]))
    if isinstance(first, bool):
        return Tensor(xp.asarray(batch, dtype=backend.bool_))
    if isinstance(first, numbers.Integral):
        return Tensor(xp.asarray(batch, dtype=backend.int64))
    if isinstance(first, numbers.Real):
        return Tensor(xp.asarray(batch, dtype=backend.float64))
    if isinstance(first, str):
        return list(batch)
    if isinstance(first, dict):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(first, (tuple, list)):
        if any(len(b) != len(first) for b in batch):
            raise RuntimeError("each element in the batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, arrays, numbers, strings, "
                    f"dicts or lists; found {type(first).__name__}. Pass collate_fn=.")


class DataLoader:
    """Iterate over ``dataset`` in batches.

    ``shuffle=True`` draws a new permutation each epoch from ``generator`` (or
    tapegrad's default generator). A TensorDataset without a custom ``collate_fn`` is
    batched by one fancy-index per tensor instead of sample by sample (same result).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
                 generator=None, **kwargs):
        if num_workers:
            raise ValueError("tapegrad's DataLoader has no worker processes; use num_workers=0")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer, got {batch_size!r}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.collate_fn, self.drop_last, self.generator = collate_fn, drop_last, generator

    def _order(self):
        n = len(self.dataset)
        if self.sampler is not None:
            return list(self.sampler)
        if self.shuffle:
            return rng(self.generator).permutation(n).tolist()
        return list(range(n))

    def _batches(self):
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield i
            return
        bs = self.batch_size
        for s in range(0, len(order), bs):
            idx = order[s:s + bs]
            if len(idx) < bs and self.drop_last:
                return
            yield idx

    def __iter__(self):
        ds = self.dataset
        fast = isinstance(ds, TensorDataset) and self.collate_fn is None
        for idx in self._batches():
            if self.batch_size is None and self.batch_sampler is None:
                yield ds[idx] if self.collate_fn is None else self.collate_fn(ds[idx])
            elif fast:
                arr = xp.asarray(idx, dtype=backend.int64)
                yield [Tensor(t._data[arr if type(t._data) is backend.ndarray else
                                      backend.to_device(arr, t.device)])
                       for t in ds.tensors]
            else:
                yield (self.collate_fn or default_collate)([ds[i] for i in idx])

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DistributedSampler:
    """The indices of one rank's share of ``dataset``, for ``DataLoader(sampler=...)``
    (PyTorch's ``DistributedSampler``, with its exact sharding rule).

    Every rank gets ``ceil(N / num_replicas)`` indices: the (shuffled) index list is
    padded by repeating its start until it divides evenly (so all ranks run the same
    number of steps), and rank r takes every num_replicas-th index from position r.
    ``drop_last=True`` cuts the tail instead of padding. ``set_epoch(e)`` before each
    epoch reshuffles: the permutation comes from tapegrad's generator seeded with
    ``seed + epoch``, identical on every rank (PyTorch draws it from torch's generator, so
    the orders differ from PyTorch's; the sharding of a given order is the same).

    Args:
        num_replicas, rank: default to the world size and rank of the default group.

    Raises:
        ValueError: a rank outside [0, num_replicas - 1].
        RuntimeError: num_replicas or rank left out without an initialized process group.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            from .. import distributed as dist
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def permutation(self):
        """The order of all N indices this epoch, before sharding (the same on every rank)."""
        n = len(self.dataset)
        if not self.shuffle:
            return list(range(n))
        return rng(Generator(self.seed + self.epoch)).permutation(n).tolist()

    def shard(self, indices):
        """This rank's share of ``indices`` (a full order of the dataset)."""
        indices = list(indices)
        if self.drop_last:
            indices = indices[:self.total_size]
        else:
            pad = self.total_size - len(indices)
            indices += (indices * math.ceil(pad / len(indices)))[:pad] if pad else []
        return indices[self.rank:self.total_size:self.num_replicas]

    def __iter__(self):
        return iter(self.shard(self.permutation()))

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Use ``epoch`` for the next shuffle (call it on every rank before each epoch)."""
        self.epoch = epoch
