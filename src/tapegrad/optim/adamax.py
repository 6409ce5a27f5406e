"""``torch.optim.adamax``: PyTorch's path to ``Adamax`` (defined in ``optim/adam_variants.py``)."""
from .adam_variants import Adamax

__all__ = ["Adamax"]
