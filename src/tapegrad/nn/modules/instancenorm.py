"""``torch.nn.modules.instancenorm``: instance normalization
(``tg.nn``'s classes, imported from where they live)."""
from ..normalization import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from ..normalization import _InstanceNorm  # noqa: F401  (PyTorch's base classes)

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]
