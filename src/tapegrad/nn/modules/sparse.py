"""``torch.nn.modules.sparse``: Embedding (``tg.nn``'s classes, imported from where they live)."""
from ..layers import Embedding

__all__ = ["Embedding"]
