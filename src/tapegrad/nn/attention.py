"""nn.MultiheadAttention, with PyTorch's arguments, parameter names and layout, so that a
PyTorch ``state_dict`` loads and gives the same outputs.

The heads are batched: q, k and v are projected once (one GEMM for self-attention with the
packed ``in_proj_weight``), viewed as (N, H, L, D) and attended with the attention primitive
of ``tg.nn.functional.scaled_dot_product_attention`` (no loop over heads).
"""
import math

from .. import backend
from ..core.errors import ShapeError
from ..core.tensor import Tensor
from ..creation import empty, zeros, full_like
from ..ops._util import const_like
from ..ops.attention import attend, HeadsLayout
from . import functional as F
from . import init
from .layers import NonDynamicallyQuantizableLinear
from .module import Module
from .parameter import Parameter

_NAME = "MultiheadAttention"


def _check_mask_dtype(mask, name):
    if mask is not None and not isinstance(mask, Tensor):
        raise TypeError(f"{_NAME}: {name} must be a Tensor, got {type(mask).__name__}")
    if mask is not None and mask.dtype != bool and not backend.is_floating(mask.dtype):
        raise TypeError(f"{_NAME}: only bool and floating types of {name} are supported, "
                        f"got {mask.dtype}")


def _shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """Whether the input is batched (3-d) or not (2-d), PyTorch's ``_mha_shape_check``."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{_NAME}: {name} must be a Tensor, got {type(t).__name__}")
    _check_mask_dtype(key_padding_mask, "key_padding_mask")
    _check_mask_dtype(attn_mask, "attn_mask")
    if query.ndim not in (2, 3):
        raise ShapeError(f"{_NAME}: query should be unbatched 2-D or batched 3-D, got shape "
                         f"{list(query.shape)}")
    batched = query.ndim == 3
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise ShapeError(f"{_NAME}: for a {query.ndim}-D query expected key and value to be "
                         f"{query.ndim}-D, got shapes {list(key.shape)} and {list(value.shape)}")
    if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
        raise ShapeError(f"{_NAME}: for a {query.ndim}-D query expected key_padding_mask to be "
                         f"{query.ndim - 1}-D, got shape {list(key_padding_mask.shape)}")
    if attn_mask is not None and attn_mask.ndim not in (2, 3):
        raise ShapeError(f"{_NAME}: expected attn_mask to be 2-D or 3-D, got shape "
                         f"{list(attn_mask.shape)}")
    return batched


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of size embed_dim // num_heads (PyTorch's layer).

    Args: ``embed_dim``, ``num_heads`` (must divide embed_dim), ``dropout`` (on the attention
    weights, in training mode), ``bias`` (in_proj_bias and out_proj.bias), ``add_bias_kv``
    (learned ``bias_k``/``bias_v`` appended to the keys and values), ``add_zero_attn`` (a
    zero key and value appended), ``kdim``/``vdim`` (key/value feature sizes; when either
    differs from embed_dim the projections are ``q_proj_weight``, ``k_proj_weight`` and
    ``v_proj_weight`` instead of the packed (3E, E) ``in_proj_weight``), ``batch_first``
    ((N, L, E) inputs instead of (L, N, E)), ``device``, ``dtype``.

    Initialised as PyTorch: xavier_uniform_ projections, zero biases, xavier_normal_
    bias_k/bias_v, out_proj a Linear; drawn from tapegrad's generator.
    Raises ValueError for non-positive sizes or heads that do not divide embed_dim.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"{_NAME}: embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"{_NAME}: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        kw = {"dtype": dtype, "device": device}
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, **kw))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(empty(1, 1, embed_dim, **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        """Attend from ``query`` to ``key``/``value``.

        Shapes: query (L, N, E) ((N, L, E) with batch_first, (L, E) unbatched), key (S, N,
        kdim), value (S, N, vdim); ``key_padding_mask`` (N, S) or (S,): True (or -inf) marks
        keys to ignore; ``attn_mask`` (L, S) or (N * num_heads, L, S): True marks pairs that
        may NOT attend (the opposite of scaled_dot_product_attention's), a float mask is
        added to the scores. ``is_causal`` is a hint that attn_mask is the causal mask (it
        must be given, as PyTorch asks).

        Returns (output (L, N, E) or as the query's layout, weights or None): the weights
        (N, L, S) averaged over heads (``average_attn_weights``) or (N, H, L, S), after
        dropout, as PyTorch returns them; None unless ``need_weights``. Raises ShapeError
        for shapes that do not fit, TypeError for masks neither bool nor floating,
        RuntimeError for is_causal without attn_mask.
        """
        batched = _shape_check(query, key, value, key_padding_mask, attn_mask, self.num_heads)
        if is_causal and attn_mask is None:
            raise RuntimeError(f"{_NAME}: need attn_mask if specifying the is_causal hint; "
                               f"nn.Transformer.generate_square_subsequent_mask makes it")
        bf = self.batch_first and batched
        if not batched:   # as PyTorch: a batch of one, in the (L, N, E) layout
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        b, seq = (0, 1) if bf else (1, 0)   # the batch and sequence dims
        n, tgt, src = query.shape[b], query.shape[seq], key.shape[seq]
        if query.shape[-1] != self.embed_dim:
            raise ShapeError(f"{_NAME}: expected query's embedding size {self.embed_dim}, got "
                             f"shape {list(query.shape)}")
        if key.shape[:2] != value.shape[:2] or key.shape[b] != n or \
                (key.shape[2], value.shape[2]) != (self.kdim, self.vdim):
            raise ShapeError(f"{_NAME}: key {list(key.shape)} and value {list(value.shape)} "
                             f"do not fit query {list(query.shape)} (kdim={self.kdim}, "
                             f"vdim={self.vdim})")
        mask = self._attn_mask(attn_mask, n, tgt, src, query.dtype)
        if self._qkv_same_embed_dim and query is key and key is value and self.bias_k is None:
            q, k, v = self._heads(F.linear(query, self.in_proj_weight, self.in_proj_bias),
                                  bf, 3).unbind(0)
        else:
            q, k, v = self._project(query, key, value)
            if self.bias_k is not None:
                k = F.cat([k, self.bias_k.expand(*_bias_shape(bf, n, self.embed_dim))], seq)
                v = F.cat([v, self.bias_v.expand(*_bias_shape(bf, n, self.embed_dim))], seq)
                mask, key_padding_mask = _pad_masks(mask, key_padding_mask)
            q, k, v = (self._heads(t, bf) for t in (q, k, v))
        if self.add_zero_attn:
            z = zeros(k.shape[:2] + (1, self.head_dim), dtype=k.dtype, device=k.device)
            k, v = F.cat([k, z], 2), F.cat([v, z], 2)
            mask, key_padding_mask = _pad_masks(mask, key_padding_mask)
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (n, k.shape[2]):
                raise ShapeError(f"{_NAME}: expected key_padding_mask of shape "
                                 f"{[n, k.shape[2]]}, got {list(key_padding_mask.shape)}")
            mask = _merge(mask, key_padding_mask.reshape(n, 1, 1, k.shape[2]), q.dtype)
        causal = is_causal and key_padding_mask is None and not need_weights
        if causal:   # PyTorch hands the hint to its SDPA and drops the mask
            mask = None
        p = self.dropout if self.training else 0.0
        out, w = attend(q, k, v, mask, p, causal, 1.0 / math.sqrt(self.head_dim),
                        safe=not need_weights)
        out = HeadsLayout.apply(out, dims=(0, 2, 1, 3) if bf else (2, 0, 1, 3))
        out = self.out_proj(out.reshape(out.shape[:2] + (self.embed_dim,)))
        if not batched:
            out = out.squeeze(1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            w = w.mean(dim=1)
        return out, (w if batched else w.squeeze(0))

    def _project(self, query, key, value):
        """q, k, v = the input projections (two GEMMs when key is value), in the inputs' own
        layout (self-attention without bias_k takes one GEMM, in forward)."""
        e, b = self.embed_dim, self.in_proj_bias
        bq, bk, bv = (None,) * 3 if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if not self._qkv_same_embed_dim:
            return (F.linear(query, self.q_proj_weight, bq),
                    F.linear(key, self.k_proj_weight, bk),
                    F.linear(value, self.v_proj_weight, bv))
        w = self.in_proj_weight
        if key is value:
            kv = F.linear(key, w[e:], None if b is None else b[e:])
            return F.linear(query, w[:e], bq), kv[..., :e], kv[..., e:]
        return (F.linear(query, w[:e], bq), F.linear(key, w[e:2 * e], bk),
                F.linear(value, w[2 * e:], bv))

    def _heads(self, t, bf, parts=None):
        """(T, N, E) (or (N, T, E) with batch_first) as (N, H, T, D), C-ordered; with
        ``parts``, (T, N, parts * E) as (parts, N, H, T, D) (the packed q, k, v)."""
        if parts is None:
            t = t.reshape(t.shape[:2] + (self.num_heads, self.head_dim))
            return HeadsLayout.apply(t, dims=(0, 2, 1, 3) if bf else (1, 2, 0, 3))
        t = t.reshape(t.shape[:2] + (parts, self.num_heads, self.head_dim))
        return HeadsLayout.apply(t, dims=(2, 0, 3, 1, 4) if bf else (2, 1, 3, 0, 4))

    def _attn_mask(self, attn_mask, n, tgt, src, dtype):
        """attn_mask as a mask for the (N, H, L, S) scores: boolean True = takes part, or
        additive float; None when there is none."""
        if attn_mask is None:
            return None
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt, src):
                raise ShapeError(f"{_NAME}: the shape of the 2-D attn_mask is "
                                 f"{list(attn_mask.shape)}, but should be {[tgt, src]}")
        elif tuple(attn_mask.shape) != (n * self.num_heads, tgt, src):
            raise ShapeError(f"{_NAME}: the shape of the 3-D attn_mask is "
                             f"{list(attn_mask.shape)}, but should be "
                             f"{[n * self.num_heads, tgt, src]}")
        else:
            attn_mask = attn_mask.reshape(n, self.num_heads, tgt, src)
        return attn_mask == False if attn_mask.dtype == bool else attn_mask.to(dtype)  # noqa: E712


def _bias_shape(bf, n, e):
    return (n, 1, e) if bf else (1, n, e)


def _pad_masks(mask, kpm):
    """Both masks with one more key that takes part (bias_k/bias_v or the zero key)."""
    if mask is not None:
        fill = True if mask.dtype == bool else 0.0
        mask = F.cat([mask, full_like(mask[..., :1], fill)], -1)
    if kpm is not None:
        fill = False if kpm.dtype == bool else 0.0
        kpm = F.cat([kpm, full_like(kpm[..., :1], fill)], -1)
    return mask, kpm


def _merge(mask, kpm, dtype):
    """The attention mask (True = takes part, or additive) and the key padding mask (True =
    ignored, or additive) as one: boolean when both are, else additive as PyTorch's sum."""
    if mask is None and kpm.dtype != bool:
        return kpm.to(dtype)
    if kpm.dtype == bool and (mask is None or mask.dtype == bool):
        allowed = kpm == False  # noqa: E712
        return allowed if mask is None else F.where(kpm, False, mask)
    if kpm.dtype == bool:
        kpm = F.where(kpm, const_like(float("-inf"), kpm, dtype), 0.0)
    else:
        kpm = kpm.to(dtype)
    if mask.dtype == bool:
        mask = F.where(mask, 0.0, const_like(float("-inf"), mask, dtype))
    return mask + kpm
