"""Special functions (erf, gamma, Bessel, normal distribution) on any device's arrays:
``scipy.special`` on NumPy arrays, ``cupyx.scipy.special`` on CuPy arrays. The only place
tapegrad imports scipy; ops call ``special.call(name, x)`` from their forwards.

Both libraries implement these as ufuncs, so an array of the test-only fake CUDA (a NumPy
subclass) goes through scipy's and comes back tagged with its device.
"""
import scipy.special as _scipy

from . import array_module

#: the functions ops may call (each a ufunc in scipy and in cupyx.scipy.special)
NAMES = frozenset(("erf", "erfc", "erfinv", "erfcx", "ndtri", "log_ndtr", "gammaln", "psi",
                   "zeta", "i0", "i0e", "i1", "i1e", "entr"))
_cupy = []   # cupyx.scipy.special, imported on first use on a GPU


def module_of(arr):
    """scipy.special for host (and fake-device) arrays, cupyx.scipy.special for CuPy's."""
    if getattr(array_module(arr), "__name__", "") != "cupy":
        return _scipy
    if not _cupy:
        import cupyx.scipy.special
        _cupy.append(cupyx.scipy.special)
    return _cupy[0]


def call(name, x, *args):
    """``<module>.<name>(*args, x)``: the special function ``name`` of array ``x`` (leading
    ``args`` are its parameters, e.g. zeta's order), computed where ``x`` lives."""
    if name not in NAMES:
        raise ValueError(f"backend.special: unknown function {name!r}")
    return getattr(module_of(x), name)(*args, x)


def polygamma(n, x):
    """psi^(n)(x), the n-th derivative of digamma, for a Python int n >= 0:
    psi(x) for n = 0, else (-1)**(n+1) n! zeta(n + 1, x). (scipy's own polygamma converts
    its arguments with numpy.asarray, which would move device arrays to the host.)"""
    if n == 0:
        return call("psi", x)
    factorial = 1.0
    for k in range(2, n + 1):
        factorial *= k
    out = call("zeta", x, float(n + 1))
    out *= (-1.0) ** (n + 1) * factorial
    return out
