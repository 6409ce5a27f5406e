"""``torch.nn.modules.module``: the base class
(``tg.nn``'s classes, imported from where they live)."""
from ..module import Module

__all__ = ["Module"]
