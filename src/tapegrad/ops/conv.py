"""Convolutions as strided views + one GEMM per group (im2col); their transposes for backward.

Three primitives form a closed family. With T(x, w, g) = <conv(x, w), g> (trilinear):
  conv(x, w)          = dT/dg   (Conv2d)
  input_grad(g, w)    = dT/dx   (ConvInputGrad; this is also conv_transpose2d)
  weight_grad(x, g)   = dT/dw   (ConvWeightGrad)
so each one's VJP is made of the other two, and gradients of every order stay convolutions.

Internally the columns are laid out (groups, Cg*kh*kw, N*Ho*Wo): one GEMM per group, and
the output is returned as an (N, C, H, W) view of a channel-major (C, N, H, W) buffer (no
transposing copy; every later op reads it through its strides).
conv1d is conv2d with a unit height.
"""
from .. import backend
from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite
from ..core.tensor import Tensor
from ._util import Sample, pair, pad_hw
from .reduce import sum
from .shape import reshape, unsqueeze, squeeze


# -- array helpers --------------------------------------------------------------------------
def _out_hw(hp, wp, kh, kw, stride, dilation):
    return ((hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1,
            (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1)


def _cols(x, kh, kw, stride, pad, dilation, groups):
    """im2col: (G, Cg*kh*kw, N*Ho*Wo) columns of x, one copy of a strided view. The long
    output-pixel axis is innermost, so the copy moves whole rows, not 3-element runs."""
    xpd = pad_hw(x, pad)
    n, c, hp, wp = xpd.shape
    ho, wo = _out_hw(hp, wp, kh, kw, stride, dilation)
    cg = c // groups
    sn, sc, sh, sw = xpd.strides
    v = backend.as_strided(xpd, (groups, cg, kh, kw, n, ho, wo),
                           (cg * sc, sc, sh * dilation[0], sw * dilation[1], sn,
                            sh * stride[0], sw * stride[1]))
    if type(v) is backend.ndarray:   # the copy, over the cores (by image)
        v = backend.threads.copy(backend.xp.empty(v.shape, v.dtype), v, axis=4)
    return v.reshape(groups, cg * kh * kw, n * ho * wo), ho, wo


_BLOCK = 4096  # GEMM column block: OpenBLAS is 2-3x slower on one very wide, skinny product


# ``xp`` below is the forward's ctx.xp. The column blocking is for the CPU's caches; on a
# GPU each block would be one more kernel launch, so there the products are one call.
def _mm(xp, a, b):
    """a (G, M, K) @ b (G, K, L), per group; in column blocks of b when K is small (cache
    blocking pays there, e.g. 3x3 kernels on one input channel, and costs elsewhere)."""
    if a.dtype in backend.HALF and xp is backend.xp:   # no 16-bit GEMM in NumPy
        return backend.half_product(lambda a, b: _mm(xp, a, b), a, b)
    if a.shape[2] > 12 or xp is not backend.xp:
        if a.shape[0] == 1:
            return backend.matmul(a[0], b[0])[None]
        return xp.matmul(a, b)
    out = xp.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=xp.result_type(a, b))
    for gi in range(a.shape[0]):
        for i in range(0, b.shape[2], _BLOCK):
            backend.matmul(a[gi], b[gi, :, i:i + _BLOCK], out=out[gi, :, i:i + _BLOCK])
    return out


def _mm_nt(xp, a, b):
    """a (G, M, L) @ b (G, N, L)^T, per group, summed over column blocks of L."""
    if a.dtype in backend.HALF and xp is backend.xp:
        return backend.half_product(lambda a, b: _mm_nt(xp, a, b), a, b)
    if xp is not backend.xp:
        return xp.matmul(a, b.transpose(0, 2, 1))
    out = xp.zeros((a.shape[0], a.shape[1], b.shape[1]), dtype=xp.result_type(a, b))
    for gi in range(a.shape[0]):
        for i in range(0, a.shape[2], _BLOCK):
            out[gi] += backend.matmul(a[gi, :, i:i + _BLOCK], b[gi, :, i:i + _BLOCK].T)
    return out


def _gmat(g, groups):
    """(N, O, Ho, Wo) -> (G, Og, N*Ho*Wo): free when g is a channel-major buffer (as conv
    returns), else one copy with contiguous rows."""
    n, o, ho, wo = g.shape
    return g.transpose(1, 0, 2, 3).reshape(groups, o // groups, n * ho * wo)


def _conv_fwd(xp, x, w, b, stride, pad, dilation, groups):
    """One GEMM per group, W (Og, K) @ cols (K, N*L); the result is returned as an
    (N, O, Ho, Wo) view of the channel-major (O, N, Ho, Wo) buffer."""
    o, cg, kh, kw = w.shape
    cols, ho, wo = _cols(x, kh, kw, stride, pad, dilation, groups)
    y = _mm(xp, w.reshape(groups, o // groups, cg * kh * kw), cols)    # (G, Og, N*L)
    if b is not None:
        y += b.reshape(groups, o // groups, 1)
    return y.reshape(o, x.shape[0], ho, wo).transpose(1, 0, 2, 3), cols


def _conv_input_grad(xp, g, w, x_shape, stride, pad, dilation, groups):
    """col2im of W^T @ g, into a channel-major (C, N, Hp, Wp) buffer, one slice-add per
    kernel offset. With stride 1 the columns are computed on the whole padded grid
    (g zero-filled to (Hp, Wp)), so each offset's add is ONE contiguous run per channel,
    shifted by a*dh*Wp + b*dw; the zero columns add nothing and no window crosses into
    the next image's plane. (On a GPU the general path: it launches far fewer kernels.)"""
    o, cg, kh, kw = w.shape
    n, c, h, wd = x_shape
    (pt, pb), (pl, pr) = pad
    hp, wp = h + pt + pb, wd + pl + pr
    ho, wo = g.shape[2:]
    wm = w.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1)
    dh, dw = dilation
    if stride == (1, 1) and xp is backend.xp:
        plane = hp * wp
        run = n * plane
        gp = xp.zeros((groups, o // groups, run), dtype=g.dtype)
        gp.reshape(o, n, hp, wp)[:, :, :ho, :wo] = g.transpose(1, 0, 2, 3)
        flat = xp.zeros((groups, cg, run + (kh - 1) * dh * wp + (kw - 1) * dw), dtype=g.dtype)
        tmp = xp.empty((cg * kh * kw, min(run, _BLOCK)), dtype=g.dtype)
        for gi in range(groups):  # column blocks: the block of columns stays in cache
            for i in range(0, run, _BLOCK):  # while its kh*kw shifted adds consume it
                blk = tmp[:, :min(_BLOCK, run - i)]
                backend.matmul(wm[gi], gp[gi, :, i:i + _BLOCK], out=blk)
                cols = blk.reshape(cg, kh, kw, -1)
                for a in range(kh):
                    for bb in range(kw):
                        off = i + a * dh * wp + bb * dw
                        flat[gi, :, off:off + blk.shape[1]] += cols[:, a, bb]
        out = flat[:, :, :run].reshape(c, n, hp, wp)
    else:
        dcols = _mm(xp, wm, _gmat(g, groups)).reshape(c, kh, kw, n, ho, wo)
        out = xp.zeros((c, n, hp, wp), dtype=dcols.dtype)
        sh, sw = stride
        for a in range(kh):
            ha = a * dh
            for bb in range(kw):
                wb = bb * dw
                out[:, :, ha:ha + sh * (ho - 1) + 1:sh, wb:wb + sw * (wo - 1) + 1:sw] += \
                    dcols[:, a, bb]
    return out.transpose(1, 0, 2, 3)[:, :, pt:pt + h, pl:pl + wd]


def _conv_weight_grad(xp, x, g, w_shape, stride, pad, dilation, groups, cols=None):
    o, cg, kh, kw = w_shape
    if cols is None:
        cols = _cols(x, kh, kw, stride, pad, dilation, groups)[0]
    gw_t = _mm_nt(xp, cols, _gmat(g, groups))                          # (G, K, Og)
    return gw_t.transpose(0, 2, 1).reshape(o, cg, kh, kw)


# -- the primitives -------------------------------------------------------------------------
def _conv_out(x_shape, w_shape, geo):
    """The (height, width) a convolution of an x_shape input gives."""
    (pt, pb), (pl, pr) = geo["pad"]
    (sh, sw), (dh, dw) = geo["stride"], geo["dilation"]
    kh, kw = w_shape[2:]
    return ((x_shape[2] + pt + pb - dh * (kh - 1) - 1) // sh + 1,
            (x_shape[3] + pl + pr - dw * (kw - 1) - 1) // sw + 1)


def _pad(x, widths):
    from .pad import pad
    return pad(x, widths)


def _geom(ctx):
    p = ctx.params
    return {"stride": p["stride"], "pad": p["pad"], "dilation": p["dilation"],
            "groups": p["groups"]}


@primitive("conv2d_op", public=False)
class Conv2d(Function):
    """y[n,o] = sum_{c,i,j} w[o,c,i,j] * xpad[n, c, s*h + d*i, s*w + d*j] (+ b[o]);
    dy/dx = input_grad(g, w) (a transposed convolution), dy/dw = weight_grad(x, g) (a
    correlation of x with g), dy/db = sum of g over n, h, w."""

    array_vjp = True
    save_inputs = True

    @staticmethod
    def forward(ctx, x, w, b, stride, pad, dilation, groups):
        y, cols = _conv_fwd(ctx.xp, x, w, b, stride, pad, dilation, groups)
        if ctx.recording:
            ctx.cols = cols  # the weight gradient reuses the columns
        return y

    @staticmethod
    def vjp(ctx, g):
        x, w, b = ctx.inputs
        nx, nw, nb = ctx.needs_input_grad
        geo = _geom(ctx)
        gx = ConvInputGrad.apply(g, w, x_shape=x.shape, **geo) if nx else None
        gw = ConvWeightGrad.apply(x, g, w_shape=w.shape, cols=ctx.cols, **geo) if nw else None
        gb = sum(g, dim=(0, 2, 3)) if nb else None
        return gx, gw, gb

    @staticmethod
    def jvp(ctx, tx, tw, tb):
        x, w, b = ctx.inputs
        geo = _geom(ctx)
        out = None if tx is None else Conv2d.apply(tx, w, None, **geo)
        if tw is not None:
            d = Conv2d.apply(x, tw, None, **geo)
            out = d if out is None else out + d
        if tb is not None:
            d = reshape(tb, (1, -1, 1, 1))
            out = d if out is None else out + d
        return out


@primitive("conv2d_input_grad", public=False)
class ConvInputGrad(Function):
    """u = dT/dx = input_grad(g, w): the transposed convolution (col2im of g @ w).
    Bilinear: du/dg^T v = conv(v, w), du/dw^T v = weight_grad(v, g)."""

    save_inputs = True

    @staticmethod
    def forward(ctx, g, w, x_shape, stride, pad, dilation, groups):
        return _conv_input_grad(ctx.xp, g, w, x_shape, stride, pad, dilation, groups)

    @staticmethod
    def vjp(ctx, v):
        g, w = ctx.inputs
        ng, nw = ctx.needs_input_grad
        geo = _geom(ctx)
        # an output_padding of stride or more (allowed when below the dilation) makes u one
        # position longer than g's convolution covers: conv(v) has those extra positions
        # (cropped) and g is taken as zero there (padded)
        extra = _conv_out(v.shape, w.shape, geo)
        extra = (extra[0] - g.shape[2], extra[1] - g.shape[3])
        gg = gw = None
        if ng:
            gg = Conv2d.apply(v, w, None, **geo)
            if extra != (0, 0):
                gg = gg[:, :, :g.shape[2], :g.shape[3]]
        if nw:
            gw = ConvWeightGrad.apply(v, g if extra == (0, 0) else
                                      _pad(g, (0, extra[1], 0, extra[0])),
                                      w_shape=w.shape, **geo)
        return gg, gw

    @staticmethod
    def jvp(ctx, tg, tw):
        g, w = ctx.inputs
        p = ctx.params
        geo = _geom(ctx)
        out = None if tg is None else ConvInputGrad.apply(tg, w, x_shape=p["x_shape"], **geo)
        if tw is not None:
            d = ConvInputGrad.apply(g, tw, x_shape=p["x_shape"], **geo)
            out = d if out is None else out + d
        return out


@primitive("conv2d_weight_grad", public=False)
class ConvWeightGrad(Function):
    """v = dT/dw = weight_grad(x, g): sum over n, h, w of g times x's columns.
    Bilinear: dv/dx^T u = input_grad(g, u), dv/dg^T u = conv(x, u)."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x, g, w_shape, stride, pad, dilation, groups, cols=None):
        return _conv_weight_grad(ctx.xp, x, g, w_shape, stride, pad, dilation, groups, cols)

    @staticmethod
    def vjp(ctx, u):
        x, g = ctx.inputs
        nx, ng = ctx.needs_input_grad
        geo = _geom(ctx)
        gx = ConvInputGrad.apply(g, u, x_shape=x.shape, **geo) if nx else None
        gg = Conv2d.apply(x, u, None, **geo) if ng else None
        return gx, gg

    @staticmethod
    def jvp(ctx, tx, tg):
        x, g = ctx.inputs
        p = ctx.params
        geo = _geom(ctx)
        out = None if tx is None else ConvWeightGrad.apply(tx, g, w_shape=p["w_shape"], **geo)
        if tg is not None:
            d = ConvWeightGrad.apply(x, tg, w_shape=p["w_shape"], **geo)
            out = d if out is None else out + d
        return out


# -- public ops -----------------------------------------------------------------------------


def _check(op, x, w, b, groups, nd=2):
    for t in (x, w):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected tensors, got {type(t).__name__}")
    if w.ndim != nd + 2:
        raise ShapeError(f"{op}: expected a {nd + 2}-d weight, got shape {list(w.shape)}")
    if x.ndim != nd + 2:
        raise ShapeError(f"{op}: expected a {nd + 1}-d (unbatched) or {nd + 2}-d (batched) "
                         f"input, got shape {list(x.shape)}")
    dts = [t.dtype for t in (x, w, b) if isinstance(t, Tensor)]
    if any(d != dts[0] for d in dts) or not backend.is_floating(dts[0]):
        raise RuntimeError(f"{op}: input, weight and bias must have the same floating dtype, "
                           f"got {', '.join(str(d) for d in dts)}")
    if groups < 1 or x.shape[1] % groups or w.shape[0] % groups:
        raise ShapeError(f"{op}: groups={groups} must divide the input channels "
                         f"({x.shape[1]}) and the output channels ({w.shape[0]})")


def _conv2d(op, x, w, b, stride, padding, dilation, groups):
    stride = pair(stride, op, "stride")
    dilation = pair(dilation, op, "dilation")
    kh, kw = w.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pad = ((0, 0), (0, 0))
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions")
            th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
            pad = ((th // 2, th - th // 2), (tw // 2, tw - tw // 2))
        else:
            raise ValueError(f"{op}: invalid padding string '{padding}' (use 'same' or 'valid')")
    else:
        ph, pw = pair(padding, op, "padding")
        pad = ((ph, ph), (pw, pw))
    if x.shape[1] != w.shape[1] * groups:
        raise ShapeError(f"{op}: given groups={groups}, weight of size {list(w.shape)}, "
                         f"expected input{list(x.shape)} to have {w.shape[1] * groups} "
                         f"channels, but got {x.shape[1]} channels instead")
    hp, wp = x.shape[2] + pad[0][0] + pad[0][1], x.shape[3] + pad[1][0] + pad[1][1]
    if hp < dilation[0] * (kh - 1) + 1 or wp < dilation[1] * (kw - 1) + 1:
        raise ShapeError(f"{op}: kernel size can't be greater than actual input size "
                         f"(padded input {hp}x{wp}, dilated kernel "
                         f"{dilation[0] * (kh - 1) + 1}x{dilation[1] * (kw - 1) + 1})")
    if b is not None and tuple(b.shape) != (w.shape[0],):
        raise ShapeError(f"{op}: bias should have shape [{w.shape[0]}], got {list(b.shape)}")
    return Conv2d.apply(x, w, b, stride=stride, pad=pad, dilation=dilation, groups=groups)


def _conv2d_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 2, 4, 4)), r((3, 2, 2, 2)), r((3,))]),
            Sample([r((1, 2, 5, 5)), r((2, 2, 3, 3))], {"stride": 2, "padding": 1},
                   name="stride pad"),
            Sample([r((1, 1, 5, 5)), r((2, 1, 2, 2))], {"dilation": 2, "padding": "same"},
                   name="dilation same"),
            Sample([r((1, 4, 3, 3)), r((4, 2, 2, 2)), r((4,))], {"groups": 2}, name="groups"),
            Sample([r((2, 3, 3)), r((2, 2, 2, 2))], name="unbatched"),
            Sample([r((1, 1, 3, 4)), r((1, 1, 2, 3))], {"stride": (1, 2), "padding": (0, 1)},
                   name="asymmetric"),
            Sample([r((0, 2, 3, 3)), r((2, 2, 2, 2)), r((2,))], name="empty batch")]


@composite("conv2d", samples=_conv2d_samples)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d cross-correlation of (N, C, H, W) input with (O, C/groups, kh, kw) weight:
    stride, padding (int, pair, 'same' or 'valid'), dilation, groups; bias (O,)."""
    unbatched = isinstance(input, Tensor) and input.ndim == 3
    if unbatched:
        input = unsqueeze(input, 0)
    _check("conv2d", input, weight, bias, groups)
    out = _conv2d("conv2d", input, weight, bias, stride, padding, dilation, groups)
    return squeeze(out, 0) if unbatched else out


def _conv1d_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 2, 5)), r((3, 2, 2)), r((3,))]),
            Sample([r((1, 2, 6)), r((2, 1, 3))], {"stride": 2, "padding": 1, "groups": 2},
                   name="stride pad groups"),
            Sample([r((1, 1, 5)), r((1, 1, 2))], {"dilation": 2, "padding": "same"},
                   name="dilation same")]


@composite("conv1d", samples=_conv1d_samples)
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d cross-correlation of (N, C, L) input with (O, C/groups, k) weight (conv2d with a
    unit height)."""
    unbatched = isinstance(input, Tensor) and input.ndim == 2
    if unbatched:
        input = unsqueeze(input, 0)
    _check("conv1d", input, weight, bias, groups, nd=1)

    def one(v):
        return v if isinstance(v, str) else (1, v if isinstance(v, int) else tuple(v)[0])
    out = _conv2d("conv1d", unsqueeze(input, 2), unsqueeze(weight, 2), bias, one(stride),
                  padding if isinstance(padding, str) else (0, one(padding)[1]),
                  one(dilation), groups)
    out = squeeze(out, 2)
    return squeeze(out, 0) if unbatched else out


def _convt_samples(rng):
    r = rng.standard_normal
    return [Sample([r((1, 2, 3, 3)), r((2, 3, 2, 2)), r((3,))]),
            Sample([r((1, 2, 3, 3)), r((2, 1, 3, 3))],
                   {"stride": 2, "padding": 1, "output_padding": 1}, name="stride pad outpad"),
            Sample([r((1, 4, 2, 2)), r((4, 1, 2, 2))], {"groups": 2, "dilation": 2},
                   name="groups dilation")]


@composite("conv_transpose2d", samples=_convt_samples)
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """Transposed 2-d convolution (the gradient of conv2d w.r.t. its input): (N, Cin, H, W)
    input, (Cin, Cout/groups, kh, kw) weight; H_out = (H-1)*s - 2p + d*(k-1) + op + 1."""
    unbatched = isinstance(input, Tensor) and input.ndim == 3
    if unbatched:
        input = unsqueeze(input, 0)
    _check("conv_transpose2d", input, weight, bias, groups)
    if input.shape[1] != weight.shape[0]:
        raise ShapeError(f"conv_transpose2d: weight of size {list(weight.shape)} expects "
                         f"{weight.shape[0]} input channels, but input{list(input.shape)} "
                         f"has {input.shape[1]}")
    stride = pair(stride, "conv_transpose2d", "stride")
    dilation = pair(dilation, "conv_transpose2d", "dilation")
    ph, pw = pair(padding, "conv_transpose2d", "padding")
    oph, opw = pair(output_padding, "conv_transpose2d", "output_padding")
    for o, s, d in zip((oph, opw), stride, dilation):
        if o >= s and o >= d:
            raise ValueError(f"conv_transpose2d: output_padding {(oph, opw)} must be smaller "
                             f"than either stride {stride} or dilation {dilation}")
    n, _, h, w = input.shape
    kh, kw = weight.shape[2:]
    ho = (h - 1) * stride[0] - 2 * ph + dilation[0] * (kh - 1) + oph + 1
    wo = (w - 1) * stride[1] - 2 * pw + dilation[1] * (kw - 1) + opw + 1
    if ho <= 0 or wo <= 0:
        raise ShapeError(f"conv_transpose2d: output size {ho}x{wo} is too small")
    x_shape = (n, weight.shape[1] * groups, ho, wo)
    out = ConvInputGrad.apply(input, weight, x_shape=x_shape, stride=stride,
                              pad=((ph, ph), (pw, pw)), dilation=dilation, groups=groups)
    if bias is not None:
        out = out + reshape(bias, (1, -1, 1, 1))
    return squeeze(out, 0) if unbatched else out
