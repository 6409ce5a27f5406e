"""The numba kernels behind :mod:`tapegrad.backend.kernels` (imported only from there, on
first use: importing this module imports numba).

ReLU's kernels compute what the NumPy code of its op computes, element for element, so
the two agree bit for bit, in ONE pass over flat arrays that numba vectorizes, where NumPy
takes two (ReLU's gradient) or checks for NaN element by element (``maximum``). The
caller allocates the output (with the memory layout the op wants) and passes 1-d views
(:func:`tapegrad.backend.kernels.flat`). The LSTM cell's kernels (ops/rnn_kernel.py) do
a step's gate maths in one pass each way, with a rational tanh: they agree with the
NumPy path to float32 rounding, not bit for bit (see below).

The loops run on the calling thread: numba's ``prange`` over 2 threads took the same time
on these memory-bound passes (ReLU over 1.4 MB: 28 us against 33 us, its gradient 49
against 47 us on the 2-core VM), and its thread pool competes with the BLAS threads of the
products around it (with numba's OpenMP layer a W4 step took 3.3x as long). ``cache=True``
keeps the machine code in ``__pycache__``: a new process loads it instead of compiling.
"""
import numpy as np
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


# -- the LSTM cell, float32, gates-major ----------------------------------------------------
# These two do NOT agree with NumPy's code bit for bit: tanh (and sigmoid(x) = (1 +
# tanh(x / 2)) / 2) is a rational function, not libm's tanhf, which numba can only call one
# element at a time (30x slower than NumPy's vectorised pass). Its error is below 3e-7
# absolute (a few float32 ulps near +-1; NumPy's is 6e-8), NaN stays NaN, +-inf gives +-1.
# The loops vectorise because each reads and writes few distinct arrays (LLVM gives up on
# the aliasing checks of seven), so a step's values live in one array per role.
# error_model: no division-by-zero branch. The forward also lets a * b + c be one FMA
# (fastmath "contract": 0.75x the step's time, the same error bound; NaN and inf keep their
# IEEE meaning); the backward was no faster with it
_math = njit(cache=True, nogil=True, error_model="numpy")
_fma = njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
_inline = njit(cache=True, nogil=True, error_model="numpy", inline="always")
_TANH_LIMIT = np.float32(7.90531110763549805)   # tanh rounds to +-1 in float32 beyond
_P = tuple(np.float32(c) for c in (-2.76076847742355e-16, 2.00018790482477e-13,
                                   -8.60467152213735e-11, 5.12229709037114e-08,
                                   1.48572235717979e-05, 6.37261928875436e-04,
                                   4.89352455891786e-03))
_Q = tuple(np.float32(c) for c in (1.19825839466702e-06, 1.18534705686654e-04,
                                   2.26843463243900e-03, 4.89352518554385e-03))
_HALF, _ONE = np.float32(0.5), np.float32(1)


@_inline
def _tanh32(v):
    """tanh(v) as odd polynomial / even polynomial over [-7.9, 7.9] (minimax, float32)."""
    v = -_TANH_LIMIT if v < -_TANH_LIMIT else v
    v = _TANH_LIMIT if v > _TANH_LIMIT else v
    v2 = v * v
    p = _P[0]
    for c in _P[1:]:
        p = p * v2 + c
    q = _Q[0]
    for c in _Q[1:]:
        q = q * v2 + c
    return p * v / q


@_inline
def _sigmoid32(v):
    return _HALF + _HALF * _tanh32(_HALF * v)


@_fma
def lstm_forward_step(pre, xg, t, acts, s, p):
    """One LSTM step over a batch in gates-major layout (batch along the last axis).

    pre (4H, B): h W_hh^T of the step, transposed; xg (4H, T, B): the input projections;
    acts (slots, 6H, B): per slot the gates i, f, g, o (activated), then c' = f c + i g
    and h' = o tanh(c'). Reads c from slot p (the state the step starts from), writes
    slot s."""
    n = acts.shape[1] // 6
    for j in range(n):
        for b in range(acts.shape[2]):
            i = _sigmoid32(pre[j, b] + xg[j, t, b])
            f = _sigmoid32(pre[n + j, b] + xg[n + j, t, b])
            g = _tanh32(pre[2 * n + j, b] + xg[2 * n + j, t, b])
            o = _sigmoid32(pre[3 * n + j, b] + xg[3 * n + j, t, b])
            cell = f * acts[p, 4 * n + j, b] + i * g
            acts[s, j, b] = i
            acts[s, n + j, b] = f
            acts[s, 2 * n + j, b] = g
            acts[s, 3 * n + j, b] = o
            acts[s, 4 * n + j, b] = cell
            acts[s, 5 * n + j, b] = o * _tanh32(cell)


@_math
def lstm_backward_step(acts, s, p, carry, g, t, d):
    """The gradients through step t of :func:`lstm_forward_step` (slots s and p).

    carry (2, H, B): the gradients reaching h' (W_hh^T d of the later step) and c' from
    later steps, the second updated in place to the one reaching c; g (T, H, B): the
    upstream gradients of every h'. Writes the gradient of the gates' pre-activations to
    d[t] (d (T, 4H, B))."""
    n = acts.shape[1] // 6
    for j in range(n):
        for b in range(acts.shape[2]):
            i = acts[s, j, b]
            f = acts[s, n + j, b]
            gg = acts[s, 2 * n + j, b]
            o = acts[s, 3 * n + j, b]
            tc = _tanh32(acts[s, 4 * n + j, b])
            dm = carry[0, j, b] + g[t, j, b]
            dcell = carry[1, j, b] + dm * o * (_ONE - tc * tc)
            di = dcell * gg * i * (_ONE - i)
            df = dcell * acts[p, 4 * n + j, b] * f * (_ONE - f)
            dg = dcell * i * (_ONE - gg * gg)
            do = dm * tc * o * (_ONE - o)
            d[t, j, b] = di
            d[t, n + j, b] = df
            d[t, 2 * n + j, b] = dg
            d[t, 3 * n + j, b] = do
            carry[1, j, b] = dcell * f
