"""Separable resampling: the engine under F.interpolate and adaptive average pooling.

Every interpolate mode, and adaptive average pooling, treats each spatial dim on its own:
along a dim, output position o reads a few input positions I[s, o] with weights W[s, o],

    y[..., o, ...] = sum_s W[s, o] * x[..., I[s, o], ...]

(1 tap for nearest, 2 for linear, 4 for cubic, the window for area). That is a sparse
(n_out, n_in) matrix M kept by rows (I and W of shape (taps, n_out), the "ELL" format), and
the whole op is the product of one such map per spatial dim.

One primitive, :class:`Resample`, applies M (or M^T) along one dim. It is linear, so its VJP
is the same primitive with the transposed matrix and its JVP is itself on the tangent: every
order of both modes holds, and a second-order gradient is again a resample. M^T is kept by
rows too (its rows are the input positions, each listing the outputs that read it), so both
directions are gathers: no scatter-add, deterministic on a GPU, as fast as the forward.

A plan (I, W) depends only on sizes and options: it is computed on the host with NumPy
(small integer and float vectors), cached, and moved to the input's device on each call.
"""
import functools

from .. import backend
from ..core.function import Function
from ..core.registry import primitive, linear_jvp

#: cubic convolution's free parameter, as PyTorch (and OpenCV): A = -0.75
CUBIC_A = -0.75


def _ratio(n_in, n_out, scale, align_corners):
    """PyTorch's area_pixel_compute_scale: input step per output step (with
    align_corners, 0 for a single output: it reads the first input)."""
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / scale if scale else n_in / n_out


def _nearest(hx, n_in, n_out, scale, single, exact):
    """Source of each output: floor(o * s) ('nearest', OpenCV's) or floor((o + 0.5) * s)
    ('nearest-exact', Pillow's and scipy's), s = 1/scale_factor or n_in/n_out, computed
    as PyTorch's CPU kernel does (its opmath type, float32 unless the input is float64, then
    floored in float32), so every index agrees with PyTorch's, even on exact ties."""
    ft = hx.float32 if single else hx.float64
    o = hx.arange(n_out)
    s = ft(1.0 / scale) if scale else ft(n_in) / ft(n_out)
    if exact:
        real = hx.maximum((hx.float64(s) * (o + 0.5) - 0.5).astype(ft), 0)
        src = (real.astype(hx.float64) + 0.5).astype(hx.float32)
    else:
        src = (s * o.astype(ft)).astype(hx.float32)
    return hx.minimum(hx.floor(src).astype(hx.int64), n_in - 1)[None], None


def _linear(hx, n_in, n_out, scale, align_corners):
    """Two taps: src = r*o (align_corners) or max(r*(o + 0.5) - 0.5, 0); i0 = floor(src)
    (clamped to the last input), i1 = i0 + 1 (clamped), weights 1 - l and l with
    l = src - i0 in [0, 1] (PyTorch's guard_index_and_lambda)."""
    if n_out == n_in:   # PyTorch copies at equal sizes, whatever the scale
        return hx.arange(n_out)[None], None
    o = hx.arange(n_out, dtype=hx.float64)
    r = _ratio(n_in, n_out, scale, align_corners)
    src = r * o if align_corners else hx.maximum(r * (o + 0.5) - 0.5, 0.0)
    i0 = hx.minimum(hx.floor(src.astype(hx.float32)).astype(hx.int64), n_in - 1)
    lam = hx.clip(src - i0, 0.0, 1.0)
    i1 = i0 + (i0 < n_in - 1)
    return hx.stack([i0, i1]), hx.stack([1.0 - lam, lam])


def _cubic(hx, n_in, n_out, scale, align_corners):
    """Four taps i-1..i+2 (clamped to the border) around i = floor(src), src as in linear
    but unclamped, with Keys' cubic convolution weights at t = src - i:
    w(d) = (A+2)|d|^3 - (A+3)|d|^2 + 1 for |d| <= 1, A|d|^3 - 5A|d|^2 + 8A|d| - 4A for
    1 < |d| < 2 (A = -0.75), written as PyTorch's get_cubic_upsample_coefficients."""
    o = hx.arange(n_out, dtype=hx.float64)
    r = _ratio(n_in, n_out, scale, align_corners)
    src = r * o if align_corners else r * (o + 0.5) - 0.5
    i = hx.minimum(hx.floor(src.astype(hx.float32)).astype(hx.int64), n_in - 1)
    t = hx.clip(src - i, 0.0, 1.0)
    a = CUBIC_A

    def near(d):   # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):    # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    w = hx.stack([far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)])
    idx = hx.clip(i[None] + hx.arange(-1, 3)[:, None], 0, n_in - 1)
    return idx, w


def _area(hx, n_in, n_out):
    """Adaptive average pooling's windows [floor(o*n_in/n_out), ceil((o+1)*n_in/n_out)),
    weight 1/length each; shorter windows are padded with index n_in (a zero slice)."""
    o = hx.arange(n_out)
    start = (o * n_in) // n_out
    end = -((-(o + 1) * n_in) // n_out)
    k = int((end - start).max()) if n_out else 1
    idx = start[None] + hx.arange(k)[:, None]
    inside = idx < end
    w = hx.where(inside, 1.0 / (end - start), 0.0)
    return hx.where(inside, idx, n_in), w


@functools.lru_cache(maxsize=512)
def host_plan(plan):
    """(I, W, padded) for ``plan`` = (kind, n_in, n_out, scale, align_corners, single):
    I (taps, n_out) int64, W float64 of the same shape or None (all ones), ``padded`` when
    some index is n_in (reads an appended zero)."""
    kind, n_in, n_out, scale, align, single = plan
    hx = backend.xp   # host arrays: a plan is small metadata, moved to the device per call
    if kind in ("nearest", "nearest-exact"):
        idx, w = _nearest(hx, n_in, n_out, scale, single, kind == "nearest-exact")
    elif kind == "linear":
        idx, w = _linear(hx, n_in, n_out, scale, align)
    elif kind == "cubic":
        idx, w = _cubic(hx, n_in, n_out, scale, align)
    else:
        idx, w = _area(hx, n_in, n_out)
    return _frozen(idx, w, bool((idx == n_in).any()))


@functools.lru_cache(maxsize=512)
def host_transposed(plan):
    """(I, W, padded) of M^T: for each input position, the outputs that read it and their
    weights (a repeated (output, input) pair merged into one entry, zero weights left
    out), padded with index n_out (a zero) where an input is read by fewer outputs than
    the most-read one."""
    hx = backend.xp
    n_in, n_out = plan[1], plan[2]
    idx, w, _ = host_plan(plan)
    # entries with weight 0 (linear at an exact sample point) are dropped: fewer taps
    keep = (idx < n_in) if w is None else (idx < n_in) & (w != 0)
    rows = hx.broadcast_to(hx.arange(n_out), idx.shape)[keep]
    vals = (hx.ones(idx.shape) if w is None else w)[keep]
    cols = idx[keep]
    keys, inv = hx.unique(cols * n_out + rows, return_inverse=True)   # sorted by column
    vals = hx.bincount(inv.ravel(), weights=vals, minlength=len(keys))
    cols, rows = keys // n_out, keys % n_out
    counts = hx.bincount(cols, minlength=n_in)
    m = int(counts.max()) if counts.size else 0
    rank = hx.arange(len(keys)) - (hx.cumsum(counts) - counts)[cols]
    t_idx = hx.full((m, n_in), n_out, dtype=hx.int64)
    t_w = hx.zeros((m, n_in))
    t_idx[rank, cols] = rows
    t_w[rank, cols] = vals
    return _frozen(t_idx, None if w is None else t_w, bool((counts < m).any()))


def _frozen(idx, w, padded):
    idx.flags.writeable = False   # cached: shared by every call
    if w is not None:
        w.flags.writeable = False
    return idx, w, padded


@functools.lru_cache(maxsize=512)
def is_identity(plan):
    """Whether ``plan`` maps each position to itself (the op can be skipped)."""
    idx, w, _ = host_plan(plan)
    return (plan[1] == plan[2] and idx.shape[0] == 1 and (w is None or bool((w == 1).all()))
            and bool((idx[0] == backend.xp.arange(plan[2])).all()))


def _gather_sum(xp, x, axis, idx, w, padded):
    """sum_s W[s] * x.take(I[s], axis) (W broadcast along the dims after ``axis``, a
    negative dim); a padded plan reads a zero slice appended at position size."""
    if padded:
        shape = list(x.shape)
        shape[axis] = 1
        x = xp.concatenate([x, xp.zeros(shape, x.dtype)], axis=axis)
    tail = (1,) * (-axis - 1)
    taps, rows = idx.shape
    if taps == 0:   # nothing reads this input (an empty output): its gradient is zero
        shape = list(x.shape)
        shape[axis] = rows
        return xp.zeros(shape, x.dtype)
    if w is not None:
        w = w.astype(x.dtype, copy=False)
    out = None
    for s in range(taps):
        v = xp.take(x, idx[s], axis=axis)
        if w is not None:
            v *= w[s].reshape((rows,) + tail)
        out = v if out is None else xp.add(out, v, out=out)
    return out


@primitive("resample", public=False)
class Resample(Function):
    """y = M x along dim ``axis`` (negative, counted from the end): y[.., o, ..] =
    sum_s W[s, o] x[.., I[s, o], ..] with (I, W) = host_plan(plan), or M^T x when
    ``transpose``. Linear: dy/dx^T g = M^T g (this op transposed), JVP = M t.
    Primitive for speed: a few gathers per call (no scatter), one node per dim."""

    @staticmethod
    def forward(ctx, x, axis, plan, transpose):
        idx, w, padded = host_transposed(plan) if transpose else host_plan(plan)
        if type(x) is not backend.ndarray:
            dev = backend.device_of(x)
            idx = backend.to_device(idx, dev)
            w = None if w is None else backend.to_device(w, dev)
        return _gather_sum(ctx.xp, x, axis, idx, w, padded)

    @staticmethod
    def vjp(ctx, g):
        p = ctx.params
        return Resample.apply(g, axis=p["axis"], plan=p["plan"], transpose=not p["transpose"])

    jvp = linear_jvp


def resample(x, plans):
    """x resampled along its last len(plans) dims, plans[i] for dim i - len(plans); dims
    whose plan is the identity are skipped (a copy when all are)."""
    out = x
    for i, plan in enumerate(plans):
        if not is_identity(plan):
            out = Resample.apply(out, axis=i - len(plans), plan=plan, transpose=False)
    return out.clone() if out is x else out
