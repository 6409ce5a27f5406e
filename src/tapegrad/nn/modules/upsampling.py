"""``torch.nn.modules.upsampling``: the upsampling layers
(``tg.nn``'s classes, imported from where they live)."""
from ..spatial import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]
