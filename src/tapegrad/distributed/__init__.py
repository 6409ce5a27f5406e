"""Training on many processes over MPI (PyTorch's ``torch.distributed`` names).

    import tapegrad.distributed as dist
    dist.init_process_group("mpi")          # rank and world size come from mpiexec
    t = tg.ones(3) * dist.get_rank()
    dist.all_reduce(t)                      # in place, on every rank

Start the processes with ``mpiexec -n 4 python train.py`` or
``python -m tapegrad.distributed.run -n 4 train.py`` (which finds the mpiexec of the
mpich wheel). Importing this package does not import mpi4py; ``init_process_group``
does, and says how to install it when it is missing (``pip install 'tapegrad[mpi]'``).

- ``group``: the process group, the abort-on-uncaught-exception hook, shutdown.
- ``collectives``: all_reduce, broadcast, all_gather, gather, scatter, reduce_scatter,
  reduce, barrier, send/recv; ``async_op=True`` returns a Work with ``wait()``.
- ``check``: the agreement check that turns mismatched collectives into errors.
- ``liveness``: waits that poll, so a rank that left or a timeout is an error, not a hang.
- ``ddp``/``reducer``: DistributedDataParallel (also ``tg.nn.parallel``).
- ``algorithms.ddp_comm_hooks``: communication hooks (``fp16_compress_hook``).
"""
from .group import (init_process_group, destroy_process_group, is_available, is_initialized,
                    get_rank, get_world_size, group, ProcessGroup, abort)
from .collectives import (ReduceOp, Work, Future, barrier, all_reduce, reduce, broadcast,
                          all_gather, gather, scatter, reduce_scatter, send, recv, isend, irecv)
from .check import CollectiveMismatchError, set_checks
from .liveness import PeerLeftError, DistributedTimeoutError

__all__ = ["init_process_group", "destroy_process_group", "is_available", "is_initialized",
           "get_rank", "get_world_size", "group", "ProcessGroup", "abort", "ReduceOp", "Work",
           "Future", "barrier", "all_reduce", "reduce", "broadcast", "all_gather", "gather",
           "scatter", "reduce_scatter", "send", "recv", "isend", "irecv",
           "CollectiveMismatchError", "set_checks", "PeerLeftError", "DistributedTimeoutError",
           "DistributedDataParallel"]


def __getattr__(name):
    if name == "DistributedDataParallel":
        from .ddp import DistributedDataParallel
        return DistributedDataParallel
    raise AttributeError(f"module 'tapegrad.distributed' has no attribute '{name}'")
