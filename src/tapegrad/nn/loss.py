"""Loss modules (each calls its op in ``tg.nn.functional``) and the seed documents'
function names ``mse_loss``, ``cross_entropy_loss`` and ``binary_cross_entropy``."""
from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction



class _WeightedLoss(_Loss):
    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits against class indices (or class probabilities)."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        kw = {}
        if self.weight is not None:
            kw["weight"] = self.weight
        if self.ignore_index != -100:
            kw["ignore_index"] = self.ignore_index
        if self.label_smoothing:
            kw["label_smoothing"] = self.label_smoothing
        return F.cross_entropy(input, target, reduction=self.reduction, **kw)


class NLLLoss(_WeightedLoss):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        kw = {}
        if self.weight is not None:
            kw["weight"] = self.weight
        if self.ignore_index != -100:
            kw["ignore_index"] = self.ignore_index
        return F.nll_loss(input, target, reduction=self.reduction, **kw)


class BCELoss(_WeightedLoss):
    def forward(self, input, target):
        kw = {} if self.weight is None else {"weight": self.weight}
        return F.binary_cross_entropy(input, target, reduction=self.reduction, **kw)


class BCEWithLogitsLoss(_WeightedLoss):
    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        kw = {}
        if self.weight is not None:
            kw["weight"] = self.weight
        if self.pos_weight is not None:
            kw["pos_weight"] = self.pos_weight
        return F.binary_cross_entropy_with_logits(input, target, reduction=self.reduction, **kw)


class KLDivLoss(_Loss):
    """KL divergence; ``input`` holds log-probabilities (``target`` too if log_target)."""

    def __init__(self, reduction="mean", log_target=False):
        super().__init__("mean")
        if reduction not in ("mean", "batchmean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'batchmean', 'sum' or 'none', got "
                             f"{reduction!r}")
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class CosineEmbeddingLoss(_Loss):
    def __init__(self, margin=0.0, reduction="mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)


class MarginRankingLoss(_Loss):
    def __init__(self, margin=0.0, reduction="mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)


# -- the seed documents' function names ---------------------------------------------------
def mse_loss(input, target, reduction="mean"):
    """Mean squared error (``F.mse_loss``)."""
    return F.mse_loss(input, target, reduction=reduction)


def cross_entropy_loss(input, target, reduction="mean", **kwargs):
    """Cross-entropy of logits against class indices or probabilities (``F.cross_entropy``)."""
    return F.cross_entropy(input, target, reduction=reduction, **kwargs)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy of probabilities (``F.binary_cross_entropy``)."""
    kw = {} if weight is None else {"weight": weight}
    return F.binary_cross_entropy(input, target, reduction=reduction, **kw)
