"""``torch.backends.mkl``: whether Intel MKL computes tapegrad's large matrix products."""
from .. import backend as _backend


def is_available():
    """True when large matrix products go to MKL (``tg.backend.blas()`` starts with 'mkl':
    the ``mkl`` package is installed and ``TAPEGRAD_BLAS`` is not ``numpy``)."""
    return _backend.blas().startswith("mkl")
