"""The numba kernels behind :mod:`tapegrad.backend.kernels` (imported only from there, on
first use: importing this module imports numba).

Each kernel computes what the NumPy code of its op computes, element for element, so the
two agree bit for bit, in ONE pass over flat arrays that numba vectorizes, where NumPy
takes two (ReLU's gradient) or checks for NaN element by element (``maximum``). The
caller allocates the output (with the memory layout the op wants) and passes 1-d views
(:func:`tapegrad.backend.kernels.flat`).

The loops run on the calling thread: numba's ``prange`` over 2 threads took the same time
on these memory-bound passes (ReLU over 1.4 MB: 28 us against 33 us, its gradient 49
against 47 us on the 2-core VM), and its thread pool competes with the BLAS threads of the
products around it (with numba's OpenMP layer a W4 step took 3.3x as long). ``cache=True``
keeps the machine code in ``__pycache__``: a new process loads it instead of compiling.
"""
from numba import njit

# fastmath stays off: the results must equal NumPy's. nogil: other Python threads run
_jit = njit(cache=True, nogil=True)


@_jit
def relu(x, out):
    """out = max(x, 0) over flat arrays (NaN stays NaN and -0.0 gives 0.0, as
    np.maximum(x, 0))."""
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v if (v > 0 or v != v) else 0


@_jit
def relu_grad(g, y, out):
    """out = [y > 0] * g over flat arrays (g * 0 where y <= 0: -0.0 and NaN as NumPy's
    (y > 0) * g gives them)."""
    for i in range(g.shape[0]):
        out[i] = g[i] if y[i] > 0 else g[i] * 0
