"""Rearranging spatial data: F.unfold / F.fold (im2col and col2im, any kernel, dilation,
padding and stride) and pixel_shuffle / pixel_unshuffle.

unfold and fold are linear and each other's transpose (<unfold(x), c> = <x, fold(c)>), so
two primitives, each the other's VJP, give gradients of every order. They register as
``nn.functional.unfold`` / ``nn.functional.fold`` (PyTorch's OpInfo names): ``unfold`` alone
is ``Tensor.unfold``, another op. The pixel shuffles are reshapes and a permute.
"""
from .. import backend
from ..core.errors import ShapeError
from ..core.function import Function
from ..core.registry import primitive, composite, linear_jvp
from ..core.tensor import Tensor
from ._util import Sample, pair, pad_hw
from .shape import reshape, permute, unsqueeze, squeeze


# -- im2col / col2im ------------------------------------------------------------------------
def _blocks(n, k, d, p, s):
    """Number of sliding blocks along one axis of size n (PyTorch's formula)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@primitive("im2col", public=False)
class Im2Col(Function):
    """cols[n, (c, i, j), (h, w)] = xpad[n, c, h*s0 + i*d0, w*s1 + j*d1]: every kh x kw
    block as a column. Primitive for speed: one copy of a strided view (a convolution with an
    identity kernel would do kh*kw times the work). Linear; dcols/dx^T g = col2im(g)."""

    @staticmethod
    def forward(ctx, x, kernel, dilation, padding, stride):
        (kh, kw), (dh, dw), (sh, sw) = kernel, dilation, stride
        xpd = pad_hw(x, ((padding[0],) * 2, (padding[1],) * 2))
        n, c, hp, wp = xpd.shape
        ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
        s0, s1, s2, s3 = xpd.strides
        v = backend.as_strided(xpd, (n, c, kh, kw, ho, wo),
                               (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw))
        ctx.size = x.shape[2:]
        return v.copy().reshape(n, c * kh * kw, ho * wo)   # a copy, never a view of x

    @staticmethod
    def vjp(ctx, g):
        p = ctx.params
        return Col2Im.apply(g, output_size=ctx.size, kernel=p["kernel"],
                            dilation=p["dilation"], padding=p["padding"], stride=p["stride"])

    jvp = linear_jvp


@primitive("col2im", public=False)
class Col2Im(Function):
    """x[n, c, h*s0 + i*d0 - p0, w*s1 + j*d1 - p1] += cols[n, (c, i, j), (h, w)]: each column
    added back where its block lies (overlaps add up; padding is dropped). The transpose of
    im2col, one strided slice-add per kernel offset. Linear; dx/dcols^T g = im2col(g)."""

    @staticmethod
    def forward(ctx, cols, output_size, kernel, dilation, padding, stride):
        (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel, dilation, padding, stride
        h, w = output_size
        ho, wo = _blocks(h, kh, dh, ph, sh), _blocks(w, kw, dw, pw, sw)
        n = cols.shape[0]
        c = cols.shape[1] // (kh * kw)
        blocks = cols.reshape(n, c, kh, kw, ho, wo)
        out = ctx.xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
        for i in range(kh):
            for j in range(kw):
                out[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                    j * dw:j * dw + sw * (wo - 1) + 1:sw] += blocks[:, :, i, j]
        return out[:, :, ph:ph + h, pw:pw + w]

    @staticmethod
    def vjp(ctx, g):
        p = ctx.params
        return Im2Col.apply(g, kernel=p["kernel"], dilation=p["dilation"],
                            padding=p["padding"], stride=p["stride"])

    jvp = linear_jvp


def _geometry(op, kernel_size, dilation, padding, stride):
    """The four pairs, checked as PyTorch checks them (kernel, dilation and stride > 0,
    padding >= 0)."""
    k, d = pair(kernel_size, op, "kernel_size"), pair(dilation, op, "dilation")
    p, s = pair(padding, op, "padding"), pair(stride, op, "stride")
    for name, v, ok in (("kernel_size", k, min(k) > 0), ("dilation", d, min(d) > 0),
                        ("padding", p, min(p) >= 0), ("stride", s, min(s) > 0)):
        if not ok:
            want = "non-negative" if name == "padding" else "greater than zero"
            raise RuntimeError(f"{op}: {name} should be {want}, but got {name}={v}")
    return {"kernel": k, "dilation": d, "padding": p, "stride": s}


def _tensor(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a tensor as input, got {type(x).__name__}")
    return x


def _unfold_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 2, 4, 5))], {"kernel_size": 2}),
            Sample([r((1, 2, 5, 6))], {"kernel_size": (2, 3), "dilation": (2, 1),
                                       "padding": 1, "stride": (2, 1)}, name="all args"),
            Sample([r((2, 3, 3))], {"kernel_size": 3, "padding": 1}, name="unbatched"),
            Sample([r((1, 1, 5, 5))], {"kernel_size": 2, "stride": 3}, name="gaps"),
            Sample([r((0, 2, 3, 3))], {"kernel_size": 2}, name="empty batch")]


@composite("nn.functional.unfold", samples=_unfold_samples)
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: every (kh, kw) block of the zero-padded (N, C, H, W) input as a column,
    giving (N, C*kh*kw, L) with L the number of blocks (channel-major, then kernel row and
    column; blocks in row-major order). A 3-d input is one unbatched image.

    Raises ShapeError for an input that is not 3-d/4-d or has empty non-batch dims, and
    RuntimeError for bad geometry or a kernel larger than the padded input."""
    op = "unfold"
    x = _tensor(op, input)
    geo = _geometry(op, kernel_size, dilation, padding, stride)
    if x.ndim not in (3, 4) or 0 in x.shape[-3:]:
        raise ShapeError(f"{op}: expected a 3-d or 4-d (batched) input with non-zero "
                         f"channel and spatial sizes, got shape {list(x.shape)}")
    unbatched = x.ndim == 3
    if unbatched:
        x = unsqueeze(x, 0)
    h, w = x.shape[2:]
    blocks = [_blocks(n, k, d, p, s) for n, k, d, p, s in
              zip((h, w), geo["kernel"], geo["dilation"], geo["padding"], geo["stride"])]
    if min(blocks) < 1:
        raise ShapeError(f"{op}: given input with spatial size {(h, w)}, kernel_size="
                         f"{geo['kernel']}, dilation={geo['dilation']}, padding="
                         f"{geo['padding']}, the array of sliding blocks would have shape "
                         f"{tuple(blocks)}, but its sizes must be at least one")
    out = Im2Col.apply(x, **geo)
    return squeeze(out, 0) if unbatched else out


def _fold_samples(rng):
    r = rng.standard_normal
    return [Sample([r((2, 8, 12))], {"output_size": (4, 5), "kernel_size": 2}),
            Sample([r((1, 12, 12))], {"output_size": (5, 4), "kernel_size": (2, 3),
                                     "dilation": (2, 1), "padding": 1, "stride": (2, 1)},
                   name="all args"),
            Sample([r((9, 9))], {"output_size": 3, "kernel_size": 3, "padding": 1},
                   name="unbatched"),
            Sample([r((1, 4, 4))], {"output_size": (5, 5), "kernel_size": 2, "stride": 3},
                   name="gaps"),
            Sample([r((0, 8, 12))], {"output_size": (4, 5), "kernel_size": 2},
                   name="empty batch")]


@composite("nn.functional.fold", samples=_fold_samples)
def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im: the (N, C*kh*kw, L) columns added back into an (N, C, *output_size) image
    (overlapping blocks add up; what falls in the padding is dropped): the transpose of
    ``unfold``, and its inverse up to the count of blocks covering each pixel. A 2-d input is
    one unbatched set of columns.

    Raises ShapeError when the input is not 2-d/3-d, its dim -2 is not a multiple of
    kh*kw, or its dim -1 is not the number of blocks of ``output_size``."""
    op = "fold"
    x = _tensor(op, input)
    geo = _geometry(op, kernel_size, dilation, padding, stride)
    size = pair(output_size, op, "output_size")
    if x.ndim not in (2, 3) or 0 in x.shape[-2:]:
        raise ShapeError(f"{op}: expected a 2-d or 3-d (batched) input with non-zero sizes "
                         f"after the batch dim, got shape {list(x.shape)}")
    kh, kw = geo["kernel"]
    if x.shape[-2] % (kh * kw):
        raise ShapeError(f"{op}: expected the input's dim -2 ({x.shape[-2]}, shape "
                         f"{list(x.shape)}) to be divisible by the product of kernel_size "
                         f"{geo['kernel']}")
    blocks = [_blocks(n, k, d, p, s) for n, k, d, p, s in
              zip(size, geo["kernel"], geo["dilation"], geo["padding"], geo["stride"])]
    if min(blocks) < 1 or blocks[0] * blocks[1] != x.shape[-1]:
        raise ShapeError(f"{op}: given output_size={size}, kernel_size={geo['kernel']}, "
                         f"dilation={geo['dilation']}, padding={geo['padding']}, stride="
                         f"{geo['stride']}, expected the input's last dim to be the number "
                         f"of sliding blocks {blocks[0]} * {blocks[1]} = "
                         f"{max(blocks[0], 0) * max(blocks[1], 0)}, but got input of shape "
                         f"{list(x.shape)}")
    unbatched = x.ndim == 2
    if unbatched:
        x = unsqueeze(x, 0)
    out = Col2Im.apply(x, output_size=size, **geo)
    return squeeze(out, 0) if unbatched else out


# -- pixel shuffle --------------------------------------------------------------------------
def _factor(op, x, r, what):
    _tensor(op, x)
    if isinstance(r, bool) or not isinstance(r, int):
        raise TypeError(f"{op}: {what} must be an int, got {type(r).__name__}")
    if r <= 0:
        raise RuntimeError(f"{op}: expected a positive {what}, but got {r}")
    if x.ndim < 3:
        raise ShapeError(f"{op}: expected an input with at least 3 dims (*, C, H, W), got "
                         f"shape {list(x.shape)}")


def _shuffle_samples(rng):
    r = rng.standard_normal
    return [Sample([r((1, 8, 2, 3)), 2]), Sample([r((9, 1, 2)), 3], name="unbatched"),
            Sample([r((2, 1, 4, 1, 1)), 2], name="two batch dims"),
            Sample([r((0, 4, 2, 2)), 2], name="empty")]


@composite("pixel_shuffle", samples=_shuffle_samples)
def pixel_shuffle(input, upscale_factor):
    """(*, C*r^2, H, W) -> (*, C, H*r, W*r): y[..., c, h*r + i, w*r + j] =
    x[..., c*r^2 + i*r + j, h, w] (a reshape, a permute and a reshape).

    Raises ShapeError for fewer than 3 dims or C not divisible by r^2, RuntimeError for
    r <= 0."""
    r = upscale_factor
    _factor("pixel_shuffle", input, r, "upscale_factor")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ShapeError(f"pixel_shuffle: expected the channel dim (-3) of input "
                         f"{list(input.shape)} to be divisible by upscale_factor**2 = {r * r}")
    k = len(lead)
    lead = tuple(lead)
    x = reshape(input, lead + (c // (r * r), r, r, h, w))
    x = permute(x, tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2))
    return reshape(x, lead + (c // (r * r), h * r, w * r))


def _unshuffle_samples(rng):
    r = rng.standard_normal
    return [Sample([r((1, 2, 4, 6)), 2]), Sample([r((1, 3, 3)), 3], name="unbatched"),
            Sample([r((2, 1, 1, 2, 2)), 2], name="two batch dims"),
            Sample([r((0, 1, 2, 2)), 2], name="empty")]


@composite("pixel_unshuffle", samples=_unshuffle_samples)
def pixel_unshuffle(input, downscale_factor):
    """(*, C, H*r, W*r) -> (*, C*r^2, H, W), the inverse of pixel_shuffle.

    Raises ShapeError for fewer than 3 dims or H, W not divisible by r, RuntimeError for
    r <= 0."""
    r = downscale_factor
    _factor("pixel_unshuffle", input, r, "downscale_factor")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise ShapeError(f"pixel_unshuffle: expected the height and width of input "
                         f"{list(input.shape)} to be divisible by downscale_factor {r}")
    k = len(lead)
    lead = tuple(lead)
    x = reshape(input, lead + (c, h // r, r, w // r, r))
    x = permute(x, tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3))
    return reshape(x, lead + (c * r * r, h // r, w // r))
