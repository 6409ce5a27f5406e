"""Other neural-network ops: linear, bilinear, dropout, embedding, cosine_similarity
(interpolate is in interpolate.py)."""
from .. import backend
from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite
from ..core.tensor import Tensor, _make
from ..random import rng as _rng
from ._util import Sample, sum_to, xp_of, check_numbers
from ..core.modes import no_grad
from .elementwise import where, Maximum
from .reduce import sum
from .shape import reshape, getitem, setitem, unsqueeze
from .vector_norm import vector_norm
from .linalg import Matmul
from .reduce import Sum


def _check_float_same(op, *ts):
    dts = {t.dtype for t in ts if isinstance(t, Tensor)}
    if len(dts) > 1:
        raise RuntimeError(f"{op}: expected all tensors to have the same dtype, got "
                           f"{', '.join(str(t.dtype) for t in ts if isinstance(t, Tensor))}")


# -- linear ---------------------------------------------------------------------------------
def _linear_samples(rng):
    r = rng.standard_normal
    return [Sample([r((4, 3)), r((2, 3)), r((2,))]),
            Sample([r((2, 2, 3)), r((2, 3)), r((2,))], name="batched"),
            Sample([r((3,)), r((2, 3))], name="vector no bias"),
            Sample([r((0, 3)), r((2, 3)), r((2,))], name="empty")]


@primitive("linear_op", public=False)
class Linear(Function):
    """y = x @ W^T + b;  dy/dx = g @ W, dy/dW = g^T @ x (batch dims flattened),
    dy/db = g summed over batch dims. Primitive for speed: one GEMM and one add, one node.
    ``features_first=True`` lays y out in memory as (out_features, ...) (a transposed
    view; same values), the layout the LSTM kernels read (ops/rnn_kernel.py)."""

    array_vjp = True
    save_inputs = True

    @staticmethod
    def forward(ctx, x, w, b=None, features_first=False):
        if x.shape[-1] != w.shape[-1]:
            raise ShapeError(f"linear: input shape {list(x.shape)} and weight shape "
                             f"{list(w.shape)} cannot be multiplied ({x.shape[-1]} vs "
                             f"{w.shape[-1]} in-features)")
        if features_first and x.ndim > 1:
            # the same values, in (out_features, ...) memory: W @ x^T (see rnn_kernel.py)
            out = backend.matmul(w, x.reshape(-1, x.shape[-1]).T)
            if b is not None:
                out += b[:, None]
            return ctx.xp.moveaxis(out.reshape(w.shape[:1] + x.shape[:-1]), 0, -1)
        out = backend.matmul(x, w.T)
        if b is not None:
            out += b
        return out

    @staticmethod
    def vjp(ctx, g):
        x, w, b = ctx.inputs
        nx, nw, nb = ctx.next
        gs = g.shape
        gx = Matmul.apply(g, w) if nx is not None else None
        gw = LinearWeightGrad.apply(g, x) if nw is not None else None
        gb = None
        if nb is not None:
            if len(gs) == 2 and b.shape == gs[1:]:
                gb = Sum.apply(g, dims=(0,), keepdim=False)
            elif b.shape == gs[-1:] and len(gs) > 1:
                gb = Sum.apply(g, dims=tuple(range(len(gs) - 1)), keepdim=False)
            else:
                gb = sum_to(g, b.shape)
        return gx, gw, gb

    @staticmethod
    def jvp(ctx, tx, tw, tb):
        x, w, b = ctx.inputs
        out = None if tx is None else Linear.apply(tx, w, None)
        if tw is not None:
            d = Linear.apply(x, tw, None)
            out = d if out is None else out + d
        if tb is not None:
            out = tb if out is None else out + tb
        return out


@primitive("linear_weight_grad", public=False)
class LinearWeightGrad(Function):
    """v = g^T @ x with the batch dims of g (..., out) and x (..., in) flattened (the outer
    product for vectors): linear's weight gradient as one GEMM and one node.
    Bilinear: dv/dg^T u = x @ u^T = linear(x, u), dv/dx^T u = g @ u."""

    save_inputs = True

    @staticmethod
    def forward(ctx, g, x):
        if x.ndim == 1:
            return ctx.xp.multiply.outer(g, x)
        return backend.matmul(g.reshape(-1, g.shape[-1]).T, x.reshape(-1, x.shape[-1]))

    @staticmethod
    def vjp(ctx, u):
        g, x = ctx.inputs
        ng, nx = ctx.next
        return (Linear.apply(x, u, None) if ng is not None else None,
                Matmul.apply(g, u) if nx is not None else None)

    @staticmethod
    def jvp(ctx, tg, tx):
        g, x = ctx.inputs
        out = None if tg is None else LinearWeightGrad.apply(tg, x)
        if tx is not None:
            d = LinearWeightGrad.apply(g, tx)
            out = d if out is None else out + d
        return out


@composite("linear", samples=_linear_samples)
def linear(input, weight, bias=None):
    """y = input @ weight^T + bias (weight is (out_features, in_features))."""
    dt = getattr(weight, "dtype", None)
    if getattr(input, "dtype", None) != dt or (bias is not None and bias.dtype != dt):
        _check_float_same("linear", input, weight, bias)
    return Linear.apply(input, weight, bias)


def _bilinear_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 3)), r((2, 2)), r((4, 3, 2)), r((4,))]),
            Sample([r((2, 2, 3)), r((2, 2, 2)), r((2, 3, 2))], name="batched no bias")]


@composite("bilinear", samples=_bilinear_samples)
def bilinear(input1, input2, weight, bias=None):
    """y_o = sum_ij x1_i W_oij x2_j + b_o, as one GEMM: (x1 @ W') * x2 summed over j."""
    o, i, j = weight.shape
    if input1.shape[-1] != i or input2.shape[-1] != j:
        raise ShapeError(f"bilinear: input1 {list(input1.shape)} and input2 "
                         f"{list(input2.shape)} don't match weight {list(weight.shape)}")
    lead = input1.shape[:-1]
    x1 = reshape(input1, (-1, i))
    x2 = reshape(input2, (-1, 1, j))
    wm = reshape(weight.permute(1, 0, 2), (i, o * j))
    out = sum(reshape(x1 @ wm, (-1, o, j)) * x2, dim=-1)
    if bias is not None:
        out = out + bias
    return reshape(out, lead + (o,))


# -- dropout --------------------------------------------------------------------------------
class _ReplayGenerator:
    """A stream, as a NumPy Generator is, that replays the same numbers on every draw (so
    samples are repeatable); they are drawn on the host, so every device gets the same."""

    def __init__(self, seed):
        self.seed = seed

    def random(self, shape, dtype=backend.float64):
        return backend.default_rng(self.seed).random(shape, dtype=dtype)


def _dropout_samples(rng):
    r = rng.standard_normal
    return [Sample([r((3, 4))], {"p": 0.5, "generator": _ReplayGenerator(0)}),
            Sample([r((3,))], {"p": 0.0}),
            Sample([r((2, 3))], {"p": 0.3, "training": False})]


@composite("dropout", samples=_dropout_samples)
def dropout(input, p=0.5, training=True, inplace=False, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1-p) (so the expected
    value is unchanged); the identity when p == 0 or not training. The mask comes from
    tapegrad's generator (``tg.manual_seed``) or ``generator``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    return Dropout.apply(input, p=float(p), generator=generator)


@primitive("dropout_mask", public=False)
class Dropout(Function):
    """y = x * m, m = keep / (1 - p) with keep ~ Bernoulli(1 - p);  dy/dx = m.
    Primitive so that the mask is drawn inside an op's forward: the forward keeps it on ctx
    (a side value, which tg.compile reads back after replaying the draw), and the rules read
    that same array, so a compiled step draws a fresh mask from the same generator stream as
    eager (the mask is never a constant computed outside the ops). ``random``: graph passes
    must neither fold nor merge nor drop it."""

    random = True

    @staticmethod
    def forward(ctx, x, p, generator):
        dev = backend.device_of(x)
        # uniforms in float32 for float32 and narrower inputs: half the work of float64's
        draw = backend.float64 if x.dtype == backend.float64 else backend.float32
        keep = _rng(generator, dev).random(x.shape, dtype=draw) >= p
        if type(keep) is not type(x):   # a host stream's draw (a NumPy Generator's)
            keep = backend.to_device(keep, dev)
        ctx.mask = keep * ctx.xp.asarray(1.0 / (1.0 - p), dtype=x.dtype)
        return x * ctx.mask

    @staticmethod
    def vjp(ctx, g):
        return g * _make(ctx.mask)   # the forward's own array (a side value), not a copy

    @staticmethod
    def jvp(ctx, t):   # linear, but not linear_jvp: re-running the op would draw a new mask
        return t * _make(ctx.mask)


# -- embedding ------------------------------------------------------------------------------
def _embedding_samples(rng):
    idx = backend.asarray([[0, 2], [3, 2]])
    return [Sample([idx, rng.standard_normal((4, 3))]),
            Sample([idx, rng.standard_normal((4, 3))], {"padding_idx": 2}, name="padding", kink=True),
            Sample([backend.asarray(1), rng.standard_normal((4, 3))], name="0-d")]


@composite("embedding", samples=_embedding_samples)
def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` picked by integer ``input``; the gradient adds up over repeated
    indices, and the ``padding_idx`` row gets none. ``max_norm`` renormalises the looked-up
    rows of weight in place first; ``scale_grad_by_freq`` divides each row's gradient by its
    count in ``input`` (both as PyTorch). ``sparse`` is accepted; gradients are dense."""
    check_numbers("embedding", input=input)
    idx = input._data if isinstance(input, Tensor) else xp_of(weight).asarray(input)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"embedding: expected indices of an integer dtype, got {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"embedding: index out of range in self (indices in "
                         f"[{idx.min()}, {idx.max()}] for a weight with {n} rows)")
    it = input if isinstance(input, Tensor) else _make(idx)
    if max_norm is not None:
        _renorm_rows(weight, it % n, float(max_norm), float(norm_type))
    out = getitem(weight, idx)
    if scale_grad_by_freq and idx.size:
        scale = 1 / IndexCounts.apply(it % n, dtype=weight.dtype)
        out = ScaleGrad.apply(out, scale=unsqueeze(scale, -1)._data)
    if padding_idx is not None:
        # the mask by ops on the index tensor, so tg.compile recomputes it per call
        out = where(unsqueeze((it % n) == padding_idx % n, -1), out.detach(), out)
    return out


def _renorm_rows(weight, rows, max_norm, p):
    """PyTorch's max_norm: rows looked up whose p-norm exceeds max_norm are rescaled IN PLACE
    (outside the graph) to norm max_norm (times 1/(norm + 1e-7), as PyTorch); by ops on the
    indices, so tg.compile records it (every picked row is written; the others' factor is 1)."""
    with no_grad():
        picked = getitem(weight, rows)
        norms = vector_norm(picked, p, dim=-1, keepdim=True)
        setitem(weight, rows, picked * where(norms > max_norm, max_norm / (norms + 1e-7), 1.0))


@primitive("index_counts", public=False)
class IndexCounts(Function):
    """How often each entry's value occurs in the whole index array, as ``dtype`` (no
    gradient): embedding's scale_grad_by_freq divides by it."""

    differentiable = False

    @staticmethod
    def forward(ctx, idx, dtype):
        _, inv, counts = ctx.xp.unique(idx, return_inverse=True, return_counts=True)
        return counts[inv.reshape(idx.shape)].astype(dtype)


@primitive("scale_grad", public=False)
class ScaleGrad(Function):
    """y = x, but the gradient is scaled: dy/dx^T g = g * scale (a constant). Not a true
    derivative: it implements embedding's scale_grad_by_freq (PyTorch's definition)."""

    @staticmethod
    def forward(ctx, x, scale):
        return x.copy()

    @staticmethod
    def vjp(ctx, g):
        return g * _make(ctx.params["scale"])

    @staticmethod
    def jvp(ctx, t):
        return t * _make(ctx.params["scale"])


# -- cosine similarity ----------------------------------------------------------------------
def _cos_samples(rng):
    r = rng.standard_normal
    return [Sample([r((3, 4)), r((3, 4))]),
            Sample([r((2, 3)), r((3,))], {"dim": -1}, name="broadcast")]


def _safe_norm(x, dim):
    """||x|| along dim (kept), with gradient 0 (not NaN) at x = 0."""
    s = sum(x * x, dim=dim, keepdim=True)
    pos = s > 0
    return where(pos, where(pos, s, 1.0).sqrt(), 0.0)


@composite("cosine_similarity", samples=_cos_samples)
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1/||x1|| * x2/||x2||) along dim, each norm clamped below at eps in value only
    (as PyTorch does: the clamp is outside the graph). x1 and x2 broadcast first, so each
    norm is taken over the broadcast tensors (PyTorch's rule)."""
    if isinstance(x1, Tensor) and isinstance(x2, Tensor) and x1.shape != x2.shape:
        from ._util import broadcast_shapes, broadcast_to
        shape = broadcast_shapes("cosine_similarity", x1.shape, x2.shape)
        x1, x2 = broadcast_to(x1, shape), broadcast_to(x2, shape)
    n1, n2 = _safe_norm(x1, dim), _safe_norm(x2, dim)
    with no_grad():   # the clamp's shift, computed by ops (tg.compile records them)
        d1 = Maximum.apply(n1, eps) - n1
        d2 = Maximum.apply(n2, eps) - n2
    n1 = n1 + d1
    n2 = n2 + d2
    return sum((x1 / n1) * (x2 / n2), dim=dim)
