"""Layers: Identity, Linear, Bilinear, Embedding, Flatten, Unflatten, PairwiseDistance,
CosineSimilarity (convolutions are in conv.py, pooling in pooling.py).

Each layer holds its Parameters and calls the op in ``tg.nn.functional``; none
reimplements an op. Initialisation follows PyTorch's exactly (kaiming_uniform_ with
a=sqrt(5) for weights, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases) and draws from
tapegrad's generator (``tg.manual_seed``) or the ``generator`` argument.
"""
import math

from ..core.errors import ShapeError
from ..creation import empty
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _tuple(v, n):
    if isinstance(v, (tuple, list)):
        if len(v) != n:
            raise ValueError(f"expected an int or a tuple of {n} ints, got {v!r}")
        return tuple(v)
    return (v,) * n


def _param(*shape, dtype=None, device=None):
    return Parameter(empty(*shape, dtype=dtype, device=device))


def _reset_weight_bias(weight, bias, generator=None, fan_in=None):
    init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    if bias is not None:
        if fan_in is None:
            fan_in = init._fans(weight)[0]
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound, generator=generator)


class Identity(Module):
    """Returns its input (takes and ignores any constructor arguments)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Linear(Module):
    """y = x @ W.T + b with W of shape (out_features, in_features).

    The seed documents' keywords ``Linear(input_size=..., output_size=...)`` also work.
    """

    def __init__(self, in_features=None, out_features=None, bias=True, dtype=None,
                 device=None, generator=None, *, input_size=None, output_size=None):
        super().__init__()
        in_features = input_size if in_features is None else in_features
        out_features = output_size if out_features is None else out_features
        if in_features is None or out_features is None:
            raise TypeError("Linear needs in_features and out_features (or input_size and "
                            "output_size)")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = _param(self.out_features, self.in_features, dtype=dtype, device=device)
        self.bias = _param(self.out_features, dtype=dtype, device=device) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        """Re-draw the parameters as PyTorch does: ``weight ~ U(-1/sqrt(in_features),
        1/sqrt(in_features))`` (``kaiming_uniform_`` with ``a = sqrt(5)``), and the bias from the
        same range.

        Args:
            generator (tg.Generator, optional): draw from this stream instead of the default.
        """
        _reset_weight_bias(self.weight, self.bias, generator)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class NonDynamicallyQuantizableLinear(Linear):
    """A ``Linear`` under PyTorch's name for ``MultiheadAttention.out_proj`` (PyTorch uses the
    name to keep its quantizer off that layer), so a printed model reads as PyTorch's."""


class Dense(Linear):
    """The seed documents' name for Linear; ``.weights`` is ``.weight``."""

    @property
    def weights(self):
        """The weight matrix (the seed systems' name for ``weight``), shape (out_features, in_features)."""
        return self.weight


class Bilinear(Module):
    """y = x1 @ W[k] @ x2 + b[k] for each output feature k; W is (out, in1, in2)."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, dtype=None,
                 device=None, generator=None):
        super().__init__()
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        self.weight = _param(out_features, in1_features, in2_features, dtype=dtype,
                             device=device)
        if bias:
            self.bias = _param(out_features, dtype=dtype, device=device)
        else:
            self.register_parameter("bias", None)
        bound = 1 / math.sqrt(in1_features)
        init.uniform_(self.weight, -bound, bound, generator)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x1, x2):
        return F.bilinear(x1, x2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: row i of ``weight`` (num_embeddings, embedding_dim) for index i.
    Initialised N(0, 1) with the ``padding_idx`` row zeroed, as PyTorch."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 dtype=None, device=None, generator=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx {padding_idx} must be within num_embeddings "
                                 f"({num_embeddings})")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is not None:
            self.weight = Parameter(_weight)
        else:
            self.weight = _param(num_embeddings, embedding_dim, dtype=dtype, device=device)
            init.normal_(self.weight, generator=generator)
            if padding_idx is not None:
                self.weight._data[padding_idx] = 0

    def forward(self, x):
        kw = {}
        if self.padding_idx is not None:
            kw["padding_idx"] = self.padding_idx
        if self.max_norm is not None:
            kw.update(max_norm=self.max_norm, norm_type=self.norm_type)
        if self.scale_grad_by_freq:
            kw["scale_grad_by_freq"] = True
        return F.embedding(x, self.weight, **kw)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, **kwargs):
        """An Embedding whose table is ``embeddings``.

        Args:
            embeddings (Tensor): the table, shape (num_embeddings, embedding_dim).
            freeze (bool): keep the table fixed (``weight.requires_grad = False``).
            padding_idx (int, optional): the row that gets no gradient.
            **kwargs: the constructor's other arguments (``max_norm``, ``scale_grad_by_freq``, ...).

        Returns:
            Embedding: the new module.

        Raises:
            ShapeError: ``embeddings`` is not 2-d (a ValueError and a RuntimeError;
                PyTorch asserts).
        """
        if len(embeddings.shape) != 2:
            raise ShapeError(f"Embedding.from_pretrained: embeddings must be 2-d "
                             f"(num_embeddings, embedding_dim), got shape "
                             f"{list(embeddings.shape)}")
        rows, cols = embeddings.shape
        m = cls(rows, cols, padding_idx=padding_idx, _weight=embeddings, **kwargs)
        m.weight.requires_grad_(not freeze)
        return m

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class Flatten(Module):
    """Flattens dims start_dim..end_dim (by default all but the batch dim)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim ``dim`` into ``unflattened_size``."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        d = self.dim % x.ndim
        return x.reshape(tuple(x.shape[:d]) + self.unflattened_size + tuple(x.shape[d + 1:]))

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class PairwiseDistance(Module):
    """||x1 - x2 + eps||_p along the last dim (``F.pairwise_distance``)."""

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class CosineSimilarity(Module):
    """Cosine similarity of x1 and x2 along ``dim`` (``F.cosine_similarity``)."""

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)
