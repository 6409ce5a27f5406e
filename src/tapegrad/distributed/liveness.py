"""Waiting without hanging: how a rank that waits on MPI learns that a peer left, and the
timeout.

A rank that leaves (``destroy_process_group``, or the end of its program through the atexit
hook) first sends every other rank a notice on a private side communicator: how many
collectives it started on each process group, counting the shutdown agreement it is about
to join. Every wait in tapegrad.distributed (blocking collectives, ``Work.wait``, DDP's
gradient buckets, the signature check) tests its MPI requests instead of blocking in
``MPI_Wait``, and while they are incomplete it reads the notices. A collective cannot
complete once a peer has left without starting it (its count for the group is below this
collective's number), so the wait raises PeerLeftError at once, naming the peer and the
collective; a count that covers it means the peer took part and the data is still
arriving. A point-to-point wait has no count to compare and gives data in flight
``GRACE_S``. Every wait also ends after the timeout (``init_process_group(timeout=)``, else
``TAPEGRAD_DISTRIBUTED_TIMEOUT`` seconds, else 30 minutes as in PyTorch) with
DistributedTimeoutError. Uncaught, either error aborts the job through the exception hook
in ``group``, so every rank ends.

Cost: a request complete at its first test costs one ``Testall``; otherwise the wait
spins (test, probe) for ``SPIN_S``, then sleeps between tests, doubling up to
``MAX_SLEEP_S``.
"""
import os
import time

from . import _mpi

TAG = 7
MAX_GROUPS = 256        # groups counted in a notice; later ones fall back to GRACE_S
GRACE_S = 1.0
SPIN_S = 0.01
MAX_SLEEP_S = 0.005
DEFAULT_TIMEOUT_S = 1800.0
_state = {"side": None, "rank": 0, "size": 1, "counts": [], "left": {}, "sends": [],
          "timeout": DEFAULT_TIMEOUT_S}


class PeerLeftError(RuntimeError):
    """A rank left the job (``peers``) while this one (``rank``) waited for a collective or
    message it will never send. Raised on the waiting rank only."""
    on_all_ranks = False

    def __init__(self, message, peers, rank):
        super().__init__(message)
        self.peers, self.rank = peers, rank


class DistributedTimeoutError(RuntimeError):
    """A wait on the other ranks lasted longer than the process group's timeout."""
    on_all_ranks = False


PeerLeftError.__module__ = DistributedTimeoutError.__module__ = "tapegrad.distributed"


def start(world, timeout=None):
    """Set up for ``world`` (an MPI communicator): the side communicator that carries
    notices (collective: every rank calls it, from init_process_group) and the timeout."""
    _state.update(side=world.Dup(), rank=world.Get_rank(), size=world.Get_size(), counts=[],
                  left={}, sends=[], timeout=timeout_seconds(timeout))


def timeout_seconds(timeout=None):
    """The wait limit in seconds: ``timeout`` (a timedelta or seconds), else
    ``TAPEGRAD_DISTRIBUTED_TIMEOUT``, else 1800."""
    if timeout is None:
        env = os.environ.get("TAPEGRAD_DISTRIBUTED_TIMEOUT", "")
        timeout = float(env) if env else DEFAULT_TIMEOUT_S
    seconds = float(timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout)
    if not seconds > 0:
        raise ValueError(f"init_process_group: the timeout must be positive, got {timeout!r}")
    return seconds


def new_group():
    """An id for a new process group (groups are created collectively, so every rank gives
    a group the same id)."""
    _state["counts"].append(0)
    return len(_state["counts"]) - 1


def started(group_id):
    """Count one more collective started on group ``group_id``; returns its number."""
    counts = _state["counts"]
    counts[group_id] += 1
    return counts[group_id]


def wait(requests, what, group_id=None, seq=None, statuses=None):
    """Wait until ``requests`` completed, without hanging: raises PeerLeftError when a peer
    left before starting collective number ``seq`` of group ``group_id`` (``seq`` None:
    point to point, a peer gone for GRACE_S), and DistributedTimeoutError after the timeout.
    ``what`` names the call in the messages."""
    test = _mpi.load().Request.Testall
    if test(requests, statuses):
        return
    hint = ("every rank must make the same collective calls, the same number of times, "
            "before it leaves" if seq is not None else "the matching send or recv never came")
    _poll(lambda: test(requests, statuses), what, lambda t0: _gone(group_id, seq, t0), hint)


def leave(group_id=None):
    """Tell every other rank that this one leaves (from destroy_process_group). ``group_id``:
    the group whose shutdown agreement follows, counted as started already."""
    if _state["side"] is None or _state["size"] == 1:
        return
    host = _mpi.host
    msg = host.zeros(MAX_GROUPS, dtype=host.int64)
    counts = _state["counts"][:MAX_GROUPS]
    msg[:len(counts)] = counts
    if group_id is not None and group_id < MAX_GROUPS:
        msg[group_id] += 1
    side, me = _state["side"], _state["rank"]
    _state["sends"] = [(side.Isend(msg, peer, TAG), msg) for peer in range(_state["size"])
                       if peer != me]


def finish():
    """After ``leave``: wait until every other rank has left too (their notices arrived,
    ours were taken), then free the side communicator."""
    side = _state["side"]
    if side is None:
        return
    others = _state["size"] - 1
    if others:
        _poll(lambda: _receive() or len(_state["left"]) == others, "destroy_process_group",
              lambda t0: (), "")
        _mpi.load().Request.Waitall([req for req, _ in _state["sends"]])
    _state.update(side=None, left={}, sends=[])
    side.Free()


def _poll(ready, what, gone, hint):
    """Call ``ready()`` until it is true: spin for SPIN_S, then sleep with backoff. Between
    calls, read notices: PeerLeftError when ``gone(t0)`` lists peers that left;
    DistributedTimeoutError at the limit."""
    t0 = time.monotonic()
    nap, limit = 5e-5, _state["timeout"]
    while not ready():
        _receive()
        peers = gone(t0)
        if peers:
            me = _state["rank"]
            raise PeerLeftError(
                f"{what}: {what_left(peers)} left the job (destroy_process_group, or its "
                f"program ended) while rank {me} waits for it in {what}: {hint}", peers, me)
        now = time.monotonic()
        if now - t0 > limit:
            raise DistributedTimeoutError(
                f"{what}: rank {_state['rank']} waited {limit:.0f} s for the other ranks "
                f"(the timeout: init_process_group(timeout=) or TAPEGRAD_DISTRIBUTED_TIMEOUT "
                f"seconds): a rank is stuck, or it ended without leaving the group (killed, "
                f"os._exit)")
        if now - t0 > SPIN_S:
            time.sleep(nap)
            nap = min(nap * 2, MAX_SLEEP_S)
        else:
            os.sched_yield()    # a core shared with the rank we wait for: let it run


def _receive():
    """Take the notices that arrived; records who left. Returns None."""
    side = _state["side"]
    if side is None:
        return
    MPI = _mpi.load()
    status = MPI.Status()
    while side.Iprobe(MPI.ANY_SOURCE, TAG, status):
        counts = _mpi.host.empty(MAX_GROUPS, dtype=_mpi.host.int64)
        side.Recv(counts, status.Get_source(), TAG)
        _state["left"][status.Get_source()] = (counts, time.monotonic())


def _gone(group_id, seq, t0):
    """The departed peers that can no longer take part in the wait."""
    gone = []
    for peer, (counts, arrived) in sorted(_state["left"].items()):
        if seq is not None and group_id is not None and group_id < MAX_GROUPS:
            if counts[group_id] < seq:
                gone.append(peer)
        elif time.monotonic() - max(t0, arrived) > GRACE_S:
            gone.append(peer)
    return gone


def what_left(peers):
    """'rank 1' or 'ranks 1, 2', for messages."""
    return ("rank " if len(peers) == 1 else "ranks ") + ", ".join(map(str, peers))
