"""The elementwise virtual machine that fused runs execute (imports numba: only loaded when
numba is installed; see fusion.py).

``run(codes, buf, one)``: ``buf`` is (slots, n) floats, ``codes`` (k, 4) int64 rows of
(opcode, out slot, in slot a, in slot b), ``one`` a 1 of buf's dtype (so every constant in
here has that dtype: ``1 - y*y`` stays float32 for float32 buffers). Instructions run one
after another over all n elements; an out slot may be one of its own in slots (each
element is read before it is written), which is how gradients accumulate in place.

Compiled once per buffer dtype and cached on disk (``cache=True``): one generic kernel,
not one per chain. ``error_model="numpy"``: x / 0 gives inf or nan as NumPy does.
"""
from numba import njit

from .. import backend

np = backend.xp    # NumPy itself: numba compiles np.exp/np.log/np.tanh on scalars

# opcode per primitive name; the arithmetic matches each op's NumPy forward step for step
OPCODES = {"add": 0, "sub": 1, "mul": 2, "div": 3, "neg": 4, "exp": 5, "log": 6, "tanh": 7,
           "sigmoid": 8, "relu": 9, "tanh_grad": 10, "sigmoid_grad": 11, "relu_grad": 12}


@njit(cache=True, error_model="numpy", nogil=True)
def run(codes, buf, one):
    n = buf.shape[1]
    zero = one - one
    for k in range(codes.shape[0]):
        op = codes[k, 0]
        o = codes[k, 1]
        a = codes[k, 2]
        b = codes[k, 3]
        if op == 0:
            for j in range(n):
                buf[o, j] = buf[a, j] + buf[b, j]
        elif op == 1:
            for j in range(n):
                buf[o, j] = buf[a, j] - buf[b, j]
        elif op == 2:
            for j in range(n):
                buf[o, j] = buf[a, j] * buf[b, j]
        elif op == 3:
            for j in range(n):
                buf[o, j] = buf[a, j] / buf[b, j]
        elif op == 4:
            for j in range(n):
                buf[o, j] = -buf[a, j]
        elif op == 5:
            for j in range(n):
                buf[o, j] = np.exp(buf[a, j])
        elif op == 6:
            for j in range(n):
                buf[o, j] = np.log(buf[a, j])
        elif op == 7:
            for j in range(n):
                buf[o, j] = np.tanh(buf[a, j])
        elif op == 8:          # sigmoid's forward: exp(-|x|) never overflows
            for j in range(n):
                x = buf[a, j]
                e = np.exp(-np.abs(x))
                buf[o, j] = one / (one + e) if x >= zero else e / (one + e)
        elif op == 9:          # max(x, 0), NaN passing through
            for j in range(n):
                x = buf[a, j]
                buf[o, j] = zero if x < zero else x
        elif op == 10:         # g * (1 - y*y)
            for j in range(n):
                y = buf[b, j]
                buf[o, j] = (one - y * y) * buf[a, j]
        elif op == 11:         # g * ((1 - y) * y)
            for j in range(n):
                y = buf[b, j]
                buf[o, j] = ((one - y) * y) * buf[a, j]
        else:                  # g * (y > 0)
            for j in range(n):
                buf[o, j] = (one if buf[b, j] > zero else zero) * buf[a, j]


@njit(cache=True, error_model="numpy", nogil=True)
def _scaled_add(a, x, c, out):
    for j in range(out.shape[0]):
        out[j] = a[j] + x[j] * c


@njit(cache=True, error_model="numpy", nogil=True)
def _scaled_add_into(y, x, c):     # (one pointer fewer that may alias: this loop vectorises)
    for j in range(y.shape[0]):
        y[j] = y[j] + x[j] * c


def scaled_add(a, x, c, out, negate=False):
    """out = a + x*c (a - x*c with ``negate``: an SGD step ``w - lr*g``) in one pass: the
    product rounded to out's dtype, then the sum, so bit for bit NumPy's two ufunc calls
    (no fused multiply-add). ``c`` (a number or a 0-d array) is cast to out's dtype as
    NumPy casts a Python scalar; negating it is exact."""
    c = out.dtype.type(c)
    if negate:
        c = -c
    if a.flags.c_contiguous and x.flags.c_contiguous and out.flags.c_contiguous:
        if a is out:
            _scaled_add_into(out.reshape(-1), x.reshape(-1), c)
        else:
            _scaled_add(a.reshape(-1), x.reshape(-1), c, out.reshape(-1))
    else:
        np.add(a, np.multiply(x, c), out=out)
    return out
