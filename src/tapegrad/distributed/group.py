"""The process group: one MPI communicator, how ranks agree before a collective, and what
happens when a rank fails.

``init_process_group("mpi")`` takes the rank and world size from MPI (the processes were
started by mpiexec; a plain ``python`` start is a world of one) and duplicates
``COMM_WORLD``, so tapegrad's traffic never mixes with a program's own mpi4py calls.

Failure: ``init_process_group`` installs a ``sys.excepthook`` that prints an uncaught
exception's traceback and calls ``MPI_Abort``, which makes mpiexec end every rank at once
with a non-zero status; without it, the other ranks would wait in their next collective
forever. An error that every rank raises together (a CollectiveMismatchError) is printed by
rank 0 only; the others give it 3 seconds to do so before printing and aborting themselves.
An error from MPI itself (most often: a peer rank died) waits the same 3 seconds, so the
failing rank's traceback is the one printed.

Leaving: a rank that leaves (destroy_process_group, or the atexit hook at the end of the
program) tells the others first, and every wait polls instead of blocking in MPI, so a
rank still waiting for a collective that the leaver never started gets a PeerLeftError
and aborts the job instead of waiting forever (see ``liveness``).
"""
import atexit
import os
import sys
import time

from . import _mpi, check, liveness

_state = {"world": None, "hook": None, "atexit": False}
ABORT_GRACE_S = 3.0
FORWARD_S = 0.25


class ProcessGroup:
    """A set of ranks that communicate: an MPI communicator plus whether collectives on it
    check agreement first (see ``tapegrad.distributed.check``)."""

    def __init__(self, comm, internal=False):
        self.comm = comm
        self.internal = internal      # DDP's private groups skip the per-call check
        self._rank, self._size = comm.Get_rank(), comm.Get_size()
        self.id = liveness.new_group()

    def rank(self):
        """This process's rank in the group (0 to ``size() - 1``)."""
        return self._rank

    def size(self):
        """The number of processes in the group."""
        return self._size

    def duplicate(self):
        """A new group of the same ranks whose messages never match this one's (collective:
        every rank must call it). Used by DistributedDataParallel for its buckets."""
        return ProcessGroup(self.comm.Dup(), internal=True)

    def start(self, method, *args):
        """Start the non-blocking ``comm.I<method>(*args)`` (``method``: "Allreduce",
        "Bcast", ...), counted as this group's next collective. Returns (request, its
        number), for ``liveness.wait``."""
        req = getattr(self.comm, "I" + method[0].lower() + method[1:])(*args)
        return req, liveness.started(self.id)

    def run(self, what, method, *args):
        """Run collective ``comm.<method>(*args)`` to completion, polling (see ``liveness``:
        PeerLeftError when a rank left, DistributedTimeoutError); ``what`` names it."""
        req, seq = self.start(method, *args)
        liveness.wait([req], what, self.id, seq)

    def checked(self):
        """Whether collectives on this group run the agreement check first."""
        return check.checks_enabled(self.internal) and self._size > 1

    def agree(self, op, dtype=None, shape=(), reduce_op=0, root=-1):
        """Check that every rank is calling ``op`` with the same dtype, shape, reduce op and
        root (a no-op when checks are off). Raises CollectiveMismatchError otherwise."""
        if not self.checked():
            return
        sig = check.signature(op, dtype, shape, reduce_op, root)
        all_sigs = _mpi.host.empty((self._size, check.LENGTH), dtype=sig.dtype)
        self.run(op, "Allgather", sig, all_sigs)
        check.compare(all_sigs)

    def free(self):
        """Release the group's MPI communicator; the group is unusable afterwards."""
        self.comm.Free()


class _GroupNamespace:
    """``dist.group.WORLD``: the default group (None before init_process_group)."""

    @property
    def WORLD(self):
        return _state["world"]


group = _GroupNamespace()


def is_available():
    """True when mpi4py is installed (without importing it or starting MPI)."""
    import importlib.util
    return importlib.util.find_spec("mpi4py") is not None


def is_initialized():
    """True between init_process_group and destroy_process_group."""
    return _state["world"] is not None


def init_process_group(backend="mpi", init_method=None, timeout=None, world_size=-1, rank=-1,
                       **kwargs):
    """Join the processes started by mpiexec into the default group.

    Args:
        backend: "mpi" (the only backend; PyTorch's "gloo" and "nccl" have no equivalent).
        init_method: must be None (MPI's launcher does the rendezvous).
        timeout (datetime.timedelta or seconds, optional): how long any wait on the other
            ranks may last before it raises DistributedTimeoutError (default:
            ``TAPEGRAD_DISTRIBUTED_TIMEOUT`` seconds, else 30 minutes, as PyTorch).
        world_size (int, optional): when given, it must equal what MPI reports.
        rank (int, optional): when given, it must equal what MPI reports.

    Raises:
        ValueError: another backend, an init_method, or a rank/world size that differs
            from MPI's. RuntimeError: called twice without destroy_process_group.
        ImportError: mpi4py or MPI is missing (the message says how to install them).
    """
    if str(backend).lower() != "mpi":
        raise ValueError(f"init_process_group: backend {backend!r} is not available; "
                         f"tapegrad.distributed runs on MPI only: use backend='mpi'")
    if init_method is not None or kwargs.get("store") is not None:
        raise ValueError("init_process_group: init_method/store are not used with MPI: start "
                         "the processes with mpiexec (or python -m tapegrad.distributed.run), "
                         "which connects them")
    if is_initialized():
        raise RuntimeError("init_process_group: the default process group is already "
                           "initialized; call destroy_process_group() before initializing "
                           "it again")
    MPI = _mpi.load()
    world = MPI.COMM_WORLD
    for name, given, actual in (("world_size", world_size, world.Get_size()),
                                ("rank", rank, world.Get_rank())):
        if given not in (-1, None) and int(given) != actual:
            raise ValueError(f"init_process_group: {name}={given} but MPI started this "
                             f"process with {name} {actual}; leave it out (MPI sets it)")
    liveness.start(world, timeout)
    _state["world"] = ProcessGroup(world.Dup())
    if _state["hook"] is None:
        _state["hook"] = sys.excepthook
        sys.excepthook = _abort_on_uncaught
    if not _state["atexit"]:
        atexit.register(_shutdown_at_exit)   # runs before mpi4py's MPI_Finalize
        _state["atexit"] = True


def destroy_process_group(group=None):
    """Leave the default group (collective: every rank calls it, and it returns once all
    have). A rank still waiting in a collective that this one never started gets an error
    instead of waiting forever: a CollectiveMismatchError when both run the agreement check
    (``...; rank 1: shutdown``), else a PeerLeftError naming this rank (see ``liveness``)."""
    world = _state["world"]
    if world is None:
        raise RuntimeError("destroy_process_group: the default process group is not "
                           "initialized (call init_process_group first)")
    if group is not None and group is not world:
        group.free()
        return
    liveness.leave(world.id if world.checked() else None)
    world.agree("shutdown")
    liveness.finish()
    _state["world"] = None
    world.free()
    if _state["hook"] is not None and sys.excepthook is _abort_on_uncaught:
        sys.excepthook = _state["hook"]
    _state["hook"] = None


def default_group(op):
    """The default group, or RuntimeError naming ``op`` when there is none."""
    world = _state["world"]
    if world is None:
        raise RuntimeError(f"{op}: the default process group is not initialized; call "
                           f"tapegrad.distributed.init_process_group('mpi') first")
    return world


def get_rank(group=None):
    """This process's rank in ``group`` (default: the default group), 0-based."""
    return (group or default_group("get_rank")).rank()


def get_world_size(group=None):
    """The number of ranks in ``group`` (default: the default group)."""
    return (group or default_group("get_world_size")).size()


def abort(status=1):
    """End every rank of the job now (MPI_Abort), with exit status ``status``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    time.sleep(FORWARD_S)   # mpiexec forwards output asynchronously: let the last lines out
    _mpi.load().COMM_WORLD.Abort(status)
    os._exit(status)        # MPICH's Abort can return before mpiexec ends this process


def _abort_on_uncaught(etype, value, tb):
    world = _state["world"]
    if world is None or world.size() == 1:
        return (_state["hook"] or sys.__excepthook__)(etype, value, tb)
    mpi = sys.modules.get("mpi4py.MPI")
    if (getattr(value, "on_all_ranks", False) and world.rank() != 0
            or mpi is not None and isinstance(value, mpi.Exception)):
        # rank 0 prints the same error, or (an MPI error: a peer died) the rank that failed
        # prints its own; either aborts the job, which ends this process during the wait
        time.sleep(ABORT_GRACE_S)
    print(f"tapegrad.distributed: rank {world.rank()} of {world.size()} raised an uncaught "
          f"exception; aborting all ranks", file=sys.stderr)
    (_state["hook"] or sys.__excepthook__)(etype, value, tb)
    abort(130 if issubclass(etype, KeyboardInterrupt) else 1)


def _shutdown_at_exit():
    """At a normal exit, leave the group like destroy_process_group; an error there (a
    mismatch: another rank still waits in a collective; a timeout) is printed and aborts
    the job instead of hanging."""
    if _state["world"] is None:
        return
    try:
        destroy_process_group()
    except Exception as e:
        _abort_on_uncaught(type(e), e, e.__traceback__)
