"""Pooling: max/avg pooling as strided views, adaptive average pooling.

Max pooling sends each window's gradient to ONE element, the first maximum in the window
(row-major), exactly like PyTorch, so ``return_indices`` matches PyTorch's indices. Its
backward is a scatter to those indices and the scatter's backward a gather (a closed,
linear pair), so gradients of every order work. Average pooling is a window sum (and its
transpose) times a constant divisor map. 1-d pooling is 2-d pooling with a unit height.
"""
from .. import backend
from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite, linear_jvp
from ..core.tensor import Tensor, _make
from ._util import Sample, pair, pad_hw, xp_of
from .shape import unsqueeze, squeeze


# -- geometry -------------------------------------------------------------------------------


def _out_len(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length (a ceil-mode window must start inside input + pad)."""
    eff = d * (k - 1) + 1
    out = (n + 2 * p - eff + ((s - 1) if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _geometry(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    k = pair(kernel_size, op, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        pair(stride, op, "stride")
    p = pair(padding, op, "padding")
    d = pair(dilation, op, "dilation")
    if min(k) <= 0 or min(s) <= 0 or min(d) <= 0 or min(p) < 0:
        raise ValueError(f"{op}: kernel_size {k}, stride {s} and dilation {d} must be positive "
                         f"and padding {p} non-negative")
    for i in range(2):
        if p[i] > (d[i] * (k[i] - 1) + 1) // 2:
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, "
                               f"but got pad={p[i]}, kernel_size={k[i]} and dilation={d[i]}")
    h, w = x.shape[2:]
    ho = _out_len(h, k[0], s[0], p[0], d[0], ceil_mode)
    wo = _out_len(w, k[1], s[1], p[1], d[1], ceil_mode)
    if ho <= 0 or wo <= 0:
        raise ShapeError(f"{op}: given input size {list(x.shape[1:])}, the calculated output "
                         f"size {[x.shape[1], ho, wo]} is too small")
    # extra padding at the end so the last (ceil-mode) window lies inside the buffer
    ph2 = max(0, (ho - 1) * s[0] + d[0] * (k[0] - 1) + 1 - h - p[0])
    pw2 = max(0, (wo - 1) * s[1] + d[1] * (k[1] - 1) + 1 - w - p[1])
    return {"kernel": k, "stride": s, "pad": ((p[0], ph2), (p[1], pw2)), "dilation": d,
            "out": (ho, wo)}


def _windows(xpd, geo):
    """(N, C, Ho, Wo, kh, kw) strided view of the padded input (only read: windows overlap)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = geo["kernel"], geo["stride"], geo["dilation"], \
        geo["out"]
    n, c = xpd.shape[:2]
    s0, s1, s2, s3 = xpd.strides
    return backend.as_strided(xpd, (n, c, ho, wo, kh, kw),
                              (s0, s1, s2 * sh, s3 * sw, s2 * dh, s3 * dw))


def _window_add(xp, g, x_shape, geo):
    """The transpose of the window view: add g (N, C, Ho, Wo) into every window position."""
    n, c, h, w = x_shape
    (pt, pb), (pl, pr) = geo["pad"]
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = geo["kernel"], geo["stride"], geo["dilation"], \
        geo["out"]
    out = xp.zeros((n, c, h + pt + pb, w + pl + pr), dtype=g.dtype)
    for a in range(kh):
        for b in range(kw):
            out[:, :, a * dh:a * dh + sh * (ho - 1) + 1:sh,
                b * dw:b * dw + sw * (wo - 1) + 1:sw] += g
    return out[:, :, pt:pt + h, pl:pl + w]


# -- max pooling ----------------------------------------------------------------------------
def _offsets(geo):
    """The kernel offsets j = a*kw + b as slices of the padded input: window (i, k) of
    offset j is xpad[..., a*dh + i*sh, b*dw + k*sw]."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = geo["kernel"], geo["stride"], geo["dilation"], \
        geo["out"]
    return [(slice(a * dh, a * dh + sh * (ho - 1) + 1, sh),
             slice(b * dw, b * dw + sw * (wo - 1) + 1, sw)) for a in range(kh) for b in range(kw)]


def _channel_major(x):
    """True for the (C, N, H, W)-in-memory layout convolutions return."""
    return x.ndim == 4 and x.shape[0] > 1 and x.shape[1] > 1 and x.strides[1] > x.strides[0]


def _like(x, a):
    """``a`` copied into ``x``'s memory layout."""
    out = backend.xp.empty_like(x, dtype=a.dtype)
    out[...] = a
    return out


def _arg_dtype(kk):
    return backend.int8 if kk < 128 else backend.int32


def _max_forward(xp, x, geo, want_arg=True):
    """Window maxima and, per window, the offset of its first maximum (PyTorch's rule for
    ties; a window holding NaN gives NaN, its gradient going to one of its elements).
    One pass per kernel offset over output-sized arrays: no window copy, no argmax."""
    fill = -xp.inf if backend.is_floating(x.dtype) else xp.iinfo(x.dtype).min
    xpd = pad_hw(x, geo["pad"], fill)
    offs = _offsets(geo)
    # each offset's strided view is copied into one reused contiguous buffer: a strided copy
    # is far cheaper than strided arithmetic, and one buffer avoids fresh pages per offset
    a0, b0 = offs[0]
    best = xpd[:, :, a0, b0].copy(order="K")   # keeps x's memory layout
    # every buffer in best's layout: NumPy's loops over arrays of mixed layouts (e.g. a
    # channel-major best with an image-major arg) take ~1.5x as long
    arg = xp.zeros_like(best, dtype=_arg_dtype(len(offs))) if want_arg else None
    if len(offs) > 1:
        p = xp.empty_like(best)
        gt = xp.empty_like(best, dtype=bool)
        step = xp.empty_like(arg) if want_arg else None
    for j, (sa, sb) in enumerate(offs[1:], 1):
        xp.copyto(p, xpd[:, :, sa, sb])
        if want_arg:  # a later offset wins only if strictly greater: the first max is kept
            xp.greater(p, best, out=gt)
            # arg < j so far, so arg = max(arg, j * gt) sets j where gt: int8 arithmetic
            # (np.where and masked stores are ~10x slower)
            xp.multiply(gt.view(step.dtype) if step.dtype.itemsize == 1 else gt,
                        step.dtype.type(j), out=step)
            xp.maximum(arg, step, out=arg)
        xp.maximum(best, p, out=best)
    return best, arg


def _plane_indices(xp, arg, x_shape, geo):
    """PyTorch's return_indices: each maximum's flat index in its (H*W) plane."""
    kw = geo["kernel"][1]
    (sh, sw), (dh, dw) = geo["stride"], geo["dilation"]
    ho, wo = geo["out"]
    a = arg.astype(backend.int64)
    hi = (xp.arange(ho) * sh - geo["pad"][0][0])[:, None] + (a // kw) * dh
    wi = (xp.arange(wo) * sw - geo["pad"][1][0]) + (a % kw) * dw
    return hi * x_shape[3] + wi


@primitive("max_pool2d_op", public=False)
class MaxPool2d(Function):
    """y = max over each window;  dy/dx = g at each window's first maximum, 0 elsewhere
    (one element per window, as PyTorch; ties are not split)."""

    array_vjp = True

    @staticmethod
    def forward(ctx, x, geo):
        y, arg = _max_forward(ctx.xp, x, geo, want_arg=ctx.recording)
        if ctx.recording:
            ctx.arg = arg
            ctx.x_shape = x.shape
            ctx.cmajor = _channel_major(x)
        return y

    @staticmethod
    def vjp(ctx, g):
        return PoolScatter.apply(g, arg=ctx.arg, geo=ctx.params["geo"], shape=ctx.x_shape,
                                 cmajor=ctx.cmajor)

    @staticmethod
    def jvp(ctx, t):
        return PoolGather.apply(t, arg=ctx.arg, geo=ctx.params["geo"], shape=ctx.x_shape)


@primitive("pool_scatter", public=False)
class PoolScatter(Function):
    """y = zeros(x_shape) with g[window] added at each window's selected offset ``arg``
    (the transpose of PoolGather). One masked copy (or add, if windows overlap) per offset."""

    @staticmethod
    def forward(ctx, g, arg, geo, shape, cmajor=False):
        xp = ctx.xp
        n, c, h, w = shape
        (pt, pb), (pl, pr) = geo["pad"]
        (kh, kw), (sh, sw), (dh, dw) = geo["kernel"], geo["stride"], geo["dilation"]
        disjoint = sh >= dh * (kh - 1) + 1 and sw >= dw * (kw - 1) + 1
        ho, wo = geo["out"]
        hp, wp = h + pt + pb, w + pl + pr
        # windows tiling the whole buffer write every cell exactly once: no zero-fill needed
        tiled = disjoint and (sh, sw) == (kh, kw) and (hp, wp) == (ho * kh, wo * kw)
        alloc = xp.empty if tiled else xp.zeros
        if cmajor:  # same memory layout as the pooled input, so later ops don't mix layouts
            out = alloc((c, n, hp, wp), dtype=g.dtype).transpose(1, 0, 2, 3)
        else:
            out = alloc((n, c, hp, wp), dtype=g.dtype)
        if xp is backend.xp and _channel_major(arg) != _channel_major(g):
            arg = _like(g, arg)   # one int8 copy, then every pass reads one layout
        for j, (sa, sb) in enumerate(_offsets(geo)):
            if disjoint:  # each cell is written by at most one window
                xp.multiply(g, arg == j, out=out[:, :, sa, sb])
            else:
                out[:, :, sa, sb] += g * (arg == j)
        return out[:, :, pt:pt + h, pl:pl + w]

    @staticmethod
    def vjp(ctx, u):
        p = ctx.params
        return PoolGather.apply(u, arg=p["arg"], geo=p["geo"], shape=p["shape"])

    jvp = linear_jvp


@primitive("pool_gather", public=False)
class PoolGather(Function):
    """y[window] = x at the window's selected offset ``arg`` (the transpose of PoolScatter)."""

    @staticmethod
    def forward(ctx, x, arg, geo, shape):
        xpd = pad_hw(x, geo["pad"], 0)
        out = ctx.xp.zeros(arg.shape, dtype=x.dtype)
        for j, (sa, sb) in enumerate(_offsets(geo)):
            out += xpd[:, :, sa, sb] * (arg == j)
        return out

    @staticmethod
    def vjp(ctx, u):
        p = ctx.params
        return PoolScatter.apply(u, arg=p["arg"], geo=p["geo"], shape=p["shape"])

    jvp = linear_jvp


def _batched(op, x, nd):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a tensor, got {type(x).__name__}")
    if x.ndim == nd + 1:
        return unsqueeze(x, 0), True
    if x.ndim != nd + 2:
        raise ShapeError(f"{op}: expected a {nd + 1}-d (unbatched) or {nd + 2}-d (batched) "
                         f"input, got shape {list(x.shape)}")
    return x, False


def _max_pool(op, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    geo = _geometry(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    if return_indices:
        return MaxPool2d.apply(x, geo=geo), MaxPoolIndices.apply(x, geo=geo)
    return MaxPool2d.apply(x, geo=geo)


@primitive("max_pool2d_indices", public=False)
class MaxPoolIndices(Function):
    """PyTorch's return_indices (a constant: no gradient). An op, not an array computed
    from x's values beside the ops, so tg.compile recomputes it on every call."""

    differentiable = False

    @staticmethod
    def forward(ctx, x, geo):
        _, arg = _max_forward(ctx.xp, x, geo)
        return _plane_indices(ctx.xp, arg, x.shape, geo)


def _maxpool_samples(rng):
    r = rng.standard_normal
    return [Sample([r((1, 2, 4, 4))], {"kernel_size": 2}),
            Sample([r((1, 1, 5, 5))], {"kernel_size": 3, "stride": 2, "padding": 1},
                   name="overlap pad"),
            Sample([r((1, 1, 5, 4))], {"kernel_size": 2, "dilation": 2, "ceil_mode": True},
                   name="dilation ceil"),
            Sample([r((2, 3, 3))], {"kernel_size": (2, 1), "stride": 1}, name="unbatched"),
            Sample([backend.asarray([[[[1.0, 1.0], [1.0, 1.0]]]])], {"kernel_size": 2},
                   name="ties", kink=True),
            Sample([r((0, 2, 4, 4))], {"kernel_size": 2}, name="empty batch")]


@composite("max_pool2d", samples=_maxpool_samples)
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Maximum over kh x kw windows of (N, C, H, W) input (padding counts as -inf).
    ``return_indices`` also gives each maximum's index in its (H*W) plane, as PyTorch."""
    x, unb = _batched("max_pool2d", input, 2)
    out = _max_pool("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode,
                    return_indices)
    if unb:
        out = tuple(squeeze(o, 0) for o in out) if return_indices else squeeze(out, 0)
    return out


def _maxpool1d_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 2, 6))], {"kernel_size": 2}),
            Sample([r((1, 2, 7))], {"kernel_size": 3, "stride": 2, "padding": 1,
                                    "ceil_mode": True}, name="pad ceil")]


def _one(v):
    if v is None:
        return None
    return (1, v) if isinstance(v, int) else (1, tuple(v)[0])


@composite("max_pool1d", samples=_maxpool1d_samples)
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Maximum over windows of (N, C, L) input (max_pool2d with a unit height)."""
    x, unb = _batched("max_pool1d", input, 1)
    if stride is not None and not isinstance(stride, int) and len(stride) == 0:
        stride = None
    out = _max_pool("max_pool1d", unsqueeze(x, 2), _one(kernel_size), _one(stride),
                    (0, _one(padding)[1]), _one(dilation), ceil_mode, return_indices)
    outs = out if return_indices else (out,)
    outs = tuple(squeeze(o, 2) for o in outs)
    if unb:
        outs = tuple(squeeze(o, 0) for o in outs)
    return outs if return_indices else outs[0]


# -- average pooling ------------------------------------------------------------------------
@primitive("sum_pool2d", public=False)
class SumPool2d(Function):
    """y = sum over each (zero-padded) window; linear, dy/dx^T g = g added back into every
    window position (SumPool2dT)."""

    @staticmethod
    def forward(ctx, x, geo):
        ctx.x_shape = x.shape
        return _windows(pad_hw(x, geo["pad"], 0), geo).sum(axis=(-2, -1))

    @staticmethod
    def vjp(ctx, g):
        return SumPool2dT.apply(g, geo=ctx.params["geo"], x_shape=ctx.x_shape)

    jvp = linear_jvp


@primitive("sum_pool2d_t", public=False)
class SumPool2dT(Function):
    """y = g added into every window position (the transpose of SumPool2d)."""

    @staticmethod
    def forward(ctx, g, geo, x_shape):
        return _window_add(ctx.xp, g, x_shape, geo)

    @staticmethod
    def vjp(ctx, u):
        return SumPool2d.apply(u, geo=ctx.params["geo"])

    jvp = linear_jvp


def _divisor(xp, n, k, s, p, out, include_pad):
    """Per-axis window sizes PyTorch divides by (the ceil-mode overhang never counts)."""
    start = xp.arange(out) * s - p
    end = xp.minimum(start + k, n + p)
    if include_pad:
        return end - start
    return xp.minimum(end, n) - xp.maximum(start, 0)


def _avg_pool(op, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    geo = _geometry(op, x, kernel_size, stride, padding, 1, ceil_mode)
    s = SumPool2d.apply(x, geo=geo)
    if divisor_override:
        return s / float(divisor_override)
    (kh, kw), (sh, sw) = geo["kernel"], geo["stride"]
    ph, pw = geo["pad"][0][0], geo["pad"][1][0]
    ho, wo = geo["out"]
    xp = xp_of(x)
    dh = _divisor(xp, x.shape[2], kh, sh, ph, ho, count_include_pad)
    dw = _divisor(xp, x.shape[3], kw, sw, pw, wo, count_include_pad)
    div = (dh[:, None] * dw[None, :]).astype(x.dtype)
    return s * _make(1 / div)


def _avgpool_samples(rng):
    r = rng.standard_normal
    return [Sample([r((1, 2, 4, 4))], {"kernel_size": 2}),
            Sample([r((1, 1, 5, 5))], {"kernel_size": 3, "stride": 2, "padding": 1,
                                       "count_include_pad": False}, name="pad exclude"),
            Sample([r((1, 1, 5, 4))], {"kernel_size": 2, "ceil_mode": True, "padding": 1},
                   name="ceil"),
            Sample([r((2, 3, 3))], {"kernel_size": 2, "stride": 1, "divisor_override": 3},
                   name="unbatched divisor"),
            Sample([r((0, 2, 4, 4))], {"kernel_size": 2}, name="empty batch")]


@composite("avg_pool2d", samples=_avgpool_samples)
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over kh x kw windows of (N, C, H, W) input; zero padding counts towards the
    divisor when ``count_include_pad`` (PyTorch's divisor rules, incl. ceil_mode)."""
    x, unb = _batched("avg_pool2d", input, 2)
    out = _avg_pool("avg_pool2d", x, kernel_size, stride, padding, ceil_mode,
                    count_include_pad, divisor_override)
    return squeeze(out, 0) if unb else out


def _avgpool1d_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 2, 6))], {"kernel_size": 2}),
            Sample([r((1, 2, 7))], {"kernel_size": 3, "stride": 2, "padding": 1,
                                    "ceil_mode": True, "count_include_pad": False},
                   name="pad ceil")]


@composite("avg_pool1d", samples=_avgpool1d_samples)
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over windows of (N, C, L) input (avg_pool2d with a unit height)."""
    x, unb = _batched("avg_pool1d", input, 1)
    if stride is not None and not isinstance(stride, int) and len(stride) == 0:
        stride = None
    out = _avg_pool("avg_pool1d", unsqueeze(x, 2), _one(kernel_size), _one(stride),
                    (0, _one(padding)[1]), ceil_mode, count_include_pad, None)
    out = squeeze(out, 2)
    return squeeze(out, 0) if unb else out


def _adaptive_matrix(xp, n, out, dtype):
    """(out, n) averaging matrix: row i averages [floor(i*n/out), ceil((i+1)*n/out))."""
    i = xp.arange(out)
    start = (i * n) // out
    end = -((-(i + 1) * n) // out)
    j = xp.arange(n)
    m = (j >= start[:, None]) & (j < end[:, None])
    return (m / (end - start)[:, None]).astype(dtype)


def _adaptive_samples(rng):
    r = rng.standard_normal
    return [Sample([r((1, 2, 5, 4))], {"output_size": (2, 3)}),
            Sample([r((2, 3, 3))], {"output_size": 1}, name="global unbatched"),
            Sample([r((1, 1, 4, 3))], {"output_size": (None, 2)}, name="None keeps")]


@composite("adaptive_avg_pool2d", samples=_adaptive_samples)
def adaptive_avg_pool2d(input, output_size):
    """Average over PyTorch's adaptive windows [floor(i*H/Ho), ceil((i+1)*H/Ho)); the
    windows are separable, so y = A_h @ x @ A_w^T with constant averaging matrices."""
    x, unb = _batched("adaptive_avg_pool2d", input, 2)
    ho, wo = (output_size, output_size) if isinstance(output_size, int) else output_size
    h, w = x.shape[2:]
    ho = h if ho is None else int(ho)
    wo = w if wo is None else int(wo)
    if ho <= 0 or wo <= 0:
        raise RuntimeError(f"adaptive_avg_pool2d: output size must be positive, got "
                           f"{(ho, wo)}")
    out = x
    xp = xp_of(x)
    if ho != h:
        out = _make(_adaptive_matrix(xp, h, ho, x.dtype)) @ out
    if wo != w:
        out = out @ _make(_adaptive_matrix(xp, w, wo, x.dtype).T)
    return squeeze(out, 0) if unb else out
