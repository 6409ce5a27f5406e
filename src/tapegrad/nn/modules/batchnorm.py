"""``torch.nn.modules.batchnorm``: batch normalization
(``tg.nn``'s classes, imported from where they live)."""
from ..normalization import BatchNorm1d, BatchNorm2d
from ..normalization import _BatchNorm  # noqa: F401  (PyTorch's base classes)

__all__ = ["BatchNorm1d", "BatchNorm2d"]
