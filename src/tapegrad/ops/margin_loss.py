"""Margin losses and distances: pairwise_distance, triplet_margin_loss, hinge_embedding_loss,
multi_margin_loss and multilabel_soft_margin_loss (reductions 'mean'/'sum'/'none', PyTorch's
legacy size_average/reduce). Composites with PyTorch's formulas, so their gradients (every
order) and the subgradients at the hinges are those of the ops they use. Which inputs take
gradients follows PyTorch: integer and +-1 targets and multi_margin_loss's class weights
don't; multilabel_soft_margin_loss's target and weight do (PyTorch's is a composite too).
"""
from .. import backend
from ..core.errors import ShapeError
from ..core.registry import composite
from ..core.tensor import Tensor
from ._util import Sample, guard, in_range, const_like, xp_of, check_numbers
from .activation import logsigmoid
from .elementwise import where, Minimum
from .extra import clamp_min
from .index import gather
from .loss import _reduction, _reduce, _const
from .nn import Relu
from .reduce import sum
from .shape import reshape
from .vector_norm import vector_norm


def _target(t, like):
    """A target given as data, as a constant tensor on ``like``'s device."""
    return t if isinstance(t, Tensor) else const_like(t, like)


# -- distances ------------------------------------------------------------------------------
def _pd_samples(rng):
    r = rng.standard_normal
    return [Sample([r((3, 4)), r((3, 4))]), Sample([r((2, 3)), r((3,))], {"p": 1.0},
                                                   name="broadcast p=1"),
            Sample([r((4,)), r((4,))], {"p": 3.0, "keepdim": True}, name="1-d keepdim"),
            Sample([r((2, 3)), r((2, 3))], {"eps": 0.1}, name="eps")]


@composite("pairwise_distance", samples=_pd_samples)
def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p along the last dim of the broadcast inputs (PyTorch's formula:
    eps is added to the difference, so equal inputs give a nonzero distance and a gradient).
    """
    for name, t in (("x1", x1), ("x2", x2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"pairwise_distance: expected a tensor as {name}, got "
                            f"{type(t).__name__}")
    return vector_norm(x1 - x2 + eps, p, dim=-1, keepdim=keepdim)


def _triplet_samples(rng):
    r = rng.standard_normal
    a, p, n = r((4, 3)), r((4, 3)), r((4, 3))
    return [Sample([a, p, n]), Sample([a, p, n], {"margin": 2.0, "p": 1, "reduction": "sum"},
                                      name="p=1 sum"),
            Sample([a, p, n], {"swap": True, "margin": 3.0, "reduction": "none"}, name="swap"),
            Sample([r((3,)), r((3,)), r((3,))], {"margin": 5.0}, name="1-d")]


@composite("triplet_margin_loss", samples=_triplet_samples)
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with d = pairwise_distance(., ., p, eps); ``swap``
    uses min(d(a, n), d(p, n)) as the negative distance (Balntas et al.).

    Raises ShapeError when the inputs' ranks differ, ValueError for margin <= 0 or a bad
    reduction."""
    reduction = _reduction("triplet_margin_loss", reduction, size_average, reduce)
    if margin <= 0:
        raise ValueError(f"triplet_margin_loss: margin must be greater than 0, got {margin}")
    check_numbers("triplet_margin_loss", anchor=anchor, positive=positive, negative=negative)
    dims = [getattr(t, "ndim", None) for t in (anchor, positive, negative)]
    if len(set(dims)) != 1:
        raise ShapeError(f"triplet_margin_loss: the anchor, positive and negative tensors "
                         f"must have the same number of dims, got shapes "
                         f"{[list(getattr(t, 'shape', ())) for t in (anchor, positive, negative)]}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = Minimum.apply(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(clamp_min(margin + d_pos - d_neg, 0.0), reduction)


# -- hinge losses ---------------------------------------------------------------------------
def _hinge_samples(rng):
    x = rng.uniform(-2, 2, (3, 4))
    x = x + 0.3 * (abs(x - 1.0) < 0.15)    # away from the hinge at x = margin
    t = backend.asarray([[1, -1, 1, -1]] * 3)
    return [Sample([x, t]), Sample([x, t], {"margin": 0.5, "reduction": "none"},
                                   name="margin none"),
            Sample([x, backend.asarray([1, -1, 1, -1])], {"reduction": "sum"},
                   name="target broadcast"),
            # a float target sits on the jumps at +-1: finite differences don't apply to it
            Sample([x, backend.asarray([1.0, -1.0, 1.0, -1.0])], name="float target",
                   kink=True)]


@composite("hinge_embedding_loss", samples=_hinge_samples)
def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """x where target == 1, max(0, margin - x) where target == -1 (PyTorch's formula: a
    target that is neither counts both terms). The target takes no gradient."""
    reduction = _reduction("hinge_embedding_loss", reduction, size_average, reduce)
    t = _target(target, input)
    margin_term = where(t != 1, clamp_min(margin - input, 0.0), 0.0)
    return _reduce(margin_term + where(t != -1, input, 0.0), reduction)


def _mm_samples(rng):
    x = rng.standard_normal((3, 4))
    y = backend.asarray([2, 0, 3])
    return [Sample([x, y]), Sample([x, y], {"p": 2, "margin": 0.7, "reduction": "none"},
                                   name="p=2 none"),
            Sample([x, y], {"weight": rng.uniform(0.5, 2.0, (4,)), "reduction": "sum"},
                   name="weight"),
            Sample([rng.standard_normal((5,)), backend.asarray(1)], name="1-d")]


@composite("multi_margin_loss", samples=_mm_samples)
def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """Multi-class hinge loss of (N, C) or (C,) scores x and class indices y:
    sum over i != y of w[y] * max(0, margin - x[y] + x[i])**p, divided by C (p = 1 or 2).
    The subgradient at the hinge is 0. Class weights take no gradient.

    Raises ValueError for p not 1 or 2 or a weight that is not 1-d, ShapeError for inputs of
    the wrong shape, IndexError for a class out of range."""
    op = "multi_margin_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 are supported, got p={p}")
    if weight is not None and getattr(weight, "ndim", 1) != 1:
        raise ShapeError(f"{op}: weight must be one-dimensional, got shape "
                         f"{list(weight.shape)}")
    if not (input.ndim == 2 and input.shape[1] or input.ndim == 1 and input.shape[0]
            or input.ndim == 0):
        raise ShapeError(f"{op}: expected a non-empty vector or matrix with an optional "
                         f"0-size batch, got input of shape {list(input.shape)}")
    n = input.shape[0] if input.ndim == 2 else 1
    c = input.shape[-1] if input.ndim else 1
    t = _target(target, input)
    if t.dtype.kind not in "iu" or t.ndim > 1 or t.numel() != n:
        raise ShapeError(f"{op}: expected an integer target of {n} class indices (0-d or 1-d) "
                         f"for input of shape {list(input.shape)}, got target of shape "
                         f"{list(t.shape)} and dtype {t.dtype}")
    w = _const(weight, input, input.dtype)
    if w is not None and w.numel() != c:
        raise ShapeError(f"{op}: expected a weight of {c} entries for input of shape "
                         f"{list(input.shape)}, got weight of shape {list(w.shape)}")
    idx = t._data
    if idx.size and not in_range(idx, 0, c):
        raise IndexError(f"{op}: target out of range: classes must be in [0, {c}), got "
                         f"values in [{int(idx.min())}, {int(idx.max())}]")
    guard(idx, in_range, 0, c, what=f"multi_margin_loss's classes were in [0, {c})")
    x = reshape(input, (n, c))
    y = reshape(t, (n, 1))
    z = Relu.apply(margin - gather(x, 1, y) + x)
    if p == 2:
        z = z * z
    if w is not None:
        z = z * gather(reshape(w, (1, c)).expand(n, c), 1, y)
    classes = const_like(xp_of(input).arange(c), input)
    loss = sum(where(classes == y, 0.0, z), dim=1) / c
    return _reduce(reshape(loss, t.shape), reduction)


def _mlsm_samples(rng):
    x = rng.standard_normal((3, 4))
    y = (rng.uniform(0, 1, (3, 4)) > 0.5).astype(float)
    return [Sample([x, y]), Sample([x, y], {"reduction": "none",
                                            "weight": rng.uniform(0.5, 2.0, (4,))},
                                   name="weight none"),
            Sample([x, rng.uniform(0, 1, (3, 4))], {"reduction": "sum"}, name="soft target"),
            Sample([rng.standard_normal((5,)), (rng.uniform(0, 1, (5,)) > 0.5).astype(float)],
                   name="1-d")]


@composite("multilabel_soft_margin_loss", samples=_mlsm_samples)
def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """-mean over classes (last dim) of w * (y log sigmoid(x) + (1 - y) log sigmoid(-x)),
    one loss per sample; log sigmoid never overflows. The target and a weight tensor take
    gradients, as in PyTorch, whose version is the same composite.

    Raises IndexError for a 0-d input."""
    op = "multilabel_soft_margin_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    if input.ndim == 0:
        raise IndexError(f"{op}: expected an input with a class dim (C,) or (N, C), got a 0-d "
                         f"tensor")
    y = _target(target, input)
    loss = -(y * logsigmoid(input) + (1 - y) * logsigmoid(-input))
    if weight is not None:
        loss = loss * (weight if isinstance(weight, Tensor) else _const(weight, input,
                                                                        input.dtype))
    return _reduce(sum(loss, dim=-1) / input.shape[-1], reduction)
