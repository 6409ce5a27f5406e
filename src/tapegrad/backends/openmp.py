"""``torch.backends.openmp``: tapegrad runs no OpenMP code of its own."""


def is_available():
    """False: tapegrad's threads are those of NumPy's BLAS (or MKL), not OpenMP's."""
    return False
