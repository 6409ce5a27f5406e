"""scaled_dot_product_attention: softmax(q k^T * scale + mask) @ v, PyTorch's F name.

The attention weights are one primitive (:class:`AttentionWeights`): the scores, the
masking and a max-shifted softmax computed in place on one (..., L, S) buffer, with a VJP and
JVP written in tapegrad ops (so every order works). Dropout (the existing ``dropout_mask``
op) and ``weights @ value`` (matmul) are separate nodes: the function is a composite of three
nodes.
"""
import math

from .. import backend
from ..core.function import Function
from ..core.registry import primitive, composite, linear_jvp
from ..core.errors import ShapeError
from ..core.tensor import Tensor
from ._util import Sample, sum_to, broadcast_to
from .linalg import Matmul
from .nnfunc import dropout
from .reduce import sum
from .shape import reshape, transpose, unsqueeze

_NEG_INF = float("-inf")


@primitive("attention_weights", public=False)
class AttentionWeights(Function):
    """P = softmax(s) along the last dim, s = scale * q @ k^T masked: ``mask`` is None, a
    boolean tensor (False: s = -inf there) or a floating tensor added to s; ``causal`` sets
    s = -inf above the diagonal of the top-left (L, S) block (``tril(ones(L, S))`` kept).
    Shapes: q (..., L, E), k (..., S, E), mask broadcasting to (..., L, S); batch dims
    broadcast. Rows are shifted by their max, so nothing overflows; a row masked entirely
    (all -inf) is all zeros when ``safe`` (PyTorch's SDPA) and NaN otherwise (a plain
    softmax, as MultiheadAttention's need_weights path).

    VJP: with gs = P * (g - sum(g * P, -1)) (the softmax Jacobian), dq = scale * gs @ k,
    dk = scale * gs^T @ q, dmask = gs (each summed back over broadcast dims); a zero row of P
    gives zero gradients. JVP: ts = scale * (tq @ k^T + q @ tk^T) + tmask,
    tP = P * (ts - sum(P * ts, -1)). Both read P as the op's output tensor, so they are
    differentiable again.

    Primitive for speed and memory: the composite (matmul, mul, where or add, then
    softmax's amax, sub, exp, sum, div) makes six (L, S)-sized arrays and keeps three for
    backward, where this works in one buffer and keeps P; and the fully-masked-row rule
    would take more ops there. Measured on W9's attention (32 x 4 heads, L = S = 128, D =
    64, float32, forward + backward, one thread): 48 ms against 54 ms for the composite
    (the six batched products, about 40 ms, are the same in both).
    """

    save_inputs = True
    save_output = True
    saves = ((1,), (0,), ())   # dq reads k, dk reads q, dmask neither (P is the output)

    @staticmethod
    def forward(ctx, q, k, mask, scale, causal, safe):
        xp = ctx.xp
        s = backend.matmul(q, xp.swapaxes(k, -1, -2))
        s *= xp.asarray(scale, dtype=s.dtype)
        if mask is not None:
            if mask.dtype == bool:
                xp.copyto(s, _NEG_INF, where=~mask)
            elif xp.broadcast_shapes(s.shape, mask.shape) == s.shape:
                s += mask
            else:
                s = s + mask
        if causal:
            xp.copyto(s, _NEG_INF, where=~xp.tri(s.shape[-2], s.shape[-1], dtype=bool))
        if s.shape[-1] == 0:
            return s
        m = s.max(axis=-1, keepdims=True)
        if safe:   # a fully masked row: shift by 0, so exp gives zeros, and divide by 1
            dead = m == _NEG_INF
            m = xp.where(dead, 0, m)
        s -= m
        xp.exp(s, out=s)
        z = s.sum(axis=-1, keepdims=True)
        if safe:
            z = xp.where(dead, 1, z)
        s /= z
        return s

    @staticmethod
    def vjp(ctx, g):
        q, k, mask = ctx.inputs
        nq, nk, nm = ctx.needs_input_grad
        p = ctx.output
        scale = ctx.params["scale"]
        gs = p * (g - sum(g * p, dim=-1, keepdim=True))
        dq = sum_to(Matmul.apply(gs, k) * scale, q.shape) if nq else None
        dk = sum_to(Matmul.apply(transpose(gs, -1, -2), q) * scale, k.shape) if nk else None
        dm = sum_to(gs, mask.shape) if nm else None
        return dq, dk, dm

    @staticmethod
    def jvp(ctx, tq, tk, tm):
        q, k, mask = ctx.inputs
        p = ctx.output
        ts = None
        if tq is not None:
            ts = Matmul.apply(tq, transpose(k, -1, -2))
        if tk is not None:
            d = Matmul.apply(q, transpose(tk, -1, -2))
            ts = d if ts is None else ts + d
        if ts is not None:
            ts = ts * ctx.params["scale"]
        if tm is not None:
            ts = tm if ts is None else ts + tm
        return p * (ts - sum(p * ts, dim=-1, keepdim=True))


@primitive("heads_layout", public=False)
class HeadsLayout(Function):
    """y = x permuted by ``dims`` into new C-ordered memory; dy/dx: g permuted back, into new
    C-ordered memory too. Attention's batched products are NumPy matmuls over (..., L, D)
    matrices, several times slower on views whose batch dims are strided (heads cut out of
    a (L, N, H * D) projection) than on C-ordered arrays; this op makes one copy each way,
    so the products in both passes read C-ordered operands."""

    @staticmethod
    def forward(ctx, x, dims):
        return x.transpose(dims).copy()

    @staticmethod
    def vjp(ctx, g):
        dims = ctx.params["dims"]
        return HeadsLayout.apply(g, dims=tuple(sorted(range(len(dims)), key=dims.__getitem__)))

    jvp = linear_jvp


def c_ordered(x):
    """``x`` itself when its array is C-ordered, else a C-ordered copy (HeadsLayout)."""
    if x._data.flags.c_contiguous:
        return x
    return HeadsLayout.apply(x, dims=tuple(range(x.ndim)))


def _check(query, key, value, attn_mask):
    """Types, dtypes and shapes as scaled_dot_product_attention needs them; the score
    shape (..., L, S)."""
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if not backend.is_floating(t.dtype):
            raise TypeError(f"{op}: {name} must be a floating-point tensor, got {t.dtype}")
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"{op}: expected query, key and value to have the same dtype, but "
                        f"got {query.dtype}, {key.dtype} and {value.dtype}")
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise ShapeError(f"{op}: expected query, key and value to be at least 2-dimensional, "
                         f"got shapes {list(query.shape)}, {list(key.shape)} and "
                         f"{list(value.shape)}")
    shapes = f"(query {list(query.shape)}, key {list(key.shape)}, value {list(value.shape)})"
    if query.shape[-1] != key.shape[-1]:
        raise ShapeError(f"{op}: query and key must have the same embedding size (last dim) "
                         f"{shapes}")
    if key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"{op}: key and value must have the same sequence length (dim -2) "
                         f"{shapes}")
    try:
        batch = backend.xp.broadcast_shapes(query.shape[:-2], key.shape[:-2],
                                            value.shape[:-2])
    except ValueError:
        raise ShapeError(f"{op}: the batch dims of query, key and value do not broadcast "
                         f"{shapes}") from None
    scores = tuple(batch) + (query.shape[-2], key.shape[-2])
    if attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            raise TypeError(f"{op}: attn_mask must be a Tensor, got {type(attn_mask).__name__}")
        if attn_mask.dtype != bool and not backend.is_floating(attn_mask.dtype):
            raise TypeError(f"{op}: attn_mask must be a bool or floating-point tensor, got "
                            f"{attn_mask.dtype}")
        try:
            ok = backend.xp.broadcast_shapes(scores, attn_mask.shape) == scores
        except ValueError:
            ok = False
        if not ok:
            raise ShapeError(f"{op}: attn_mask of shape {list(attn_mask.shape)} does not "
                             f"broadcast to the attention scores' shape {list(scores)} {shapes}")
    return scores


def _repeat_heads(x, heads, op, name):
    """``x`` (..., H, S, E) with each head repeated heads // H times (repeat_interleave on
    dim -3), for grouped-query attention."""
    h = x.shape[-3]
    if heads == h:
        return x
    if heads % h:
        raise ShapeError(f"{op}: with enable_gqa the number of heads in {name} ({h}) must "
                         f"divide the number of heads in query ({heads})")
    lead = x.shape[:-3]
    x = broadcast_to(unsqueeze(x, -3), lead + (h, heads // h) + x.shape[-2:])
    return reshape(x, lead + (heads,) + x.shape[-2:])


def _sdpa_samples(rng):
    r = rng.standard_normal
    causal_mask = backend.xp.tril(backend.xp.ones((3, 4), dtype=bool))
    dead = backend.xp.ones((3, 4), dtype=bool)
    dead[1] = False
    return [Sample([r((2, 3, 4)), r((2, 4, 4)), r((2, 4, 2))], name="3-d"),
            Sample([r((3, 2)), r((5, 2)), r((5, 3))], {"scale": 0.7}, name="2-d scale"),
            Sample([r((1, 2, 3, 2)), r((1, 2, 4, 2)), r((1, 2, 4, 2)), causal_mask],
                   name="bool mask"),
            Sample([r((2, 3, 2)), r((2, 4, 2)), r((2, 4, 2)), r((3, 4))], name="float mask"),
            Sample([r((2, 3, 2)), r((2, 4, 2)), r((2, 4, 2)), dead], name="masked row"),
            Sample([r((2, 3, 2)), r((2, 5, 2)), r((2, 5, 2))], {"is_causal": True},
                   name="causal L<S"),
            Sample([r((1, 4, 2)), r((1, 3, 2)), r((1, 3, 2))], {"is_causal": True},
                   name="causal L>S"),
            Sample([r((1, 4, 2, 2)), r((1, 2, 3, 2)), r((1, 1, 3, 2))], {"enable_gqa": True},
                   name="gqa"),
            Sample([r((2, 2, 3, 2)), r((1, 4, 2)), r((2, 1, 4, 2))], name="broadcast batch")]


@composite("scaled_dot_product_attention", samples=_sdpa_samples)
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, with dropout on the weights.

    Args: query (..., L, E), key (..., S, E), value (..., S, Ev) of one floating dtype,
    batch dims broadcasting; ``attn_mask`` broadcasting to (..., L, S): boolean (True: takes
    part) or floating (added to the scores; its gradient flows); ``dropout_p`` drops weights
    with tapegrad's generator (always, as PyTorch: pass 0.0 in eval); ``is_causal`` keeps
    the top-left ``tril(ones(L, S))`` (PyTorch's alignment when L != S); ``scale`` defaults
    to 1/sqrt(E); ``enable_gqa`` repeats the heads (dim -3) of key and value to the query's.
    Returns (..., L, Ev). A row with every key masked gives zeros and zero gradients, as
    PyTorch's.

    Raises TypeError for non-tensors or non-floating dtypes (and a mask neither bool nor
    floating), ShapeError for sizes that do not match or broadcast, RuntimeError for a mask
    together with ``is_causal``, ValueError for ``dropout_p`` outside [0, 1].
    """
    op = "scaled_dot_product_attention"
    if attn_mask is not None and is_causal:
        raise RuntimeError(f"{op}: an explicit attn_mask should not be set when "
                           f"is_causal=True")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got "
                         f"{dropout_p}")
    if enable_gqa and min(query.ndim, key.ndim, value.ndim) >= 3:
        key = _repeat_heads(key, query.shape[-3], op, "key")
        value = _repeat_heads(value, query.shape[-3], op, "value")
    _check(query, key, value, attn_mask)
    if attn_mask is not None and attn_mask.dtype != bool and attn_mask.dtype != query.dtype:
        attn_mask = attn_mask.to(query.dtype)
    query, key, value = c_ordered(query), c_ordered(key), c_ordered(value)
    e = query.shape[-1]
    if scale is None:
        scale = 1.0 / math.sqrt(e) if e else math.inf
    return attend(query, key, value, attn_mask, dropout_p, is_causal, scale)[0]


def attend(query, key, value, mask, dropout_p, causal, scale, safe=True):
    """(weights @ value, weights) with weights = AttentionWeights (see its docstring) then
    dropout with probability ``dropout_p``; no argument checks (the callers make them:
    scaled_dot_product_attention and nn.MultiheadAttention)."""
    w = AttentionWeights.apply(query, key, mask, scale=float(scale), causal=bool(causal),
                               safe=safe)
    if dropout_p > 0.0:
        w = dropout(w, dropout_p, True)
    return Matmul.apply(w, value), w
