"""``torch.nn.modules.pixelshuffle``: PixelShuffle and PixelUnshuffle
(``tg.nn``'s classes, imported from where they live)."""
from ..spatial import PixelShuffle, PixelUnshuffle

__all__ = ["PixelShuffle", "PixelUnshuffle"]
