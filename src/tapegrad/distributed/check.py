"""Agreement checks: before a collective, every rank shares a small signature (which
collective, reduce op, root, dtype, shape) in one allgather of 16 int64 numbers and
compares them, so ranks that disagree get an error naming the difference instead of a
hang or a silently wrong sum.

The check costs one small allgather per collective (measured in
``benchmarks/RESULTS-distributed.md``). Public collectives run it by default;
DistributedDataParallel checks its whole bucket layout once at construction and then
skips it per bucket. ``set_checks(False)`` turns it off, ``TAPEGRAD_DISTRIBUTED_DEBUG=1``
turns it on everywhere (DDP buckets included).
"""
import os

from .. import backend
from ._mpi import host

# collective names and dtypes by code; "shutdown" is destroy_process_group or the exit
OPS = ("barrier", "all_reduce", "broadcast", "all_gather", "gather", "scatter",
       "reduce_scatter", "reduce", "send", "shutdown", "ddp_bucket", "ddp_layout")
DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
          "uint16", "uint32", "uint64", "bool")
LENGTH = 16
MAX_DIMS = LENGTH - 6
_settings = {"default": True, "everywhere": os.environ.get("TAPEGRAD_DISTRIBUTED_DEBUG",
                                                         "") not in ("", "0")}


class CollectiveMismatchError(RuntimeError):
    """Ranks called collectives that don't match (which one, its dtype, shape, root or
    reduce op). Raised on every rank at once (``on_all_ranks``), so the abort hook prints it
    once."""
    on_all_ranks = True


CollectiveMismatchError.__module__ = "tapegrad.distributed"


def set_checks(enabled):
    """Turn the agreement check before each public collective on (the default) or off.
    Off saves one small allgather per collective; a mismatch then hangs or gives wrong
    values, as in plain MPI."""
    _settings["default"] = bool(enabled)


def checks_enabled(internal=False):
    """Whether a collective checks agreement first (``internal``: DDP's per-bucket ones)."""
    return _settings["everywhere"] or (not internal and _settings["default"])


def signature(op, dtype=None, shape=(), reduce_op=0, root=-1):
    """The 16 numbers that describe one call: op code, reduce op, root, dtype code, ndim,
    then up to 10 dimensions (a longer shape contributes its size instead of the tail)."""
    sig = host.zeros(LENGTH, dtype=backend.int64)
    shape = tuple(shape)
    dims = shape if len(shape) <= MAX_DIMS else shape[:MAX_DIMS - 1] + (_size(shape),)
    sig[:6 + len(dims)] = (OPS.index(op), reduce_op, root,
                           -1 if dtype is None else DTYPES.index(str(dtype)),
                           len(shape), 0) + dims
    return sig


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def describe(sig):
    """(op, reduce_op, root, dtype, shape) of a signature, for messages."""
    sig = [int(v) for v in sig]
    ndim = sig[4]
    dims = tuple(sig[6:6 + min(ndim, MAX_DIMS)])
    return (OPS[sig[0]], sig[1], sig[2], None if sig[3] < 0 else DTYPES[sig[3]],
            dims if ndim <= MAX_DIMS else f"{ndim}-d, starting {list(dims[:-1])}")


def _shape_text(shape):
    """A described shape as PyTorch prints it ([2, 3]); long shapes are already text."""
    return list(shape) if isinstance(shape, tuple) else shape


def compare(all_sigs):
    """Raise CollectiveMismatchError naming what differs between the rows of
    ``all_sigs`` (one signature per rank, in rank order); None when they agree."""
    if (all_sigs == all_sigs[0]).all():
        return
    rows = [describe(r) for r in all_sigs]
    fields = ("collective", "reduce op", "root rank", "dtype", "shape")
    name = rows[0][0]
    for k, field in enumerate(fields):
        values = [r[k] for r in rows]
        if len(set(map(str, values))) > 1:
            if field == "reduce op":
                from .collectives import ReduceOp
                values = [ReduceOp(v).name for v in values]
            if field == "shape":
                values = [_shape_text(v) for v in values]
            per_rank = "; ".join(f"rank {i}: {v}" for i, v in enumerate(values))
            if field == "collective":
                hint = (" (every rank must call the same collectives in the same order; "
                        "'shutdown' is destroy_process_group or the end of the program)")
                raise CollectiveMismatchError(f"ranks called different collectives: "
                                              f"{per_rank}{hint}")
            raise CollectiveMismatchError(f"{name}: the ranks disagree on the {field}: "
                                          f"{per_rank}")


def verify_same_tensors(group, who, tensors, config):
    """Check that every rank holds the same list of tensors (``tensors``: [(kind, name,
    tensor)]) and the same ``config`` ({name: int}): three small allgathers (the first
    checks that all ranks are here), whatever the number of tensors.
    Raises CollectiveMismatchError naming the first difference (on every rank)."""
    size = group.size()
    if size == 1:
        return
    group.agree("ddp_layout")      # every rank is here, not in some other collective
    head = host.asarray([len(tensors)] + list(config.values()), dtype=backend.int64)
    heads = host.empty((size, head.size), dtype=backend.int64)
    group.run(who, "Allgather", head, heads)
    labels = ["the number of parameters and buffers"] + list(config)
    for k, label in enumerate(labels):
        if len(set(heads[:, k].tolist())) > 1:
            per_rank = "; ".join(f"rank {r}: {v}" for r, v in enumerate(heads[:, k].tolist()))
            raise CollectiveMismatchError(f"{who}: the ranks disagree on {label}: {per_rank} "
                                          f"(every rank must build the same model)")
    if not tensors:
        return
    sigs = host.stack([signature("ddp_layout", t.dtype, t.shape) for _, _, t in tensors])
    all_sigs = host.empty((size,) + sigs.shape, dtype=sigs.dtype)
    group.run(who, "Allgather", sigs, all_sigs)
    for k, (kind, name, _) in enumerate(tensors):
        rows = all_sigs[:, k]
        if not (rows == rows[0]).all():
            per_rank = "; ".join(f"rank {r}: {d[3]} {_shape_text(d[4])}"
                                 for r, d in enumerate(map(describe, rows)))
            raise CollectiveMismatchError(f"{who}: {kind} {k} ('{name}' on rank {group.rank()}) "
                                          f"differs between ranks: {per_rank}")
