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
    # pooling (random inputs: no ties, so PyTorch's one-element max gradient is unambiguous)
    Row("max_pool2d", lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), rn((2, 3, 4, 6))),
    Row("max_pool2d-overlap-pad", lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
        lambda x: TF.max_pool2d(x, 3, stride=2, padding=1), rn((2, 2, 7, 6))),
    Row("max_pool2d-dilation-ceil", lambda x: F.max_pool2d(x, (2, 3), stride=(2, 1), dilation=2, ceil_mode=True),
        lambda x: TF.max_pool2d(x, (2, 3), stride=(2, 1), dilation=2, ceil_mode=True), rn((1, 2, 7, 8))),
    Row("max_pool2d-ceil-pad", lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
        lambda x: TF.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), rn((1, 1, 6, 6))),
    Row("max_pool2d-indices", lambda x: F.max_pool2d(x, 2, stride=1, return_indices=True),
        lambda x: TF.max_pool2d(x, 2, stride=1, return_indices=True), rn((2, 2, 3, 4))),
    Row("max_pool2d-unbatched", lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), rn((2, 4, 4))),
    Row("max_pool1d", lambda x: F.max_pool1d(x, 2), lambda x: TF.max_pool1d(x, 2), rn((2, 3, 6))),
    Row("max_pool1d-indices-pad", lambda x: F.max_pool1d(x, 3, 2, 1, return_indices=True, ceil_mode=True),
        lambda x: TF.max_pool1d(x, 3, 2, 1, return_indices=True, ceil_mode=True), rn((2, 2, 8))),
    Row("avg_pool2d", lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2), rn((2, 3, 4, 6))),
    Row("avg_pool2d-pad-include", lambda x: F.avg_pool2d(x, 3, 2, 1),
        lambda x: TF.avg_pool2d(x, 3, 2, 1), rn((1, 2, 6, 7))),
    Row("avg_pool2d-pad-exclude-ceil", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        lambda x: TF.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), rn((1, 2, 6, 6))),
    Row("avg_pool2d-ceil-include", lambda x: F.avg_pool2d(x, 2, 2, 1, ceil_mode=True),
        lambda x: TF.avg_pool2d(x, 2, 2, 1, ceil_mode=True), rn((1, 1, 5, 6))),
    Row("avg_pool2d-divisor", lambda x: F.avg_pool2d(x, 2, 1, divisor_override=3),
        lambda x: TF.avg_pool2d(x, 2, 1, divisor_override=3), rn((1, 2, 3, 3))),
    Row("avg_pool1d", lambda x: F.avg_pool1d(x, 3, 2, 1, count_include_pad=False),
        lambda x: TF.avg_pool1d(x, 3, 2, 1, count_include_pad=False), rn((2, 2, 7))),
    Row("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
        lambda x: TF.adaptive_avg_pool2d(x, (3, 2)), rn((2, 2, 7, 5))),
    Row("adaptive_avg_pool2d-global", lambda x: F.adaptive_avg_pool2d(x, 1),
        lambda x: TF.adaptive_avg_pool2d(x, 1), rn((2, 3, 4, 4))),
    Row("adaptive_avg_pool2d-None", lambda x: F.adaptive_avg_pool2d(x, (None, 3)),
        lambda x: TF.adaptive_avg_pool2d(x, (None, 3)), rn((1, 2, 3, 7))),
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


def test_max_pool_gradient_goes_to_first_max():
    # ties: PyTorch's convention, the whole gradient to the first maximum of each window
    x = tg.ones(1, 1, 2, 4, requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0]])
    # overlapping windows accumulate
    x = tg.tensor([[[[0.0, 5.0, 0.0, 1.0]]]], requires_grad=True)
    F.max_pool2d(x, (1, 2), stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0, 2, 0, 1]])


def test_pool_errors():
    x = tg.randn(1, 1, 4, 4)
    with pytest.raises(RuntimeError, match="max_pool2d: pad should be at most half"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(RuntimeError, match="avg_pool2d.*4-d"):
        F.avg_pool2d(tg.randn(4, 4), 2)
    with pytest.raises(RuntimeError, match="too small"):
        F.max_pool2d(tg.randn(1, 1, 2, 2), 3)
