"""Datasets and batching (PyTorch's ``torch.utils.data``), laid out as PyTorch's:
``dataset`` (Dataset, TensorDataset, ConcatDataset, Subset, random_split), ``sampler``
(Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler,
BatchSampler), ``dataloader`` (DataLoader, default_collate, get_worker_info) and
``distributed`` (DistributedSampler).

No worker processes: batches are built in the calling thread (``num_workers > 0`` warns).
"""
from .dataset import Dataset, TensorDataset, ConcatDataset, Subset, random_split
from .sampler import (Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
                      WeightedRandomSampler, BatchSampler)
from .dataloader import DataLoader, default_collate, get_worker_info
from .distributed import DistributedSampler

__all__ = ["Dataset", "TensorDataset", "ConcatDataset", "Subset", "random_split", "Sampler",
           "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler", "DataLoader", "default_collate", "get_worker_info",
           "DistributedSampler"]
