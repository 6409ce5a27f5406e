"""``torch.nn.modules.loss``: the loss modules
(``tg.nn``'s classes, imported from where they live)."""
from ..loss import (MSELoss, L1Loss, SmoothL1Loss, HuberLoss,
                    CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, KLDivLoss,
                    CosineEmbeddingLoss, MarginRankingLoss, TripletMarginLoss, PoissonNLLLoss,
                    GaussianNLLLoss, HingeEmbeddingLoss, MultiLabelSoftMarginLoss,
                    MultiMarginLoss)
from ..loss import _Loss, _WeightedLoss  # noqa: F401  (PyTorch's base classes)

__all__ = ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss", "NLLLoss",
           "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "CosineEmbeddingLoss",
           "MarginRankingLoss", "TripletMarginLoss", "PoissonNLLLoss", "GaussianNLLLoss",
           "HingeEmbeddingLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss"]
