"""Batching (PyTorch's ``torch.utils.data.dataloader``): ``DataLoader`` and
``default_collate``.

Shuffling draws from a ``generator`` (``tg.Generator`` or NumPy Generator) or, without
one, from tapegrad's default generator, so ``tg.manual_seed`` makes every epoch's order
reproducible. No worker processes: batches are built in the calling thread (a
``num_workers`` above 0 gives the same batches, with a warning that no workers run).
"""
import numbers
import warnings

from ... import backend
from ...core.tensor import Tensor
from ...random import rng
from .dataset import TensorDataset

xp = backend.xp

__all__ = ["DataLoader", "default_collate", "get_worker_info"]


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


def get_worker_info():
    """None: tapegrad's DataLoader loads in the calling thread, never in a worker process."""
    return None


class DataLoader:
    """Iterate over ``dataset`` in batches.

    ``shuffle=True`` draws a new permutation each epoch from ``generator`` (or
    tapegrad's default generator). A TensorDataset without a custom ``collate_fn`` is
    batched by one fancy-index per tensor instead of sample by sample (same result).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
                 generator=None, **kwargs):
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers option should be non-negative, got {num_workers!r}")
        if num_workers:   # same batches, made here: say so rather than refuse the program
            warnings.warn(f"tapegrad's DataLoader has no worker processes: num_workers="
                          f"{num_workers} loads the batches in the calling thread",
                          UserWarning, stacklevel=2)
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                             "shuffle, sampler, and drop_last")
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
