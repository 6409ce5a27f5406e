"""``torch.functional``: PyTorch's path to the tensor functions it defines in Python
(``tg.einsum``, ``tg.split``, ``tg.meshgrid``, ... defined in ``tapegrad/ops``)."""
from .ops import (atleast_1d, atleast_2d, atleast_3d, block_diag, cartesian_prod, cdist, einsum,
                  meshgrid, norm, split, tensordot, unique)

__all__ = ["atleast_1d", "atleast_2d", "atleast_3d", "block_diag", "cartesian_prod", "cdist",
           "einsum", "meshgrid", "norm", "split", "tensordot", "unique"]
