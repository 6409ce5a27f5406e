"""PyTorch parity for the neural-network ops (conv, pooling, normalisation, linear, dropout,
embedding, interpolate, cosine_similarity): values, gradients and 2nd-order gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tapegrad as tg
import tapegrad.nn.functional as F
from parity import Row, check_row, parametrize


def rn(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


ROWS = [
    # linear family
    Row("linear", F.linear, TF.linear, rn((4, 3), (2, 3), (2,))),
    Row("linear-nobias", F.linear, TF.linear, rn((2, 2, 3), (5, 3))),
    Row("linear-vector", F.linear, TF.linear, rn((3,), (2, 3), (2,))),
    Row("bilinear", F.bilinear, TF.bilinear, rn((2, 3), (2, 2), (4, 3, 2), (4,))),
    # convolutions
    Row("conv2d", F.conv2d, TF.conv2d, rn((2, 2, 5, 5), (3, 2, 3, 3), (3,))),
    Row("conv2d-stride-pad", lambda x, w: F.conv2d(x, w, stride=2, padding=1),
        lambda x, w: TF.conv2d(x, w, stride=2, padding=1), rn((2, 2, 6, 5), (3, 2, 3, 3))),
    Row("conv2d-dilation", lambda x, w: F.conv2d(x, w, dilation=2, padding=(1, 2)),
        lambda x, w: TF.conv2d(x, w, dilation=2, padding=(1, 2)), rn((1, 2, 6, 6), (2, 2, 2, 3))),
    Row("conv2d-groups", lambda x, w, b: F.conv2d(x, w, b, groups=2, stride=(2, 1)),
        lambda x, w, b: TF.conv2d(x, w, b, groups=2, stride=(2, 1)),
        rn((2, 4, 5, 4), (6, 2, 2, 2), (6,))),
    Row("conv2d-same-even", lambda x, w: F.conv2d(x, w, padding="same"),
        lambda x, w: TF.conv2d(x, w, padding="same"), rn((1, 2, 4, 5), (2, 2, 2, 4))),
    Row("conv2d-valid", lambda x, w: F.conv2d(x, w, padding="valid"),
        lambda x, w: TF.conv2d(x, w, padding="valid"), rn((1, 1, 4, 4), (2, 1, 3, 3))),
    Row("conv2d-unbatched", F.conv2d, TF.conv2d, rn((2, 4, 4), (3, 2, 2, 2))),
    Row("conv1d", F.conv1d, TF.conv1d, rn((2, 3, 7), (4, 3, 3), (4,))),
    Row("conv1d-stride-dil-groups", lambda x, w: F.conv1d(x, w, stride=2, dilation=2, groups=3, padding=2),
        lambda x, w: TF.conv1d(x, w, stride=2, dilation=2, groups=3, padding=2),
        rn((2, 3, 8), (6, 1, 3))),
    Row("conv1d-same", lambda x, w: F.conv1d(x, w, padding="same"),
        lambda x, w: TF.conv1d(x, w, padding="same"), rn((1, 2, 6), (2, 2, 4))),
    Row("conv_transpose2d", F.conv_transpose2d, TF.conv_transpose2d,
        rn((2, 3, 3, 3), (3, 2, 2, 2), (2,))),
    Row("conv_transpose2d-stride-pad-outpad",
        lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1),
        lambda x, w: TF.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1),
        rn((1, 2, 3, 4), (2, 3, 3, 3))),
    Row("conv_transpose2d-groups-dilation",
        lambda x, w, b: F.conv_transpose2d(x, w, b, groups=2, dilation=2, stride=(1, 2)),
        lambda x, w, b: TF.conv_transpose2d(x, w, b, groups=2, dilation=2, stride=(1, 2)),
        rn((1, 4, 3, 3), (4, 1, 2, 2), (2,))),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


def test_conv_errors():
    x, w = tg.randn(1, 3, 5, 5), tg.randn(2, 2, 3, 3)
    with pytest.raises(RuntimeError, match="conv2d.*channels"):
        F.conv2d(x, w)
    with pytest.raises(RuntimeError, match="conv2d.*dtype"):
        F.conv2d(tg.randn(1, 2, 5, 5), tg.randn(2, 2, 3, 3, dtype=tg.float64))
    with pytest.raises(RuntimeError, match="kernel size"):
        F.conv2d(tg.randn(1, 2, 2, 2), w)
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(tg.randn(1, 2, 5, 5), w, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="conv2d.*4-d"):
        F.conv2d(tg.randn(5, 5), w)


def test_conv_float32_stays_float32():
    x, w = tg.randn(2, 2, 5, 5, requires_grad=True), tg.randn(3, 2, 3, 3, requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert y.dtype == tg.float32
    y.sum().backward()
    assert x.grad.dtype == tg.float32 and w.grad.dtype == tg.float32
