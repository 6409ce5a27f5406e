"""``torch.optim.radam``: PyTorch's path to ``RAdam`` (defined in ``optim/adam_variants.py``)."""
from .adam_variants import RAdam

__all__ = ["RAdam"]
