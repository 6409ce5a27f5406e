"""``torch.optim.adagrad``: PyTorch's path to ``Adagrad`` (defined in ``optim/rmsprop.py``)."""
from .rmsprop import Adagrad

__all__ = ["Adagrad"]
