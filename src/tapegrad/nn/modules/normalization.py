"""``torch.nn.modules.normalization``: LayerNorm, GroupNorm and RMSNorm
(``tg.nn``'s classes, imported from where they live)."""
from ..normalization import LayerNorm, GroupNorm, RMSNorm

__all__ = ["LayerNorm", "GroupNorm", "RMSNorm"]
