"""Loss modules (each calls its op in ``tg.nn.functional``) with PyTorch's constructor
signatures, legacy ``size_average``/``reduce`` included, and the seed documents' function
names ``mse_loss``, ``cross_entropy_loss`` and ``binary_cross_entropy``."""
from ..ops.loss import _reduction
from . import functional as F
from .module import Module


class _Loss(Module):
    _extra = ()   # reductions beyond 'mean', 'sum', 'none'

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        # PyTorch's legacy size_average/reduce become a reduction; a bad one fails here
        self.reduction = _reduction(type(self).__name__, reduction, size_average, reduce,
                                    self._extra)


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class _MarginLoss(_Loss):
    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class MSELoss(_Loss):
    """Mean squared error: ``l_i = (input_i - target_i)**2``, then reduced
    (``F.mse_loss``; d l_i / d input_i = 2 (input_i - target_i)).

    Args:
        reduction (str): ``"mean"`` (default), ``"sum"`` or ``"none"`` (per element).
        size_average (bool, optional): deprecated PyTorch spelling of ``reduction``.
        reduce (bool, optional): deprecated PyTorch spelling of ``reduction``.

    Shapes: ``input`` and ``target`` broadcast together; the result is 0-d unless
    ``reduction="none"``.

    Raises:
        ValueError: an unknown ``reduction`` (at construction).
        tg.ShapeError: shapes that do not broadcast.
    """
    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error: ``l_i = |input_i - target_i|``, then reduced (``F.l1_loss``;
    the gradient is ``sign(input_i - target_i)``, 0 at a tie).

    Args:
        reduction (str): ``"mean"`` (default), ``"sum"`` or ``"none"``.
        size_average (bool, optional): deprecated PyTorch spelling of ``reduction``.
        reduce (bool, optional): deprecated PyTorch spelling of ``reduction``.

    Raises:
        ValueError: an unknown ``reduction``.
        tg.ShapeError: shapes that do not broadcast.
    """
    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Smooth L1: with ``d = |input - target|``, ``l = 0.5 d**2 / beta`` where ``d < beta``,
    else ``d - 0.5 beta``; then reduced (``F.smooth_l1_loss``).

    Args:
        reduction (str): ``"mean"`` (default), ``"sum"`` or ``"none"``.
        beta (float): where the quadratic part ends (0 gives L1).
        size_average (bool, optional): deprecated PyTorch spelling of ``reduction``.
        reduce (bool, optional): deprecated PyTorch spelling of ``reduction``.

    Raises:
        ValueError: an unknown ``reduction``.
        tg.ShapeError: shapes that do not broadcast.
    """
    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Huber loss: with ``d = |input - target|``, ``l = 0.5 d**2`` where ``d < delta``, else
    ``delta (d - 0.5 delta)``; then reduced (``F.huber_loss``; ``delta * SmoothL1(beta=delta)``).

    Args:
        reduction (str): ``"mean"`` (default), ``"sum"`` or ``"none"``.
        delta (float): where the quadratic part ends.

    Raises:
        ValueError: an unknown ``reduction``.
        tg.ShapeError: shapes that do not broadcast.
    """
    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits against class indices (or class probabilities)."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
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
    """Negative log-likelihood of log-probabilities against class indices:
    ``l_n = -weight[y_n] * input[n, y_n]`` (``F.nll_loss``); ``"mean"`` divides by the sum
    of the weights of the targets counted.

    Args:
        weight (Tensor, optional): a weight per class, shape (C,).
        ignore_index (int): targets equal to it add nothing (and no weight).
        reduction (str): ``"mean"`` (default), ``"sum"`` or ``"none"``.
        size_average (bool, optional): deprecated PyTorch spelling of ``reduction``.
        reduce (bool, optional): deprecated PyTorch spelling of ``reduction``.

    Shapes: ``input`` (N, C) or (N, C, d1, ...) or (C,); ``target`` (N) or (N, d1, ...) of
    integer class indices.

    Raises:
        ValueError: an unknown ``reduction``.
        IndexError: a target outside [0, C) that is not ``ignore_index``.
        tg.ShapeError: ``input`` and ``target`` shapes that do not match.
    """
    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        kw = {}
        if self.weight is not None:
            kw["weight"] = self.weight
        if self.ignore_index != -100:
            kw["ignore_index"] = self.ignore_index
        return F.nll_loss(input, target, reduction=self.reduction, **kw)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities:
    ``l = -weight * (target * log(input) + (1 - target) * log(1 - input))``, each log
    clamped at -100 as PyTorch (``F.binary_cross_entropy``). Prefer ``BCEWithLogitsLoss`` on
    logits: it is stable where the sigmoid saturates.

    Args:
        weight (Tensor, optional): broadcast against the elementwise loss.
        reduction (str): ``"mean"`` (default), ``"sum"`` or ``"none"``.
        size_average (bool, optional): deprecated PyTorch spelling of ``reduction``.
        reduce (bool, optional): deprecated PyTorch spelling of ``reduction``.

    Raises:
        ValueError: an unknown ``reduction``.
        RuntimeError: an input outside [0, 1].
        tg.ShapeError: ``input`` and ``target`` shapes differ.
    """
    def forward(self, input, target):
        kw = {} if self.weight is None else {"weight": self.weight}
        return F.binary_cross_entropy(input, target, reduction=self.reduction, **kw)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy on logits ``x``: ``l = -weight * (pos_weight * target *
    log(sigmoid(x)) + (1 - target) * log(1 - sigmoid(x)))``, computed stably with
    ``log(sigmoid(x)) = -softplus(-x)`` (``F.binary_cross_entropy_with_logits``).

    Args:
        weight (Tensor, optional): broadcast against the elementwise loss.
        reduction (str): ``"mean"`` (default), ``"sum"`` or ``"none"``.
        pos_weight (Tensor, optional): weight of the positive term, per class (last dim).
        size_average (bool, optional): deprecated PyTorch spelling of ``reduction``.
        reduce (bool, optional): deprecated PyTorch spelling of ``reduction``.

    Raises:
        ValueError: an unknown ``reduction``.
        tg.ShapeError: ``input`` and ``target`` shapes differ.
    """
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None):
        super().__init__(weight, size_average, reduce, reduction)
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
    _extra = ("batchmean",)

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class CosineEmbeddingLoss(_MarginLoss):
    """Cosine embedding loss: ``l = 1 - cos(x1, x2)`` where ``target = 1`` and
    ``max(0, cos(x1, x2) - margin)`` where ``target = -1`` (``F.cosine_embedding_loss``).

    Args:
        margin (float): in [-1, 1]; 0 to 0.5 is usual.
        reduction (str): ``"mean"`` (default), ``"sum"`` or ``"none"``.
        size_average (bool, optional): deprecated PyTorch spelling of ``reduction``.
        reduce (bool, optional): deprecated PyTorch spelling of ``reduction``.

    Shapes: ``input1``, ``input2`` (N, D) or (D,); ``target`` (N) or () of 1 and -1.

    Raises:
        ValueError: an unknown ``reduction``.
        tg.ShapeError: shapes that do not match.
    """
    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)


class MarginRankingLoss(_MarginLoss):
    """Margin ranking loss: ``l = max(0, -target * (input1 - input2) + margin)``, target 1
    meaning ``input1`` should rank higher, -1 lower (``F.margin_ranking_loss``).

    Args:
        margin (float): the required gap.
        reduction (str): ``"mean"`` (default), ``"sum"`` or ``"none"``.
        size_average (bool, optional): deprecated PyTorch spelling of ``reduction``.
        reduce (bool, optional): deprecated PyTorch spelling of ``reduction``.

    Raises:
        ValueError: an unknown ``reduction``.
        tg.ShapeError: the three inputs differ in size.
    """
    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)


class TripletMarginLoss(_MarginLoss):
    """max(d(a, p) - d(a, n) + margin, 0) with pairwise p-norm distances (``swap``: the
    smaller of d(a, n) and d(p, n) as the negative distance)."""

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None,
                 reduce=None, reduction="mean"):
        super().__init__(margin, size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: margin must be greater than 0, got {margin}")
        self.p, self.eps, self.swap = p, eps, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap, reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log likelihood (``log_input``: the input is the log rate)."""

    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log likelihood of target given the input (mean) and ``var``."""

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """x where the target is 1, max(0, margin - x) where it is -1."""

    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, margin=self.margin,
                                      reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """One-vs-all logistic loss over the classes (last dim), averaged over them."""

    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight,
                                             reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss of scores against class indices (p = 1 or 2)."""

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got {p}")
        if weight is not None and weight.ndim != 1:
            raise ValueError(f"MultiMarginLoss: expected weight to be None or 1-d, got shape "
                             f"{list(weight.shape)}")
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin,
                                   weight=self.weight, reduction=self.reduction)


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
