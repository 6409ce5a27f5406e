"""``tg.linalg``: linear algebra by PyTorch's names (inv, det, solve, cholesky, qr, svd,
eigh, lstsq, pinv, norms, ...).

Each function is the op registered in ``tapegrad/ops`` (defined once there); this module
only gives them their ``torch.linalg`` names. ``cdist`` is here too for convenience
(PyTorch has it only as ``torch.cdist``, also ``tg.cdist``)."""
from .ops import matmul, diagonal, tensordot  # noqa: F401
from .ops.solve import (inverse as inv, det, slogdet, solve, matrix_norm,  # noqa: F401
                       linalg_norm as norm)
from .ops.vector_norm import vector_norm  # noqa: F401
from .ops.decomp import cholesky, qr, eigh, eigvalsh  # noqa: F401
from .ops.svd import svd, svdvals, pinv, lstsq  # noqa: F401
from .ops.matops import matrix_power, multi_dot, cdist  # noqa: F401

__all__ = ["inv", "det", "slogdet", "solve", "vector_norm", "matrix_norm", "norm", "matmul",
           "diagonal", "tensordot", "cholesky", "qr", "eigh", "eigvalsh", "svd", "svdvals",
           "pinv", "lstsq", "matrix_power", "multi_dot", "cdist"]
