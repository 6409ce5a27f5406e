"""``torch.nn.modules.conv``: the convolutions
(``tg.nn``'s classes, imported from where they live)."""
from ..conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from ..conv import _ConvNd, _ConvTransposeNd  # noqa: F401  (PyTorch's base classes)

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]
