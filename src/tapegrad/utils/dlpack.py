"""``torch.utils.dlpack``: PyTorch's path to ``tg.from_dlpack`` (defined in ``dlpack.py``)."""
from ..dlpack import from_dlpack

__all__ = ["from_dlpack"]
