"""``torch.nn.modules.distance``: PairwiseDistance and CosineSimilarity
(``tg.nn``'s classes, imported from where they live)."""
from ..layers import PairwiseDistance, CosineSimilarity

__all__ = ["PairwiseDistance", "CosineSimilarity"]
