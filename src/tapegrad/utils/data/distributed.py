"""Sharding a dataset over processes (PyTorch's ``torch.utils.data.distributed``)."""
import math

from ...random import Generator, rng
from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
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
        num_replicas (int, optional): the number of processes sharing the data (the
            world size of the default group by default).
        rank (int, optional): this process's share (its rank in the default group by
            default).

    Raises:
        ValueError: a rank outside [0, num_replicas - 1].
        RuntimeError: num_replicas or rank left out without an initialized process group.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            from ... import distributed as dist
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
