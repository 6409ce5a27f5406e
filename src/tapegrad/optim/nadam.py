"""``torch.optim.nadam``: PyTorch's path to ``NAdam`` (defined in ``optim/adam_variants.py``)."""
from .adam_variants import NAdam

__all__ = ["NAdam"]
