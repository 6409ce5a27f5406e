"""The one seam to the array library: nothing else in tapegrad imports NumPy or CuPy.

Everything above this module reaches arrays through an array module and the few helpers
here. ``xp`` is NumPy, the CPU's module; code that may see arrays of another device asks
for theirs with :func:`array_module` (DeZero's ``get_array_module``), and an op's forward
finds it as ``ctx.xp``. What differs between NumPy and CuPy (scatter-add, strided views,
the GEMM, random generators, host copies) lives here and in ``devices``/``cuda``.
"""
import contextlib as _contextlib
import os as _os
import warnings as _warnings

import numpy as xp
import ml_dtypes as _ml_dtypes

from . import devices, threads
from .devices import device, CPU, device_of, to_device

ndarray = xp.ndarray
generic = xp.generic

float16 = xp.dtype("float16")
float32 = xp.dtype("float32")
float64 = xp.dtype("float64")
bfloat16 = xp.dtype(_ml_dtypes.bfloat16)   # NumPy has none: ml_dtypes' (its kind is "V")
int8 = xp.dtype("int8")
int16 = xp.dtype("int16")
int32 = xp.dtype("int32")
int64 = xp.dtype("int64")
uint8 = xp.dtype("uint8")
bool_ = xp.dtype("bool")

def _keep_freed_memory():
    """glibc hands freed blocks above its mmap threshold (and a heap top above its trim
    threshold) back to the system, so the large temporaries of every training step are
    page-faulted in anew each step: a fifth of a W4 step on this machine (21.5 -> 16.7 ms,
    80,000 fewer page faults, the same peak RSS). Keep blocks below 64 MiB in the heap and
    trim it only above 256 MiB. Skipped when the user set MALLOC_MMAP_THRESHOLD_ or
    MALLOC_TRIM_THRESHOLD_, with TAPEGRAD_MALLOC=system, and off glibc. Returns whether it
    was applied."""
    if _os.environ.get("TAPEGRAD_MALLOC", "") == "system" or \
            any(k in _os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):      # not glibc (macOS, Windows, musl)
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_MMAP_THRESHOLD, 64 << 20)) and \
        bool(mallopt(M_TRIM_THRESHOLD, 256 << 20))


MALLOC_TUNED = _keep_freed_memory()

# NumPy's floating-point warnings (log(0), 0/0, overflow, a mean of nothing) never reach a
# user from tapegrad's ops: PyTorch returns -inf/nan silently. Only warnings raised in
# tapegrad's own modules are silenced; the user's NumPy code warns as before.
_warnings.filterwarnings(
    "ignore", category=RuntimeWarning, module=r"tapegrad(\.|$)",
    message=r"(divide by zero|invalid value|overflow|underflow) encountered|Mean of empty slice"
            r"|Degrees of freedom")

DEFAULT_FLOAT = float32
DEFAULT_INT = int64

#: dtype -> category used by type promotion: bool < integer < floating ("V": bfloat16, the
#: only dtype of that kind a tensor can hold)
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "V": 2}
#: the 16-bit floating dtypes: NumPy has no fast kernels for them, so products compute
#: through float32 (:func:`half_product`), and sums accumulate in float32 (NumPy would sum
#: in their own precision: a bfloat16 sum of 1024 ones stops at 256)
HALF = (float16, bfloat16)
_NAMES = {"half": float16, "bfloat16": bfloat16, "float": float32, "double": float64}


def category(dtype):
    """0 for bool, 1 for integers, 2 for floating dtypes (KeyError otherwise)."""
    return _CATEGORY[dtype.kind]


def is_floating(dtype):
    """Whether ``dtype`` is a floating dtype: float16/32/64 or bfloat16."""
    return dtype.kind == "f" or dtype == bfloat16


def is_numeric(dtype):
    """Whether a tensor may hold ``dtype``: bool, integers, floats and bfloat16."""
    return dtype.kind in "biuf" or dtype == bfloat16


def promote_types(a, b):
    """NumPy's promotion within a category; bfloat16 with float16 is float32 (PyTorch's)."""
    return xp.promote_types(a, b)


def as_dtype(dtype):
    """Accept tapegrad/NumPy dtypes, their names ('float32', 'bfloat16', 'half') and Python
    types; anything else is a TypeError naming it."""
    if dtype is None:
        return None
    if dtype is float:
        return float32 if DEFAULT_FLOAT is float32 else DEFAULT_FLOAT
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    if isinstance(dtype, str) and dtype in _NAMES:
        return _NAMES[dtype]
    try:
        return xp.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype; use one of tg.float16, tg.bfloat16, "
                        f"tg.float32, tg.float64 or an integer or bool dtype") from None


def asarray(data, dtype=None):
    return xp.asarray(data, dtype=dtype)


def default_rng(seed=None):
    return xp.random.default_rng(seed)


def array_module(*arrays):
    """The array module computing on these arrays: NumPy, or the module of the first
    array of another device (CuPy for CUDA arrays). Anything else counts as CPU data."""
    for a in arrays:
        if type(a) is not ndarray:
            t = devices.type_of_array(a)
            if t is not None and t.name != "cpu":
                return t.module
    return xp


def module_for(dev):
    """The array module of device ``dev`` (resolved)."""
    return xp if dev.type == "cpu" else devices.device_type(dev.type).module


def is_array(a):
    """True for the arrays of any device in use (NumPy's, CuPy's; not NumPy's scalars)."""
    if isinstance(a, ndarray):
        return True
    t = devices.type_of_array(a)
    return t is not None and t.name != "cpu"


def to_host(arr):
    """A NumPy array with ``arr``'s values (``arr`` itself when it is one)."""
    if type(arr) is ndarray:
        return arr
    t = devices.type_of_array(arr)
    return arr if t is None or t.name == "cpu" else t.to_host(arr)


def on_device(dev):
    """A context in which new arrays of ``dev``'s module are allocated on ``dev``."""
    if dev.type == "cpu":
        return _contextlib.nullcontext()
    return devices.device_type(dev.type).use(dev.index)


def data_ptr(arr):
    """The address of ``arr``'s first element (views of one buffer share addresses)."""
    if type(arr) is ndarray or devices.type_of_array(arr).name == "cpu":
        return arr.__array_interface__["data"][0]
    return arr.data.ptr


def is_writeable(arr):
    """Whether ``arr``'s memory may be written (CuPy arrays always may)."""
    flags = arr.flags
    return getattr(flags, "writeable", True)


def scatter_add(target, index, values):
    """``target[index] += values`` with repeated indices adding up (NumPy's ``add.at``;
    CuPy's ``cupyx.scatter_add``)."""
    if type(target) is ndarray:
        xp.add.at(target, index, values)
    else:
        devices.type_of_array(target).scatter_add(target, index, values)


def sliding_window_view(x, window_shape, axis=None):
    """Read-only strided windows of ``x`` (no copy), from ``x``'s array module."""
    if type(x) is ndarray:
        return xp.lib.stride_tricks.sliding_window_view(x, window_shape, axis)
    return devices.type_of_array(x).sliding_window_view(x, window_shape, axis)


def as_strided(x, shape, strides):
    """A strided view of ``x`` (no copy; strides in bytes), from ``x``'s array module."""
    if type(x) is ndarray:
        return xp.lib.stride_tricks.as_strided(x, shape, strides)
    return devices.type_of_array(x).as_strided(x, shape, strides)


def errstate(**kw):
    """NumPy's ``errstate`` (the other array modules don't warn)."""
    return xp.errstate(**kw)


# -- matrix products ------------------------------------------------------------------------
#: below this many multiply-adds NumPy is as fast (a call into MKL costs ~12 us more here)
GEMM_MIN_WORK = 2 ** 21
_BLAS_NAMES = ("auto", "mkl", "numpy")
_blas = {"want": _os.environ.get("TAPEGRAD_BLAS", "auto"), "gemm": None, "resolved": False}
if _blas["want"] not in _BLAS_NAMES:
    raise ValueError(f"TAPEGRAD_BLAS must be 'auto', 'mkl' or 'numpy', got {_blas['want']!r}")


def matmul(a, b, out=None):
    """``a @ b`` for ops' forwards and VJPs: the one place matrix products are computed.
    2-d float products (and (..., m, k) @ (k, n) whose left rows stack into one matrix
    without a copy) go to MKL's GEMM when it is in use (see :func:`set_blas`), everything
    else to NumPy. A product of
    16-bit floats on the CPU is computed in float32 and rounded (:func:`half_product`)."""
    if type(a) is not ndarray:
        return array_module(a).matmul(a, b, out=out)
    threads.size_blas()
    rows = _rows(a, b, out) if a.ndim > 2 else None
    if (b.ndim == 2 and a.shape[-1] == b.shape[0] and (rows is not None or a.ndim == 2)
            and a.size * b.shape[1] >= GEMM_MIN_WORK):
        gemm = _blas["gemm"] if _blas["resolved"] else _resolve()
        if gemm is not None:
            r = gemm(a, b, out, xp.empty) if rows is None else gemm(rows, b, None, xp.empty)
            if r is not None:
                return r if rows is None else r.reshape(a.shape[:-1] + (b.shape[1],))
    if a.dtype in HALF:     # (MKL's GEMM above takes no 16-bit floats; ops promote first)
        return half_product(matmul, a, b, out=out)
    if rows is not None:
        return xp.matmul(rows, b).reshape(a.shape[:-1] + (b.shape[1],))
    return xp.matmul(a, b, out=out)


def _rows(a, b, out):
    """(..., m, k) @ (k, n) as one GEMM: a's rows as a (rows, k) view (None when that
    takes a copy, or for other products). NumPy runs it as one GEMM per leading index."""
    if b.ndim != 2 or out is not None or not a.size or a.shape[-1] != b.shape[0]:
        return None
    if a.flags.c_contiguous:
        return a.reshape(-1, a.shape[-1])
    try:   # a transposed view whose leading axes merge (the LSTM kernels' gradients)
        return xp.reshape(a, (-1, a.shape[-1]), copy=False)
    except ValueError:
        return None


def half_product(product, *arrays, **kw):
    """``product(*arrays)`` for 16-bit float NumPy arrays, computed in float32 and rounded
    to the inputs' result dtype: NumPy has no half-precision GEMM (a float16 ``@`` is ~100x
    slower than float32's, and ml_dtypes' bfloat16 ``@`` returns float32), and a float32
    accumulation rounded once is what a bf16/fp16 GEMM with float32 accumulators gives.
    Arrays of other devices (CuPy: native half precision) are not passed here."""
    out = kw.pop("out", None)
    dt = xp.result_type(*[a.dtype for a in arrays if isinstance(a, ndarray)])
    r = product(*[a.astype(float32) if isinstance(a, ndarray) and a.dtype in HALF else a
                  for a in arrays], **kw)
    if out is not None:
        out[...] = r
        return out
    return r.astype(dt, copy=False)


def set_blas(name):
    """Choose who computes large matrix products: ``"mkl"`` (needs the ``mkl`` package:
    ``pip install "tapegrad[mkl]"``; PyTorch's CPU builds use the same library),
    ``"numpy"`` (NumPy's own BLAS, OpenBLAS in its wheels) or ``"auto"`` (the default:
    MKL when it is installed and tapegrad runs on one thread, else NumPy's). The
    environment variable ``TAPEGRAD_BLAS`` sets the same at import. Products from the two
    differ in the last bits, like any two BLAS.

    Why ``"auto"`` depends on the threads: MKL's sgemm is 20-35% faster than OpenBLAS's on
    one thread, but with more, MKL's pool and NumPy's OpenBLAS pool (which NumPy's own
    small products keep busy) compete for the cores: a W3 step at batch 1024 took 15.6 ms
    with MKL at 2 threads against 7.8 ms on OpenBLAS alone (8.3 ms with MKL at 1 thread).

    Raises:
        ValueError: an unknown name.
        RuntimeError: ``"mkl"`` without a loadable mkl package (saying how to install it).
    """
    if name not in _BLAS_NAMES:
        raise ValueError(f"set_blas: expected 'auto', 'mkl' or 'numpy', got {name!r}")
    _blas.update(want=name, gemm=_pick(name), resolved=True)


def blas():
    """What computes large matrix products now: ``"mkl <version>"`` or ``"numpy"``."""
    gemm = _blas["gemm"] if _blas["resolved"] else _resolve()
    return "numpy" if gemm is None else f"mkl {gemm.version}"


def _resolve():
    _blas.update(gemm=_pick(_blas["want"]), resolved=True)
    threads.forget_blas()   # MKL, when loaded, is one more pool to size
    return _blas["gemm"]


def _pick(want):
    if want == "auto" and threads.get_num_threads() > 1:
        return None
    return _load(want)


threads.LISTENERS.append(lambda: _blas.update(resolved=False))   # "auto" follows the threads


def _load(want):
    from . import _mkl
    if want == "numpy":
        return None
    path = _mkl.library_path()
    if path is None and want == "mkl":
        raise RuntimeError("tapegrad: MKL was asked for (set_blas('mkl') or TAPEGRAD_BLAS=mkl) "
                           "but the mkl package is not installed; pip install \"tapegrad[mkl]\"")
    if path is None:
        return None
    try:
        return _mkl.Gemm(path)
    except (OSError, AttributeError) as e:    # a broken install: say so; auto goes on with NumPy
        if want == "mkl":
            raise RuntimeError(f"tapegrad: MKL could not be loaded from {path}: {e}") from None
        import warnings
        warnings.warn(f"tapegrad: the mkl package is installed but could not be loaded ({e}); "
                      f"matrix products use NumPy's BLAS", RuntimeWarning, stacklevel=3)
        return None


if _blas["want"] == "mkl":      # asked for by name: say now if it can't be had
    _resolve()
