"""``torch.nn.modules.flatten``: Flatten and Unflatten
(``tg.nn``'s classes, imported from where they live)."""
from ..layers import Flatten, Unflatten

__all__ = ["Flatten", "Unflatten"]
