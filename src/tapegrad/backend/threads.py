"""Threads: how many tapegrad's array work uses, as ``tg.set_num_threads`` /
``tg.get_num_threads`` (PyTorch's names), and where they go.

The count starts from the environment, like PyTorch's: ``TAPEGRAD_NUM_THREADS``, else
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` or ``OPENBLAS_NUM_THREADS`` (the first one set),
else the cores this process may run on. It is used two ways:

- Matrix products: the BLAS pools NumPy (OpenBLAS) and MKL loaded are sized to it (through
  threadpoolctl) before the first product (:func:`size_blas`) and at each
  ``set_num_threads``; the libraries keep small products on one thread themselves.
  Resizing them product by product (one thread below 2**20 multiply-adds, all above) was
  tried and removed: on the 2-core VM it gained nothing in paired runs.
- Memory-bound passes over large arrays (im2col copies, ReLU and its gradient, pooling):
  :func:`split` runs them in slices on a small pool of Python threads. NumPy releases the
  GIL inside such loops, so the slices run at the same time with no compiled code. Only
  passes of tens of MB gain inside a training step (see MIN_SLICE_BYTES); a CNN step up to
  batch 1024 has none.
"""
import os
from concurrent.futures import ThreadPoolExecutor

ENV_VARS = ("TAPEGRAD_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS")
#: a pass splits only when each slice gets at least this many bytes. Measured on the 2-core
#: VM, alone: a ReLU over 1 MB took 1.37x as long split in two (the hand-off and the GIL
#: cost more than half the pass), over 4 MB 0.71x, over 16-64 MB 0.6x. Inside W4's
#: training step at 2 threads, where OpenBLAS's workers spin on the second core after each
#: product, splitting the im2col copies (2-35 MB at batch 64-1024) made the whole step
#: 2-5% slower (paired; at batch 64 it also made some processes' steps 1.8x slower), so a
#: pass splits only from 64 MB
MIN_SLICE_BYTES = 1 << 25
#: called after every set_num_threads (the backend re-picks its BLAS: see backend.set_blas)
LISTENERS = []
_state = {"n": None, "pool": None, "pool_n": 0, "blas": None, "blas_n": None}


def cores():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def from_env(environ=os.environ):
    """The thread count the environment asks for (see the module docstring)."""
    for var in ENV_VARS:
        text = environ.get(var, "").strip()
        if text:
            try:
                n = int(text.split(",")[0])
            except ValueError:
                raise ValueError(f"{var}={text!r}: expected a positive number of threads") \
                    from None
            if n < 1:
                raise ValueError(f"{var}={text!r}: expected a positive number of threads")
            return n
    return cores()


def get_num_threads():
    """The number of threads tapegrad's CPU work uses (``torch.get_num_threads``)."""
    n = _state["n"]
    if n is None:
        n = _state["n"] = from_env()
    return n


def set_num_threads(n):
    """Use ``n`` threads for CPU work from now on (``torch.set_num_threads``): the BLAS
    pools of NumPy and MKL and tapegrad's pool for memory-bound passes. ``n=1`` runs
    everything on the calling thread.

    Raises:
        TypeError: ``n`` is not an int.
        ValueError: ``n`` is below 1.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: expected an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive number of threads, got {n}")
    _state["n"] = n
    _set_blas(n)
    for listener in LISTENERS:
        listener()


def _blas():
    """Setters of the thread counts of the BLAS libraries loaded now (NumPy's OpenBLAS,
    MKL), found by threadpoolctl; () without it. The C entry points themselves where
    threadpoolctl exposes them (a C call, not threadpoolctl's bookkeeping)."""
    if _state["blas"] is None:
        try:
            import threadpoolctl
        except ImportError:
            return ()
        setters = []
        for lib in threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers:
            fn = None
            if lib.internal_api == "openblas" and hasattr(lib, "_get_symbol"):
                fn = lib._get_symbol("openblas_set_num_threads")
            elif lib.internal_api == "mkl":
                fn = getattr(lib.dynlib, "MKL_Set_Num_Threads_Local", None)
            setters.append(fn or lib.set_num_threads)
        _state["blas"] = setters
    return _state["blas"]


def _set_blas(n):
    if _state["blas_n"] != n:
        for set_threads in _blas():
            set_threads(n)
        _state["blas_n"] = n


def forget_blas():
    """Look the BLAS libraries up again (after one was loaded, e.g. MKL on first use) and
    size them as the others are."""
    n = _state["blas_n"]
    _state["blas"] = _state["blas_n"] = None
    if n is not None:
        _set_blas(n)


def size_blas():
    """Size the BLAS pools to :func:`get_num_threads` if nothing has yet (called before
    each product; a no-op after the first)."""
    if _state["blas_n"] is None:
        _set_blas(_state["n"] or get_num_threads())


def _pool(n):
    if _state["pool_n"] != n:
        if _state["pool"] is not None:
            _state["pool"].shutdown(wait=False)
        _state["pool"] = ThreadPoolExecutor(n - 1, thread_name_prefix="tapegrad")
        _state["pool_n"] = n
    return _state["pool"]


def split(fn, length, nbytes):
    """Run ``fn(lo, hi)`` over ``range(length)`` cut into one slice per thread, the first
    on the calling thread, when the pass (``nbytes`` of memory traffic) is large enough to
    gain from it; else ``fn(0, length)``. ``fn`` must write disjoint outputs per slice."""
    n = _state["n"] or get_num_threads()
    k = min(n, length, nbytes // MIN_SLICE_BYTES)
    if k < 2:
        fn(0, length)
        return
    bounds = [length * i // k for i in range(k + 1)]
    pool = _pool(n)
    futures = [pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(1, k)]
    fn(bounds[0], bounds[1])
    for f in futures:
        f.result()


def _outer_axis(a):
    """The longest axis among those with the largest strides: slices along it are long runs
    of memory."""
    return max(range(a.ndim), key=lambda i: (a.shape[i] > 2, abs(a.strides[i])))


#: passes over fewer bytes than this run on the calling thread without looking further
PARALLEL_BYTES = 2 * MIN_SLICE_BYTES


def ufunc(f, out, *args):
    """``f(*args, out=out)`` (a NumPy ufunc, or a function of slices writing ``out``), split
    along ``out``'s outermost axis when the pass is large (:func:`split`); ``args`` are
    arrays of ``out``'s shape or scalars."""
    nbytes = out.nbytes * (1 + sum(1 for a in args if getattr(a, "ndim", 0)))
    if out.ndim == 0 or nbytes < PARALLEL_BYTES or (_state["n"] or get_num_threads()) < 2:
        f(*args, out=out)
        return out
    ax = _outer_axis(out)
    lead = (slice(None),) * ax

    def run(lo, hi):
        s = lead + (slice(lo, hi),)
        f(*[a[s] if getattr(a, "ndim", 0) else a for a in args], out=out[s])
    split(run, out.shape[ax], nbytes)
    return out


def copy(out, src, axis=None):
    """``out[...] = src`` (same shapes), split like :func:`ufunc` (along ``axis`` if given)."""
    if out.ndim == 0 or 2 * out.nbytes < PARALLEL_BYTES or (_state["n"] or get_num_threads()) < 2:
        out[...] = src
        return out
    ax = _outer_axis(out) if axis is None else axis
    lead = (slice(None),) * ax

    def run(lo, hi):
        s = lead + (slice(lo, hi),)
        out[s] = src[s]
    split(run, out.shape[ax], 2 * out.nbytes)
    return out
