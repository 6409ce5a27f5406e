"""Samplers (PyTorch's ``torch.utils.data.sampler``): which dataset indices a ``DataLoader``
visits, in what order, and how they are grouped into batches.

Random samplers draw from ``generator`` (a ``tg.Generator`` or NumPy Generator) or, without
one, from tapegrad's default generator, so ``tg.manual_seed`` makes them reproducible; the
orders differ from PyTorch's, which draws from torch's generator.
"""
from ...random import rng

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]


def _check_positive_int(name, value):
    """PyTorch's ValueError for a count that is not a positive int (bools refused)."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got "
                         f"{name}={value!r}")


def _check_bool(name, value, error=ValueError):
    """PyTorch's error (``error``: its class differs between samplers) for a non-bool flag."""
    if not isinstance(value, bool):
        raise error(f"{name} should be a boolean value, but got {name}={value!r}")


class Sampler:
    """Base class: ``__iter__`` yields dataset indices (or lists of them, for batch
    samplers); ``__len__`` says how many, where known."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the dataset each epoch; with ``replacement=True``, ``num_samples``
    independent uniform draws (``num_samples`` defaults to the dataset's length)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        _check_bool("replacement", replacement, TypeError)
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = num_samples
        _check_positive_int("num_samples", self.num_samples)

    @property
    def num_samples(self):
        """How many indices an epoch yields."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, draw = len(self.data_source), rng(self.generator)
        if self.replacement:
            return iter(draw.integers(0, n, self.num_samples).tolist())
        whole, rest = divmod(self.num_samples, n)
        order = [i for _ in range(whole) for i in draw.permutation(n).tolist()]
        return iter(order + draw.permutation(n).tolist()[:rest])

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order each epoch."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        return iter([self.indices[i] for i in rng(self.generator).permutation(len(self.indices))])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (with or
    without replacement)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        _check_positive_int("num_samples", num_samples)
        _check_bool("replacement", replacement)
        w = [float(v) for v in (weights.tolist() if hasattr(weights, "tolist") else weights)]
        if any(v < 0 for v in w) or not sum(w) > 0:
            raise ValueError("WeightedRandomSampler: weights must be non-negative with a "
                             "positive sum")
        if not replacement and num_samples > sum(v > 0 for v in w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples "
                             f"without replacement from {sum(v > 0 for v in w)} non-zero weights")
        self.weights, self.num_samples = w, num_samples
        self.replacement, self.generator = replacement, generator

    def __iter__(self):
        total = sum(self.weights)
        p = [v / total for v in self.weights]
        return iter(rng(self.generator).choice(len(p), self.num_samples, replace=self.replacement,
                                               p=p).tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``)."""

    def __init__(self, sampler, batch_size, drop_last):
        _check_positive_int("batch_size", batch_size)
        _check_bool("drop_last", drop_last)
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
