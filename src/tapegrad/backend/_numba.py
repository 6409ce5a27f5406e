"""The numba kernels behind :mod:`tapegrad.backend.kernels` (imported only from there, on
first use: importing this module imports numba).

Each kernel computes what the NumPy code of its op computes, element for element, so the
two agree bit for bit; the loop is one ``prange`` over flat arrays, which numba spreads
over its threads and vectorizes. The caller allocates the output (with the memory layout
the op wants) and passes 1-d views (:func:`tapegrad.backend.kernels.flat`).
``cache=True`` keeps the machine code in ``__pycache__``: a new process loads it (a few
tens of ms) instead of compiling again (seconds).
"""
import numba
from numba import njit, prange

# fastmath stays off: the results must equal NumPy's
_jit = njit(parallel=True, cache=True, nogil=True)


@_jit
def relu(x, out):
    """out = max(x, 0) over flat arrays (NaN stays NaN and -0.0 gives 0.0, as
    np.maximum(x, 0))."""
    for i in prange(x.shape[0]):
        v = x[i]
        out[i] = v if (v > 0 or v != v) else 0


@_jit
def relu_grad(g, y, out):
    """out = [y > 0] * g over flat arrays (g * 0 where y <= 0: -0.0 and NaN as NumPy's
    (y > 0) * g gives them)."""
    for i in prange(g.shape[0]):
        out[i] = g[i] if y[i] > 0 else g[i] * 0


def set_threads(n):
    """Run the kernels on ``n`` threads (at most numba's pool size)."""
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
