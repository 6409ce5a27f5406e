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


RM = np.array([0.3, -0.5, 1.2])
RV = np.array([0.5, 2.0, 1.3])
IDX = np.array([[0, 1, 4], [1, 1, 3]])
CLS = np.array([3, 0, 2])

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
    Row("max_pool1d-dilation", lambda x: F.max_pool1d(x, 2, 1, dilation=3),
        lambda x: TF.max_pool1d(x, 2, 1, dilation=3), rn((2, 2, 7))),
    Row("avg_pool1d-ceil-include", lambda x: F.avg_pool1d(x, 2, 2, 1, ceil_mode=True),
        lambda x: TF.avg_pool1d(x, 2, 2, 1, ceil_mode=True), rn((1, 2, 6))),
    Row("avg_pool1d", lambda x: F.avg_pool1d(x, 3, 2, 1, count_include_pad=False),
        lambda x: TF.avg_pool1d(x, 3, 2, 1, count_include_pad=False), rn((2, 2, 7))),
    Row("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
        lambda x: TF.adaptive_avg_pool2d(x, (3, 2)), rn((2, 2, 7, 5))),
    Row("adaptive_avg_pool2d-global", lambda x: F.adaptive_avg_pool2d(x, 1),
        lambda x: TF.adaptive_avg_pool2d(x, 1), rn((2, 3, 4, 4))),
    Row("adaptive_avg_pool2d-None", lambda x: F.adaptive_avg_pool2d(x, (None, 3)),
        lambda x: TF.adaptive_avg_pool2d(x, (None, 3)), rn((1, 2, 3, 7))),
    # chains: pooling a convolution's channel-major output (the layout conv returns)
    Row("conv-relu-maxpool", lambda x, w, b: F.max_pool2d(F.relu(F.conv2d(x, w, b)), 2),
        lambda x, w, b: TF.max_pool2d(TF.relu(TF.conv2d(x, w, b)), 2),
        rn((3, 2, 7, 7), (4, 2, 2, 2), (4,))),
    Row("conv-maxpool-overlap", lambda x, w: F.max_pool2d(F.conv2d(x, w, padding=1), 3, 2, 1),
        lambda x, w: TF.max_pool2d(TF.conv2d(x, w, padding=1), 3, 2, 1),
        rn((2, 2, 6, 6), (3, 2, 3, 3))),
    Row("cnn-to-cross_entropy", lambda x, w, v: F.cross_entropy(F.linear(
        F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2).reshape(3, -1), v), tg.tensor(CLS)),
        lambda x, w, v: TF.cross_entropy(TF.linear(
            TF.max_pool2d(TF.relu(TF.conv2d(x, w, padding=1)), 2).reshape(3, -1), v),
            torch.tensor(CLS)), rn((3, 1, 4, 4), (2, 1, 3, 3), (4, 8))),
    Row("conv-avgpool", lambda x, w: F.avg_pool2d(F.conv2d(x, w), 2, 1),
        lambda x, w: TF.avg_pool2d(TF.conv2d(x, w), 2, 1), rn((2, 2, 5, 5), (3, 2, 2, 2))),
    # normalisation
    Row("batch_norm-train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
        rn((4, 3, 2, 2), (3,), (3,)), rtol=1e-6),
    Row("batch_norm-train-2d-stats", lambda x: F.batch_norm(
        x, tg.zeros(3, dtype=x.dtype), tg.ones(3, dtype=x.dtype), training=True, momentum=0.3),
        lambda x: TF.batch_norm(x, torch.zeros(3, dtype=x.dtype), torch.ones(3, dtype=x.dtype),
                                training=True, momentum=0.3), rn((5, 3)), rtol=1e-6),
    Row("batch_norm-eval", lambda x, w, b: F.batch_norm(
        x, tg.tensor(RM, dtype=x.dtype), tg.tensor(RV, dtype=x.dtype), w, b),
        lambda x, w, b: TF.batch_norm(x, torch.tensor(RM, dtype=x.dtype),
                                      torch.tensor(RV, dtype=x.dtype), w, b),
        rn((2, 3, 4), (3,), (3,))),
    Row("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w, b),
        lambda x, w, b: TF.layer_norm(x, (4,), w, b), rn((3, 4), (4,), (4,)), rtol=1e-6),
    Row("layer_norm-2dims", lambda x: F.layer_norm(x, (2, 3), eps=1e-3),
        lambda x: TF.layer_norm(x, (2, 3), eps=1e-3), rn((2, 2, 3)), rtol=1e-6),
    Row("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b),
        lambda x, w, b: TF.group_norm(x, 2, w, b), rn((2, 4, 3, 2), (4,), (4,)), rtol=1e-6),
    Row("group_norm-3d", lambda x: F.group_norm(x, 3), lambda x: TF.group_norm(x, 3),
        rn((2, 6, 3)), rtol=1e-6),
    # the rest
    Row("dropout-p0", lambda x: F.dropout(x, 0.0), lambda x: TF.dropout(x, 0.0), rn((3, 4))),
    Row("dropout-eval", lambda x: F.dropout(x, 0.5, training=False),
        lambda x: TF.dropout(x, 0.5, training=False), rn((3, 4))),
    Row("embedding", lambda w: F.embedding(tg.tensor(IDX), w),
        lambda w: TF.embedding(torch.tensor(IDX), w), rn((5, 3))),
    # padding_idx freezes a row in backward; PyTorch's forward AD still moves it, so its JVP
    # and VJP disagree. tapegrad keeps them transposes of each other (fwd checked below).
    Row("embedding-padding", lambda w: F.embedding(tg.tensor(IDX), w, padding_idx=1),
        lambda w: TF.embedding(torch.tensor(IDX), w, padding_idx=1), rn((5, 3)), fwd=False),
    Row("interpolate-nearest-scale", lambda x: F.interpolate(x, scale_factor=2),
        lambda x: TF.interpolate(x, scale_factor=2), rn((1, 2, 2, 3))),
    Row("interpolate-nearest-size", lambda x: F.interpolate(x, size=(3, 5)),
        lambda x: TF.interpolate(x, size=(3, 5)), rn((2, 1, 4, 3))),
    Row("interpolate-nearest-down", lambda x: F.interpolate(x, size=2),
        lambda x: TF.interpolate(x, size=2), rn((1, 1, 5, 4))),
    Row("interpolate-nearest-scale-1.5", lambda x: F.interpolate(x, scale_factor=(1.5, 0.6)),
        lambda x: TF.interpolate(x, scale_factor=(1.5, 0.6)), rn((1, 2, 4, 5))),
    Row("interpolate-bilinear", lambda x: F.interpolate(x, size=(5, 4), mode="bilinear", align_corners=False),
        lambda x: TF.interpolate(x, size=(5, 4), mode="bilinear", align_corners=False), rn((1, 2, 3, 3))),
    Row("interpolate-bilinear-scale", lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"),
        lambda x: TF.interpolate(x, scale_factor=1.5, mode="bilinear"), rn((1, 1, 4, 3))),
    Row("interpolate-bilinear-align", lambda x: F.interpolate(x, size=(4, 2), mode="bilinear", align_corners=True),
        lambda x: TF.interpolate(x, size=(4, 2), mode="bilinear", align_corners=True), rn((1, 2, 3, 4))),
    Row("interpolate-bilinear-down", lambda x: F.interpolate(x, size=(2, 3), mode="bilinear"),
        lambda x: TF.interpolate(x, size=(2, 3), mode="bilinear"), rn((1, 1, 5, 7))),
    Row("cosine_similarity", F.cosine_similarity, TF.cosine_similarity, rn((3, 4), (3, 4))),
    Row("cosine_similarity-dim-broadcast", lambda a, b: F.cosine_similarity(a, b, dim=-1),
        lambda a, b: TF.cosine_similarity(a, b, dim=-1), rn((2, 3), (3,))),
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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_norm_running_stats_match_torch(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 2, 2)).astype(dtype)
    rm, rv = tg.zeros(3, dtype=dtype), tg.ones(3, dtype=dtype)
    trm, trv = torch.zeros(3, dtype=getattr(torch, np.dtype(dtype).name)), \
        torch.ones(3, dtype=getattr(torch, np.dtype(dtype).name))
    for _ in range(3):
        y = F.batch_norm(tg.tensor(x), rm, rv, training=True, momentum=0.2)
        ty = TF.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=0.2)
        x = x * 1.5 + 0.5
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-5)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-5)  # unbiased, like torch
    assert rm.dtype == dtype and rm._version == 3
    # eval mode uses them and leaves them alone
    y = F.batch_norm(tg.tensor(x), rm, rv)
    ty = TF.batch_norm(torch.tensor(x), trm, trv)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-6)
    assert rm._version == 3


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(tg.randn(1, 3), None, None, training=True)
    with pytest.raises(RuntimeError, match="batch_norm: weight"):
        F.batch_norm(tg.randn(4, 3), None, None, tg.ones(2), training=True)
    with pytest.raises(TypeError, match="momentum"):
        F.batch_norm(tg.randn(4, 3), tg.zeros(3), tg.ones(3), training=True, momentum=None)
    with pytest.raises(RuntimeError, match="group_norm.*divisible"):
        F.group_norm(tg.randn(2, 6, 3), 4)
    with pytest.raises(RuntimeError, match="layer_norm.*normalized_shape"):
        F.layer_norm(tg.randn(2, 3), (4,))


def test_dropout_seeded_and_scaled():
    x = tg.ones(1000)
    tg.manual_seed(3)
    a = F.dropout(x, 0.25)
    tg.manual_seed(3)
    b = F.dropout(x, 0.25)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    vals = set(np.unique(a.numpy()).tolist())
    assert vals <= {0.0, np.float32(1 / 0.75)}
    assert 0.15 < (a.numpy() == 0).mean() < 0.35
    g = tg.Generator(5)
    c = F.dropout(x, 0.25, generator=g)
    assert c.dtype == tg.float32
    assert F.dropout(x, 0.0) is x and F.dropout(x, 0.5, training=False) is x
    assert not F.dropout(x, 1.0).numpy().any()
    xr = tg.randn(4, 5, requires_grad=True)
    y = F.dropout(xr, 0.5)
    y.sum().backward()
    np.testing.assert_allclose(xr.grad.numpy(), (y.numpy() != 0) * 2.0)
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(x, 1.5)


def test_embedding_padding_gets_no_gradient():
    w = tg.randn(4, 3, requires_grad=True)
    F.embedding(tg.tensor([[0, 2], [2, 3]]), w, padding_idx=2).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1] * 3, [0] * 3, [0] * 3, [1] * 3])
    with pytest.raises(IndexError, match="embedding"):
        F.embedding(tg.tensor([5]), w)


def test_embedding_max_norm_and_scale_grad_by_freq_match_torch():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((5, 3)) * 2
    idx = np.array([[0, 2, 2], [4, 2, 0]])
    w, tw = tg.tensor(w0.copy(), requires_grad=True), torch.tensor(w0.copy(), requires_grad=True)
    out = F.embedding(tg.tensor(idx), w, max_norm=1.5, scale_grad_by_freq=True)
    tout = TF.embedding(torch.tensor(idx), tw, max_norm=1.5, scale_grad_by_freq=True)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-12)  # renormed in place
    u = rng.standard_normal(out.shape)
    (out * tg.tensor(u)).sum().backward()
    (tout * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


def test_cosine_similarity_zero_vector_is_finite():
    a = tg.zeros(2, 3, dtype=tg.float64, requires_grad=True)
    b = tg.randn(2, 3, dtype=tg.float64)
    out = F.cosine_similarity(a, b)
    out.sum().backward()
    assert np.all(out.numpy() == 0) and np.all(np.isfinite(a.grad.numpy()))


def test_linear_errors():
    with pytest.raises(RuntimeError, match="linear"):
        F.linear(tg.randn(2, 3), tg.randn(4, 5))
