"""``tapegrad.nn.parallel.DistributedDataParallel``, at PyTorch's place. It is defined in
``tapegrad.distributed.ddp`` (distributed code sits on top of nn); importing it needs no
MPI until a DistributedDataParallel is built."""
from ...distributed.ddp import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
