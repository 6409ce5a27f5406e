"""``tg.backends``: the switches PyTorch programs set on ``torch.backends``.

tapegrad computes with NumPy (and CuPy on GPUs), not with cuDNN, oneDNN or MPS kernels, so
these flags are accepted and remembered but change nothing; they exist so that programs
that set them (``torch.backends.cudnn.benchmark = True``,
``torch.backends.cuda.matmul.allow_tf32 = True``) run unchanged. The ``is_available()``
questions answer for tapegrad: ``mps`` and ``mkldnn`` are never available, ``mkl`` is when
tapegrad computes large matrix products with MKL (``tg.backend.blas()``), ``cudnn`` and
``openmp`` never are. (``tg.backend``, singular, is tapegrad's own array-library seam.)
"""
from . import cuda, cudnn, mkl, mkldnn, mps, openmp  # noqa: F401
