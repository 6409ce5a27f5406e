"""The two places tapegrad.distributed touches MPI's Python binding: loading mpi4py (on
first use only, so ``import tapegrad`` never loads an MPI library) and turning a tensor's
array into the buffer MPI reads and writes, and back.

Every byte that crosses MPI goes through ``_buffer``/``_restore``: a backend whose arrays
live on a GPU stages them through host memory here and nowhere else.
"""
from .. import backend

#: the array module of host memory, where MPI reads and writes: what ``_buffer`` returns,
#: receive buffers, and the small signature arrays of the agreement check
host = backend.xp

INSTALL_HINT = ("tapegrad.distributed needs mpi4py and an MPI library; install both with "
                "pip install 'tapegrad[mpi]' (mpi4py and the mpich wheel), then start the "
                "processes with mpiexec or python -m tapegrad.distributed.run")


def load():
    """The ``mpi4py.MPI`` module (imported, and MPI initialised, on the first call).

    Raises ImportError saying how to install it when mpi4py or its MPI library is missing.
    """
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError) as e:
        raise ImportError(f"{INSTALL_HINT} ({type(e).__name__}: {e})") from e
    return MPI


def _buffer(t):
    """The host array MPI reads and writes for tensor ``t``: its own array when that is a
    C-contiguous, writeable host array (then ``_restore`` has nothing to copy), else a
    contiguous host copy (a GPU tensor is staged through host memory)."""
    arr = t._data
    if type(arr) is not host.ndarray:
        return host.ascontiguousarray(backend.to_host(arr))
    if arr.flags.c_contiguous and arr.flags.writeable:
        return arr
    return host.ascontiguousarray(arr)


def _restore(buf, t):
    """Make tensor ``t`` hold ``buf`` (its ``_buffer``, now holding what MPI wrote): copied
    back (to the tensor's device) when it was a copy, and the version counter bumped (an
    in-place change)."""
    arr = t._data
    if buf is not arr:
        val = buf.reshape(arr.shape)
        if type(arr) is not host.ndarray:
            val = backend.to_device(val, backend.device_of(arr))
        if backend.is_writeable(arr):
            arr[...] = val
        else:
            t._data = val
    t._vc[0] += 1


def _empty(shape, like):
    """A contiguous host array for MPI to write ``shape`` elements of ``like``'s dtype into."""
    return host.empty(shape, dtype=like._data.dtype)
