"""Gradient buckets for DistributedDataParallel: averaging during backward, overlapped.

Parameters go into buckets in reverse order (the order backward produces their gradients),
a new bucket starting when the current one reaches ``bucket_cap_mb`` or the dtype changes.
Each parameter has a post-accumulate-grad hook (``Tensor.register_post_accumulate_grad_hook``:
the engine runs it as soon as that parameter's gradient is complete, before the rest of
backward). The hook copies ``.grad`` into the parameter's slot of its bucket; when a bucket's
last slot is filled, its communication hook (default: divide by the world size, then a
non-blocking allreduce) starts, so the transfer runs while backward goes on. Buckets start
in index order on every rank, so all ranks issue their collectives in the same order. When
every bucket has started, the reducer waits for them and writes the averages into ``.grad``.
Hooks also poke MPI's progress engine, which moves non-blocking transfers only inside MPI
calls.

Uneven steps: when a rank has left (its loop ended) while another still waits for a bucket,
the wait's PeerLeftError (see ``liveness``) becomes one that names the bucket and step and
says how to give every rank the same number of batches.
"""
import weakref

from .. import backend
from ..core.tensor import Tensor
from .liveness import PeerLeftError, what_left

xp = backend.xp


class GradBucket:
    """What a communication hook receives (PyTorch's ``dist.GradBucket``): a flat buffer
    holding the gradients of some parameters, one after another."""

    def __init__(self, index, buffer, params, offsets, last):
        self._index, self._buffer, self._params = index, buffer, params
        self._offsets, self._last = offsets, last

    def index(self):
        return self._index

    def buffer(self):
        """The flat tensor of this bucket's gradients."""
        return self._buffer

    def set_buffer(self, tensor):
        self._buffer._data[...] = tensor._data

    def parameters(self):
        return list(self._params)

    def gradients(self):
        """One view of the buffer per parameter, shaped like the parameter."""
        return [Tensor(self._buffer._data[o:o + p.numel()].reshape(p.shape))
                for p, o in zip(self._params, self._offsets)]

    def is_last(self):
        """True for the bucket whose communication starts last in an iteration."""
        return self._last


def assign_buckets(params, cap_bytes):
    """Lists of parameter indices, one per bucket, filling buckets in reverse parameter
    order; a bucket closes once it holds at least ``cap_bytes`` or at a dtype change."""
    buckets, current, size = [], [], 0
    for i in reversed(range(len(params))):
        p = params[i]
        if current and (size >= cap_bytes or p.dtype != params[current[0]].dtype):
            buckets.append(current)
            current, size = [], 0
        current.append(i)
        size += p.numel() * p.dtype.itemsize
    if current:
        buckets.append(current)
    return buckets


class Reducer:
    """Averages the gradients of ``params`` over ``group`` during backward (see the
    module docstring). ``names`` label parameters in error messages."""

    def __init__(self, params, names, group, cap_bytes, find_unused):
        self.params, self.names, self.group, self.find_unused = params, names, group, find_unused
        self.hook, self.state = None, None       # None: the built-in allreduce hook
        self.overlap = True                      # False: start every bucket at the end
        self.buckets = []
        plan = assign_buckets(params, cap_bytes)
        for b, idx in enumerate(plan):
            offsets = [0]
            for i in idx[:-1]:
                offsets.append(offsets[-1] + params[i].numel())
            total = offsets[-1] + params[idx[-1]].numel()
            buf = Tensor(xp.zeros(total, dtype=params[idx[0]].dtype))
            self.buckets.append(GradBucket(b, buf, [params[i] for i in idx], offsets, False))
        self.buckets[-1]._last = True
        self.where = {}                          # param index -> (bucket, offset)
        for bucket, idx in zip(self.buckets, plan):
            for i, off in zip(idx, bucket._offsets):
                self.where[i] = (bucket, off)
        self.armed = False
        self.step = 0                            # synced iterations begun, for messages
        self._handles = []
        me = weakref.ref(self)
        for i, p in enumerate(params):
            self._handles.append(p.register_post_accumulate_grad_hook(_on_grad(me, i)))

    # -- one iteration -------------------------------------------------------------------
    def prepare(self, outputs):
        """Called after each forward that will be followed by a synced backward: reset the
        counts; with find_unused_parameters, parameters the outputs don't depend on are
        ready at once (their slots hold their current gradient, or zeros)."""
        if self.armed and any(self.ready):
            self._raise_unfinished()
        self.ready = [False] * len(self.params)
        self.step += 1
        self.pending = [len(b._params) for b in self.buckets]
        self.futures = []
        self.armed = True
        self.used = None
        if self.find_unused:
            reached = _leaves_reached(outputs)
            self.used = [p.node in reached for p in self.params]
            for i, used in enumerate(self.used):
                if not used:
                    self.mark_ready(i)

    def disarm(self):
        """The next backward is not synchronised (no_sync, or grad mode off)."""
        self.armed = False

    def mark_ready(self, i):
        if self.ready[i]:
            raise RuntimeError(
                f"DistributedDataParallel: parameter '{self.names[i]}' received its gradient "
                f"twice in one iteration (two backward passes through one forward's outputs, "
                f"or an unused parameter that still got a gradient). Call backward once per "
                f"forward, or accumulate with no_sync().")
        self.ready[i] = True
        bucket, off = self.where[i]
        p = self.params[i]
        slot = bucket._buffer._data[off:off + p.numel()]
        if p._grad is None:
            slot[...] = 0
        else:
            slot[...] = p._grad._data.reshape(-1)
        self.pending[bucket._index] -= 1
        if self.overlap:
            self._start_ready_buckets()
            _poke(self.group)
        elif not any(self.pending):
            self._start_ready_buckets()
        if len(self.futures) == len(self.buckets):
            self._finish()

    def _start_ready_buckets(self):
        while len(self.futures) < len(self.buckets) and not self.pending[len(self.futures)]:
            bucket = self.buckets[len(self.futures)]
            if self.hook is None:
                from .algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
                fut = allreduce_hook(self.group, bucket)
            else:
                fut = self.hook(self.group if self.state is None else self.state, bucket)
            self.futures.append(fut)

    def _finish(self):
        self.armed = False
        results = []
        for b, fut in zip(self.buckets, self.futures):
            try:
                results.append(self._result(b, fut.wait()))
            except PeerLeftError as e:
                raise uneven_steps(e, f"gradient bucket {b._index} of step {self.step}") from None
        try:
            used = self._globally_used()
        except PeerLeftError as e:
            raise uneven_steps(e, f"the used-parameter flags of step {self.step}") from None
        for i, p in enumerate(self.params):
            bucket, off = self.where[i]
            avg = results[bucket._index][off:off + p.numel()].reshape(p.shape)
            if p._grad is None:
                if used is None or used[i]:
                    p._grad = Tensor(avg.copy())
            else:
                p._grad._data[...] = avg
                p._grad._vc[0] += 1

    def _result(self, bucket, value):
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        buf = bucket._buffer
        if not isinstance(value, Tensor) or value.shape != buf.shape or value.dtype != buf.dtype:
            got = (f"{value.dtype} {list(value.shape)}" if isinstance(value, Tensor)
                   else type(value).__name__)
            raise RuntimeError(f"DistributedDataParallel: the communication hook's future for "
                               f"bucket {bucket._index} returned {got}; it must return the "
                               f"bucket's tensor ({buf.dtype} {list(buf.shape)})")
        return value._data

    def _globally_used(self):
        """With find_unused_parameters: which parameters any rank used (one small
        allreduce), so a parameter no rank used keeps ``.grad`` None."""
        if self.used is None:
            return None
        from .collectives import all_reduce, ReduceOp
        flags = Tensor(xp.asarray(self.used, dtype=backend.int32))
        all_reduce(flags, ReduceOp.MAX, group=self.group)
        return [bool(f) for f in flags._data]

    def _raise_unfinished(self):
        missing = [self.names[i] for i, r in enumerate(self.ready) if not r]
        self.armed = False
        raise RuntimeError(
            f"DistributedDataParallel: the previous iteration's gradient reduction did not "
            f"finish: these parameters got no gradient in its backward: {', '.join(missing)}. "
            f"Either make every parameter take part in the loss, or pass "
            f"find_unused_parameters=True (parameters the forward's outputs don't depend on "
            f"are then reduced with zero gradients).")

    def remove_hooks(self):
        for h in self._handles:
            h.remove()
        self._handles = []


def uneven_steps(err, waits_for):
    """The PeerLeftError ``err`` of a DDP wait, said as what it means: the ranks ran
    different numbers of steps (``waits_for``: what this rank was waiting for)."""
    return PeerLeftError(
        f"DistributedDataParallel: {what_left(err.peers)} left the job (it finished its loop "
        f"or exited) while rank {err.rank} waits for {waits_for}: the ranks ran different "
        f"numbers of steps. Give every rank the same number of batches and epochs "
        f"(DistributedSampler pads the shards to equal length), or stop every rank at the "
        f"same step", err.peers, err.rank)


def _on_grad(reducer_ref, i):
    def hook(param):
        reducer = reducer_ref()
        if reducer is not None and reducer.armed:
            reducer.mark_ready(i)
    return hook


def _poke(group):
    """Let MPI move the transfers in flight (MPICH progresses them only inside MPI calls)."""
    group.comm.Iprobe()


def _leaves_reached(outputs):
    """The leaf nodes the graph of ``outputs`` (tensors in nested tuples/lists/dicts)
    reaches."""
    stack, seen, leaves = [], set(), set()
    todo = [outputs]
    while todo:
        o = todo.pop()
        if isinstance(o, Tensor):
            if o.node is not None:
                stack.append(o.node)
        elif isinstance(o, dict):
            todo.extend(o.values())
        elif isinstance(o, (list, tuple)):
            todo.extend(o)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n.is_leaf:
            leaves.add(n)
        else:
            stack.extend(m for m in n.next if m is not None)
    return leaves
