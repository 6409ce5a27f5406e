"""The standard DDP communication hooks (PyTorch's ``default_hooks``).

A hook is ``hook(state, bucket) -> Future``: it starts the communication of one gradient
bucket and returns a future whose value is the bucket's tensor of averaged gradients.
``state`` is the process group to use (None: the default group).
"""
from ... import group as _group
from ...collectives import all_reduce
from ....core.modes import no_grad
from .... import backend


def _allreduce_fut(process_group, tensor):
    """Divide ``tensor`` by the world size, then start its SUM allreduce; the future's value
    is the tensor."""
    group = process_group or _group.default_group("allreduce_hook")
    tensor._data /= group.size()
    fut = all_reduce(tensor, group=group, async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


def allreduce_hook(process_group, bucket):
    """Average the bucket with one allreduce (what DistributedDataParallel does by default).
    Dividing before summing keeps float16 sums from overflowing."""
    return _allreduce_fut(process_group, bucket.buffer())


def fp16_compress_hook(process_group, bucket):
    """Send the gradients in float16: the bucket is cast to float16 (half the bytes),
    divided by the world size, summed across ranks, and cast back into the bucket. Costs
    float16 rounding (about 3 decimal digits) and float16's range (|g| < 65504 after
    dividing by the world size)."""
    buffer = bucket.buffer()
    with no_grad():
        compressed = buffer.to(backend.float16)
    fut = _allreduce_fut(process_group, compressed)

    def decompress(f):
        buffer._data[...] = f.value()._data
        return buffer
    return fut.then(decompress)
