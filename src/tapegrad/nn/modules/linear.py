"""``torch.nn.modules.linear``: Identity, Linear and Bilinear
(``tg.nn``'s classes, imported from where they live)."""
from ..layers import Identity, Linear, Bilinear, NonDynamicallyQuantizableLinear

__all__ = ["Identity", "Linear", "Bilinear", "NonDynamicallyQuantizableLinear"]
