"""Intel MKL's GEMM through ctypes, for ``backend.matmul`` when the optional ``mkl`` package
is installed (``pip install "tapegrad[mkl]"``). PyTorch's CPU builds use the same library;
NumPy's wheels use OpenBLAS, whose sgemm is 20-35% slower on the products of a small MLP
(benchmarks/RESULTS.md). Only plain 2-d float32/float64 products whose operands are
row- or column-major (transposed views included) are handled here; everything else is
NumPy's. MKL takes its thread count from MKL_NUM_THREADS or OMP_NUM_THREADS, and its
results do not depend on the arrays' alignment (checked in the tests).
"""
import ctypes
import importlib.metadata

_ROW, _NOTRANS, _TRANS = 101, 111, 112


def library_path():
    """Where the installed ``mkl`` package put libmkl_rt (None when it is not installed)."""
    try:
        files = importlib.metadata.files("mkl") or ()
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name.startswith("libmkl_rt.so") or f.name in ("mkl_rt.2.dll", "libmkl_rt.dylib"):
            return str(f.locate().resolve())
    return None


class Gemm:
    """``gemm(a, b, out) -> a @ b`` or None when this product is not one MKL can take."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        i, p = ctypes.c_int, ctypes.c_void_p
        self.routines = {}
        for code, name, scalar in (("f", "cblas_sgemm", ctypes.c_float),
                                   ("d", "cblas_dgemm", ctypes.c_double)):
            fn = getattr(lib, name)
            fn.argtypes = [i, i, i, i, i, i, scalar, p, i, p, i, scalar, p, i]
            fn.restype = None
            self.routines[code] = fn
        get = getattr(lib, "MKL_Get_Version_String", None)
        self.version = "MKL"
        if get is not None:
            buf = ctypes.create_string_buffer(256)
            get(buf, 256)
            self.version = buf.value.decode(errors="replace").strip()
        self.path = path

    def __call__(self, a, b, out, empty):
        fn = self.routines.get(a.dtype.char)
        if (fn is None or b.dtype != a.dtype or not a.dtype.isnative
                or not (a.flags.aligned and b.flags.aligned)):
            return None
        m, k = a.shape
        n = b.shape[1]
        ta, lda = _layout(a)
        tb, ldb = _layout(b)
        if ta is None or tb is None or max(m, n, k, lda, ldb) >= 2 ** 31:
            return None
        if out is None:
            out = empty((m, n), a.dtype)
        elif (out.dtype != a.dtype or out.shape != (m, n) or not out.flags.aligned
              or out.strides[1] != out.itemsize or out.strides[0] < n * out.itemsize):
            return None
        ldc = out.strides[0] // out.itemsize
        fn(_ROW, ta, tb, m, n, k, 1.0, _pointer(a), lda, _pointer(b), ldb, 0.0,
           _pointer(out), ldc)
        return out


def _pointer(x):
    """The address of ``x``'s first element. ctypes reads it from the buffer of a writable
    C-ordered array (or of the transpose of a Fortran-ordered one) in about a quarter of
    the time ``x.ctypes.data`` takes (which builds a helper object per call)."""
    try:
        if x.flags.c_contiguous:
            return _addressof(_from_buffer(x))
        if x.flags.f_contiguous:
            return _addressof(_from_buffer(x.T))
    except (TypeError, ValueError):   # read-only memory: no writable buffer to export
        pass
    return x.ctypes.data


_from_buffer = ctypes.c_char.from_buffer
_addressof = ctypes.addressof


def _layout(x):
    """(transpose flag, leading dimension) of a 2-d array whose rows or columns are
    contiguous runs; (None, 0) otherwise."""
    rows, cols = x.shape
    s0, s1 = x.strides
    size = x.itemsize
    if s1 == size and s0 >= cols * size and s0 % size == 0:
        return _NOTRANS, max(s0 // size, 1)
    if s0 == size and s1 >= rows * size and s1 % size == 0:
        return _TRANS, max(s1 // size, 1)
    return None, 0
