"""numba kernels for memory-bound passes: the narrow seam between ops and numba.

An op that has a kernel asks :func:`pick` for it with the arrays of its pass; it gets the
compiled kernel (from :mod:`tapegrad.backend._numba`) or ``None``, and then runs its own
NumPy code unchanged. A kernel is picked when

- numba is installed (it is imported on the first pick, never before),
- ``TAPEGRAD_KERNELS`` / :func:`set_kernels` is ``"auto"`` (the default) and tapegrad runs
  on 2 or more threads (:func:`tapegrad.get_num_threads`), or it is ``"numba"``,
- the arrays are NumPy float32/float64 arrays (not CuPy's), the first of at least
  :data:`MIN_BYTES`.

ReLU's kernels compute what the NumPy code computes, so results are the same bit for bit;
the LSTM cell's (ops/rnn_kernel.py) agree to float32 rounding (a rational tanh). They
take fewer passes over memory (see :mod:`tapegrad.backend._numba`, also for why they run
on the calling thread). On one thread ``"auto"`` keeps NumPy's code, so one-thread
results and the bytecode guard (``benchmarks.bytecodes``) are the same on every machine.
"""
import os

import numpy as np

from . import threads

MODES = ("auto", "numba", "numpy")
#: a pass over a smaller array stays with NumPy. Measured on the 2-core VM, the kernel's
#: time over NumPy's: ReLU 0.90 at 16 KB, 0.45 at 64 KB, 0.33 at 128 KB, 0.23-0.27 from
#: 0.5 MB up; its gradient 0.78, 0.63, 0.58, 0.54-0.56; picking one and making the flat
#: views costs ~3 us of Python, which below 128 KB eats most of the gain
MIN_BYTES = 1 << 17
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_state = {"mode": None, "mod": None}


def set_kernels(mode):
    """Choose the kernels of memory-bound passes: ``"auto"`` (numba's kernels when numba
    is installed and tapegrad runs on 2+ threads), ``"numba"`` (numba's on any
    number of threads; an ImportError now if it is missing) or ``"numpy"`` (NumPy's
    code only)."""
    if mode not in MODES:
        raise ValueError(f"set_kernels: expected one of {', '.join(MODES)}, got {mode!r}")
    _state["mode"] = mode
    if mode == "numba":
        _load(required=True)


def get_kernels():
    """The kernel setting (see :func:`set_kernels`); ``TAPEGRAD_KERNELS`` at first."""
    if _state["mode"] is None:
        mode = os.environ.get("TAPEGRAD_KERNELS", "auto").strip() or "auto"
        if mode not in MODES:
            raise ValueError(f"TAPEGRAD_KERNELS={mode!r}: expected one of {', '.join(MODES)}")
        _state["mode"] = mode
    return _state["mode"]


def _load(required=False):
    """The kernels module, False when numba can't be imported (an ImportError saying how
    to install it if ``required``)."""
    if _state["mod"] is None:
        try:
            from . import _numba as mod
        except ImportError:
            mod = False
        _state["mod"] = mod
    if required and not _state["mod"]:
        raise ImportError("TAPEGRAD_KERNELS=numba needs numba: pip install numba "
                          "(or pip install \"tapegrad[bench]\")")
    return _state["mod"]


def pick(name, *arrays):
    """The kernel ``name`` of :mod:`tapegrad.backend._numba` for a pass over ``arrays``
    (its inputs), or ``None`` when the op should run its NumPy code."""
    mode = _state["mode"] or get_kernels()
    if mode == "numpy" or mode == "auto" and (threads._state["n"] or
                                              threads.get_num_threads()) < 2:
        return None
    if arrays[0].nbytes < MIN_BYTES:
        return None
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype not in _FLOATS:
            return None
    mod = _state["mod"] if _state["mod"] is not None else _load(mode == "numba")
    if not mod:
        return None
    return getattr(mod, name)


def load(name):
    """The kernel ``name`` whatever the setting: the backward of a pass that ran on a
    kernel takes its partner kernel (an ImportError if numba is missing)."""
    return getattr(_load(required=True), name)


def flat(*arrays):
    """1-d views of arrays of one shape laid out alike in one block of memory each (a
    convolution's channel-major output included), element i of each being the same
    position; ``None`` when they are not."""
    a0 = arrays[0]
    out = []
    for a in arrays:
        if a.shape != a0.shape or a.strides != a0.strides:
            return None
        r = a.ravel(order="K")
        if r.base is None and a.size > 1:   # ravel copied: not one block
            return None
        out.append(r)
    return out
