"""Collectives over tensors (PyTorch's ``torch.distributed`` functions), on MPI's buffer
methods: each call hands MPI the tensor's contiguous array (``_mpi._buffer``) and MPI
moves the bytes. Results are written into the given tensors in place, outside the tape
(nothing is recorded; a tensor that requires grad keeps its graph role).

Every function takes any float or int dtype (and bool for data movement; reductions on
bool are logical: SUM/MAX are "or", PRODUCT/MIN "and"), and these arguments:
    group: the ProcessGroup (default: the default group).
    async_op: return a ``Work`` at once (``wait()`` completes it) instead of None when done.
and raises:
    RuntimeError: no process group (init_process_group was not called).
    TypeError: an argument that is not a Tensor; ReduceOp.AVG on an integer tensor.
    ValueError: a tensor list without one tensor per rank, or with other shapes/dtypes.
    CollectiveMismatchError: the ranks called different collectives, or the same one with
        another dtype, shape, root or reduce op (the agreement check in ``check``; it runs
        before any data moves, so the group stays usable after the error).
    PeerLeftError: a rank left the job (destroy_process_group, or its program ended)
        without starting this collective; DistributedTimeoutError: the wait outlasted the
        process group's timeout. Blocking calls and ``wait()`` poll MPI (``liveness``)
        instead of blocking in it, so they raise these instead of hanging.
"""
import enum

from . import _mpi, liveness
from ._mpi import _buffer, _restore, _empty
from .group import default_group
from ..core.tensor import Tensor

host = _mpi.host


class ReduceOp(enum.IntEnum):
    """How ``all_reduce``, ``reduce`` and ``reduce_scatter`` combine the ranks' values. AVG
    is SUM divided by the world size (floating tensors only)."""
    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4


_MPI_OPS = {ReduceOp.SUM: "SUM", ReduceOp.AVG: "SUM", ReduceOp.PRODUCT: "PROD",
            ReduceOp.MIN: "MIN", ReduceOp.MAX: "MAX"}
_BOOL_OPS = {ReduceOp.SUM: "LOR", ReduceOp.MAX: "LOR", ReduceOp.PRODUCT: "LAND",
             ReduceOp.MIN: "LAND"}


class Work:
    """The handle of a collective started with ``async_op=True``; ``wait()`` blocks until
    it is complete and the tensors hold the result. ``what`` names the call in errors;
    ``group_id`` and ``seq`` (the collective's number on that group; None for point to
    point) let the wait tell when a peer that left will never take part."""

    def __init__(self, requests, finish, result, statuses=None, what="wait", group_id=None,
                 seq=None):
        self._requests, self._finish, self._result, self._done = requests, finish, result, False
        self._statuses, self._where = statuses, (what, group_id, seq)

    def wait(self, timeout=None):
        """Block until the collective completed and its result was written; returns True.
        Raises PeerLeftError or DistributedTimeoutError instead of waiting forever."""
        if not self._done:
            liveness.wait(self._requests, *self._where, statuses=self._statuses)
            self._complete()
        return True

    def is_completed(self):
        """True once complete (this also lets MPI make progress on it)."""
        if not self._done and _mpi.load().Request.Testall(self._requests, self._statuses):
            self._complete()
        return self._done

    def _complete(self):
        self._done = True
        self._finish()

    def result(self):
        """The output tensors (after wait)."""
        self.wait()
        return self._result

    def get_future(self):
        """A Future whose value is the list of output tensors."""
        return Future(self.result)


class Future:
    """A value computed on ``wait()`` (PyTorch's ``torch.futures.Future`` subset that DDP
    communication hooks use): ``then(callback)`` chains ``callback(future)``."""

    def __init__(self, compute):
        self._compute, self._value, self._done = compute, None, False

    def wait(self):
        """Compute the value on first call (later calls return it again).

        Returns:
            the value.
        """
        if not self._done:
            self._value, self._done = self._compute(), True
        return self._value

    value = wait

    def then(self, callback):
        """A future of ``callback(self)``, run when that future is waited on.

        Args:
            callback: a function of this (completed) future.

        Returns:
            Future: the chained future.
        """
        return Future(lambda: callback(self._ready()))

    def _ready(self):
        self.wait()
        return self

    @staticmethod
    def completed(value):
        """A future that already holds ``value``."""
        fut = Future(None)
        fut._value, fut._done = value, True
        return fut


def _tensor(op, t, name="tensor"):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a tapegrad Tensor, got {type(t).__name__}")
    return t


def _like(op, tensors, ref, count, name):
    """Check a list of ``count`` tensors shaped and typed like ``ref``."""
    if tensors is None or len(tensors) != count:
        got = "None" if tensors is None else f"{len(tensors)} tensors"
        raise ValueError(f"{op}: {name} must hold one tensor per rank ({count}), got {got}")
    for i, t in enumerate(tensors):
        _tensor(op, t, f"{name}[{i}]")
        if t.shape != ref.shape or t.dtype != ref.dtype:
            raise ValueError(f"{op}: {name}[{i}] is {t.dtype} {list(t.shape)}, but the tensor "
                             f"is {ref.dtype} {list(ref.shape)}; all must match")


def _mpi_op(op, reduce_op, dtype):
    MPI = _mpi.load()
    reduce_op = ReduceOp(reduce_op)
    if dtype.kind == "b":
        if reduce_op is ReduceOp.AVG:
            raise TypeError(f"{op}: ReduceOp.AVG needs a floating tensor, got bool")
        return getattr(MPI, _BOOL_OPS[reduce_op])
    if reduce_op is ReduceOp.AVG and dtype.kind != "f":
        raise TypeError(f"{op}: ReduceOp.AVG needs a floating tensor, got {dtype}; use SUM and "
                        f"divide, or convert the tensor to a float dtype")
    return getattr(MPI, _MPI_OPS[reduce_op])


def _start(name, group, async_op, method, args, finish, result=None):
    """Start ``comm.I<method>(*args)``; return its Work when async, else wait for it (a
    polled wait: it never hangs, see ``liveness``) and return None."""
    req, seq = group.start(method, *args)
    work = Work([req], finish, result, what=name, group_id=group.id, seq=seq)
    if async_op:
        return work
    work.wait()
    return None


def _reduction(name, g, tensor, op, root=-1):
    """The common start of a reduction: check ``tensor`` and ``op``, agree with the other
    ranks, and return (MPI op, buffer, finish), where finish divides the buffer for AVG and
    writes it back into ``tensor``."""
    _tensor(name, tensor, "output" if name == "reduce_scatter" else "tensor")
    mop = _mpi_op(name, op, tensor.dtype)
    g.agree(name, tensor.dtype, tensor.shape, int(op), root)
    buf = _buffer(tensor)

    def finish():
        if op == ReduceOp.AVG:
            host.true_divide(buf, g.size(), out=buf)
        _restore(buf, tensor)
    return mop, buf, finish


def barrier(group=None, async_op=False):
    """Block until every rank of the group has called barrier."""
    g = group or default_group("barrier")
    g.agree("barrier")
    return _start("barrier", g, async_op, "Barrier", (), lambda: None)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Combine ``tensor`` across ranks with ``op``; every rank gets the result in place."""
    g = group or default_group("all_reduce")
    mop, buf, finish = _reduction("all_reduce", g, tensor, op)
    return _start("all_reduce", g, async_op, "Allreduce", (_mpi.load().IN_PLACE, buf, mop),
                  finish, [tensor])


def reduce(tensor, dst=0, op=ReduceOp.SUM, group=None, async_op=False):
    """Like all_reduce, but only rank ``dst`` receives the result (others keep theirs)."""
    g = group or default_group("reduce")
    mop, buf, finish = _reduction("reduce", g, tensor, op, dst)
    if g.rank() == dst:
        args = (_mpi.load().IN_PLACE, buf, mop, dst)
    else:
        args, finish = (buf, None, mop, dst), lambda: None
    return _start("reduce", g, async_op, "Reduce", args, finish, [tensor])


def broadcast(tensor, src=0, group=None, async_op=False):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every rank."""
    g = group or default_group("broadcast")
    _tensor("broadcast", tensor)
    g.agree("broadcast", tensor.dtype, tensor.shape, root=src)
    buf = _buffer(tensor)
    return _start("broadcast", g, async_op, "Bcast", (buf, src),
                  lambda: _restore(buf, tensor), [tensor])


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list[i]`` with rank i's ``tensor``, on every rank."""
    g = group or default_group("all_gather")
    _tensor("all_gather", tensor)
    _like("all_gather", tensor_list, tensor, g.size(), "tensor_list")
    g.agree("all_gather", tensor.dtype, tensor.shape)
    recv = _empty((g.size(),) + tensor.shape, tensor)
    return _start("all_gather", g, async_op, "Allgather", (_buffer(tensor), recv),
                  lambda: _scatter_rows(recv, tensor_list), tensor_list)


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """Rank ``dst`` receives every rank's ``tensor`` in ``gather_list`` (others pass None)."""
    g = group or default_group("gather")
    _tensor("gather", tensor)
    root = g.rank() == dst
    if root:
        _like("gather", gather_list, tensor, g.size(), "gather_list")
    g.agree("gather", tensor.dtype, tensor.shape, root=dst)
    recv = _empty((g.size(),) + tensor.shape, tensor) if root else None
    return _start("gather", g, async_op, "Gather", (_buffer(tensor), recv, dst),
                  lambda: root and _scatter_rows(recv, gather_list), gather_list)


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Rank i receives ``scatter_list[i]`` of rank ``src`` into ``tensor``."""
    g = group or default_group("scatter")
    _tensor("scatter", tensor)
    send = None
    if g.rank() == src:
        _like("scatter", scatter_list, tensor, g.size(), "scatter_list")
        send = _stack(scatter_list)
    g.agree("scatter", tensor.dtype, tensor.shape, root=src)
    buf = _buffer(tensor)
    return _start("scatter", g, async_op, "Scatter", (send, buf, src),
                  lambda: _restore(buf, tensor), [tensor])


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Rank i receives the reduction over ranks of ``input_list[i]``, in ``output``."""
    g = group or default_group("reduce_scatter")
    _like("reduce_scatter", input_list, _tensor("reduce_scatter", output, "output"), g.size(),
          "input_list")
    mop, buf, finish = _reduction("reduce_scatter", g, output, op)
    return _start("reduce_scatter", g, async_op, "Reduce_scatter_block",
                  (_stack(input_list), buf, mop), finish, [output])


def _stack(tensors):
    return host.ascontiguousarray(host.stack([_buffer(t) for t in tensors]))


def _scatter_rows(rows, tensors):
    for row, t in zip(rows, tensors):
        _restore(row, t)


_TAG_SIGNATURE = 1 << 20   # point-to-point: the signature travels ahead of the data


def send(tensor, dst, group=None, tag=0):
    """Send ``tensor`` to rank ``dst`` (blocks until MPI has taken the data)."""
    isend(tensor, dst, group, tag).wait()


def isend(tensor, dst, group=None, tag=0):
    """Start sending ``tensor`` to rank ``dst``; returns a Work."""
    g = group or default_group("send")
    _tensor("send", tensor)
    reqs = []
    if _checked(g):
        sig = _sig_of("send", tensor, g.rank())
        reqs.append(g.comm.Isend(sig, dst, _TAG_SIGNATURE + tag))
    buf = _buffer(tensor)
    reqs.append(g.comm.Isend(buf, dst, tag))
    return Work(reqs, lambda: None, [tensor], what=f"send to rank {dst}")


def recv(tensor, src=None, group=None, tag=0):
    """Receive into ``tensor`` from rank ``src`` (None: any rank); returns the sender's rank.
    Raises CollectiveMismatchError when the sender's tensor has another dtype or shape."""
    work = irecv(tensor, src, group, tag)
    work.wait()
    return work.source[0]


def irecv(tensor, src=None, group=None, tag=0):
    """Start receiving into ``tensor``; returns a Work (``.source[0]``: the sender, after
    wait). With checks on, the sender's signature arrives first and the data is received
    in ``wait()`` once it matched."""
    g = group or default_group("recv")
    _tensor("recv", tensor)
    MPI = _mpi.load()
    status, buf = MPI.Status(), _buffer(tensor)
    source = [MPI.ANY_SOURCE if src is None else src]
    if not _checked(g):
        def done():
            source[0] = status.Get_source()
            _restore(buf, tensor)
        work = Work([g.comm.Irecv(buf, source[0], tag)], done, [tensor], [status],
                    what=_recv_what(src))
        work.source = source
        return work
    got = host.empty_like(_sig_of("send", tensor, 0))
    req = g.comm.Irecv(got, source[0], _TAG_SIGNATURE + tag)

    def finish():
        source[0] = int(got[2])    # the sender put its rank in the signature's root field
        want = _sig_of("send", tensor, source[0])
        if not (got == want).all():
            from .check import describe, CollectiveMismatchError
            _, _, _, dt, shape = describe(got)
            g.comm.Probe(source[0], tag, status)    # take the data, so the sender finishes
            g.comm.Recv(bytearray(status.Get_count(MPI.BYTE)), source[0], tag)
            err = CollectiveMismatchError(
                f"recv: rank {source[0]} sent {dt} {list(shape)}, but rank {g.rank()} "
                f"receives into {tensor.dtype} {list(tensor.shape)}")
            err.on_all_ranks = False    # only the receiver knows
            raise err
        g.comm.Recv(buf, source[0], tag, status)
        _restore(buf, tensor)
    work = Work([req], finish, [tensor], what=_recv_what(src))
    work.source = source
    return work


def _recv_what(src):
    return "recv from any rank" if src is None else f"recv from rank {src}"


def _checked(g):
    from .check import checks_enabled
    return checks_enabled(g.internal)


def _sig_of(op, tensor, sender):
    from .check import signature
    return signature(op, tensor.dtype, tensor.shape, root=sender)
