"""``torch.nn.modules.dropout``: the dropout layers
(``tg.nn``'s classes, imported from where they live)."""
from ..dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from ..dropout import _DropoutNd  # noqa: F401  (PyTorch's base classes)

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]
