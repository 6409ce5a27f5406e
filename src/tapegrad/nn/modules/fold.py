"""``torch.nn.modules.fold``: Fold and Unfold
(``tg.nn``'s classes, imported from where they live)."""
from ..spatial import Fold, Unfold

__all__ = ["Fold", "Unfold"]
