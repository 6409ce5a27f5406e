"""``torch.optim.adamw``: PyTorch's path to ``AdamW`` (defined in ``optim/adam.py``)."""
from .adam import AdamW

__all__ = ["AdamW"]
