"""DistributedDataParallel: one model replica per process, gradients averaged in backward.

    model = DistributedDataParallel(Net())      # after dist.init_process_group("mpi")

At construction every rank checks that all wrap the same model (parameter and buffer
count, shapes, dtypes, bucket size: three small allgathers; a difference is a
CollectiveMismatchError naming the tensor), then takes rank 0's parameters and buffers.
Each training forward broadcasts rank 0's buffers (BatchNorm statistics); backward averages
the gradients in buckets while it runs (``reducer``). Communication uses a private
duplicate of the group's communicator, so it never interleaves with the program's own
collectives.
"""
import contextlib

from .. import backend
from ..core.modes import is_grad_enabled
from ..core.tensor import Tensor
from ..nn.module import Module
from .check import verify_same_tensors
from .collectives import broadcast
from .group import default_group
from .liveness import PeerLeftError
from .reducer import Reducer, uneven_steps

xp = backend.xp


class DistributedDataParallel(Module):
    """Data parallelism over processes (PyTorch's ``nn.parallel.DistributedDataParallel``).

    Args:
        module: the model; ``.module`` returns it, and ``forward`` passes through to it.
        broadcast_buffers: broadcast rank 0's buffers at each forward in training mode.
        process_group: the group to average over (default: the default group).
        bucket_cap_mb: gradient bucket size in MiB (25 as PyTorch); smaller buckets start
            communicating earlier in backward, larger ones send fewer messages.
        find_unused_parameters: allow parameters the forward's outputs don't depend on
            (one graph walk per forward and a small allreduce per step); without it such
            a parameter makes the next forward raise, naming it.
        device_ids: accepted for PyTorch's signature; must be None.
        output_device: accepted for PyTorch's signature; must be None.

    Raises:
        RuntimeError: no process group, or no parameter requires grad.
        CollectiveMismatchError: the ranks' models differ (which tensor, which ranks).
    """

    def __init__(self, module, device_ids=None, output_device=None, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=25, find_unused_parameters=False):
        super().__init__()
        if device_ids is not None or output_device is not None:
            raise ValueError("DistributedDataParallel: device_ids/output_device must be None "
                             "(one process per replica; the module stays where it is)")
        group = process_group or default_group("DistributedDataParallel")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't "
                               "have any parameter that requires a gradient")
        cap = int(bucket_cap_mb * 1024 * 1024)
        tensors = [("parameter", n, p) for n, p in named]
        tensors += [("buffer", n, b) for n, b in module.named_buffers()]
        verify_same_tensors(group, "DistributedDataParallel", tensors,
                            {"bucket_cap_mb (bytes)": cap,
                             "find_unused_parameters": int(bool(find_unused_parameters))})
        self.__dict__["process_group"] = group
        self.__dict__["_group"] = group.duplicate()
        _broadcast_coalesced([t for _, _, t in tensors], self._group)
        self.__dict__["_reducer"] = Reducer([p for _, p in named], [n for n, _ in named],
                                            self._group, cap, find_unused_parameters)
        self.__dict__["_sync"] = True

    def forward(self, *inputs, **kwargs):
        if self.broadcast_buffers and self.training:
            bufs = list(self.module.buffers())
            if bufs:
                try:
                    _broadcast_coalesced(bufs, self._group)
                except PeerLeftError as e:
                    step = self._reducer.step + 1
                    raise uneven_steps(e, f"rank 0's buffers at step {step}") from None
        out = self.module(*inputs, **kwargs)
        if is_grad_enabled():
            if self._sync:
                self._reducer.prepare(out)
            else:
                self._reducer.disarm()
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Inside this context, backward passes of forwards run here only accumulate
        ``.grad`` locally; the first synced backward after it averages the sum."""
        old = self._sync
        self.__dict__["_sync"] = False
        try:
            yield
        finally:
            self.__dict__["_sync"] = old

    def register_comm_hook(self, state, hook):
        """Replace the bucket allreduce by ``hook(state, bucket) -> Future`` whose value is
        the bucket's averaged tensor (see ``algorithms.ddp_comm_hooks``). ``state=None``
        passes this DDP's process group (a private duplicate of the one it averages over).
        Raises RuntimeError when a hook is registered already."""
        if self._reducer.hook is not None:
            raise RuntimeError("register_comm_hook: a communication hook is registered "
                               "already; it can be registered only once")
        if not callable(hook):
            raise TypeError(f"register_comm_hook: hook must be callable, got "
                            f"{type(hook).__name__}")
        self._reducer.hook, self._reducer.state = hook, state

    def extra_repr(self):
        return (f"world_size={self._group.size()}, buckets={len(self._reducer.buckets)}, "
                f"find_unused_parameters={self.find_unused_parameters}")


def _broadcast_coalesced(tensors, group, src=0):
    """Copy rank ``src``'s values of ``tensors`` into them on every rank: one broadcast per
    dtype, of all tensors of that dtype packed together."""
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    for dtype, ts in by_dtype.items():
        flat = Tensor(xp.concatenate([t._data.reshape(-1) for t in ts]))
        broadcast(flat, src, group=group)
        off = 0
        for t in ts:
            n = t._data.size
            t._data[...] = flat._data[off:off + n].reshape(t.shape)
            t._vc[0] += 1
            off += n
