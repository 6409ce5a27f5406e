"""Issue 15, nn part: the new layers against torch.nn with copied weights in float64
(outputs, input and parameter gradients, buffers), channel dropout's statistics,
ParameterDict, reprs, and the errors of the new ops and layers (type and message)."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
import tapegrad.nn.functional as F

from test_nn import _compare

torch = pytest.importorskip("torch")
tnn = torch.nn


# -- layers against torch.nn ----------------------------------------------------------------
LAYERS = [
    ("Conv1d-reflect", lambda m: m.Conv1d(2, 3, 3, padding=2, padding_mode="reflect"),
     [("f", (2, 2, 6))]),
    ("Conv1d-circular-same", lambda m: m.Conv1d(2, 3, 4, padding="same", dilation=2,
                                                padding_mode="circular"), [("f", (2, 2, 9))]),
    ("Conv2d-reflect", lambda m: m.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
     [("f", (2, 2, 5, 6))]),
    ("Conv2d-replicate-stride", lambda m: m.Conv2d(2, 4, (3, 2), stride=2, padding=(2, 1),
                                                   padding_mode="replicate", groups=2),
     [("f", (2, 2, 5, 6))]),
    ("Conv2d-circular-unbatched", lambda m: m.Conv2d(2, 3, 3, padding=(1, 2),
                                                     padding_mode="circular"), [("f", (2, 4, 5))]),
    ("Conv2d-reflect-same", lambda m: m.Conv2d(1, 2, (2, 4), padding="same",
                                               padding_mode="reflect"), [("f", (1, 1, 5, 5))]),
    ("ConvTranspose1d", lambda m: m.ConvTranspose1d(3, 2, 3, stride=2, padding=1,
                                                    output_padding=1), [("f", (2, 3, 5))]),
    ("ConvTranspose1d-groups", lambda m: m.ConvTranspose1d(4, 2, 2, groups=2, dilation=3,
                                                           bias=False), [("f", (2, 4, 5))]),
    ("InstanceNorm1d", lambda m: m.InstanceNorm1d(3), [("f", (4, 3, 6))]),
    ("InstanceNorm1d-unbatched", lambda m: m.InstanceNorm1d(3, affine=True), [("f", (3, 6))]),
    ("InstanceNorm2d-affine-track", lambda m: m.InstanceNorm2d(3, affine=True,
                                                               track_running_stats=True,
                                                               momentum=0.3),
     [("f", (4, 3, 3, 4))]),
    ("InstanceNorm3d", lambda m: m.InstanceNorm3d(2, affine=True), [("f", (2, 2, 2, 3, 2))]),
    ("RMSNorm", lambda m: m.RMSNorm(4), [("f", (3, 4))]),
    ("RMSNorm-2d-noaffine", lambda m: m.RMSNorm((2, 3), eps=1e-3, elementwise_affine=False),
     [("f", (4, 2, 3))]),
    ("Upsample-nearest", lambda m: m.Upsample(scale_factor=2), [("f", (2, 2, 3, 3))]),
    ("Upsample-bilinear", lambda m: m.Upsample(size=(5, 4), mode="bilinear"),
     [("f", (2, 2, 3, 3))]),
    ("UpsamplingBilinear2d", lambda m: m.UpsamplingBilinear2d(scale_factor=2),
     [("f", (1, 2, 3, 2))]),
    ("UpsamplingNearest2d", lambda m: m.UpsamplingNearest2d(size=5), [("f", (1, 2, 3, 2))]),
    ("PixelShuffle", lambda m: m.PixelShuffle(2), [("f", (2, 8, 3, 2))]),
    ("PixelUnshuffle", lambda m: m.PixelUnshuffle(2), [("f", (2, 1, 4, 6))]),
    ("Unfold", lambda m: m.Unfold((2, 3), dilation=2, padding=1, stride=(1, 2)),
     [("f", (2, 2, 6, 7))]),
    ("Fold", lambda m: m.Fold((4, 5), 2), [("f", (2, 8, 12))]),
    ("AdaptiveMaxPool2d", lambda m: m.AdaptiveMaxPool2d((3, None)), [("f", (2, 2, 7, 5))]),
    ("AdaptiveMaxPool1d", lambda m: m.AdaptiveMaxPool1d(4), [("f", (2, 9))]),
    ("PairwiseDistance", lambda m: m.PairwiseDistance(p=1.5, keepdim=True),
     [("f", (3, 4)), ("f", (3, 4))]),
    ("CosineSimilarity", lambda m: m.CosineSimilarity(dim=0), [("f", (3, 4)), ("f", (3, 4))]),
]
for _n, _p in ((1, (1, 2)), (2, (1, 0, 2, 1)), (3, 1)):
    _shape = (2, 3) + (4,) * _n
    for _cls in ("ReflectionPad", "ReplicationPad", "CircularPad", "ZeroPad"):
        LAYERS.append((f"{_cls}{_n}d", (lambda c, p: lambda m: getattr(m, c)(p))(
            f"{_cls}{_n}d", _p), [("f", _shape)]))
    LAYERS.append((f"ConstantPad{_n}d", (lambda c, p: lambda m: getattr(m, c)(p, 1.5))(
        f"ConstantPad{_n}d", _p), [("f", _shape)]))
LAYERS.append(("ZeroPad2d-crop", lambda m: m.ZeroPad2d((-1, 2, 0, -2)), [("f", (2, 3, 4, 5))]))


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_pytorch(case):
    _, make, specs = case
    _compare(make(nn), make(tnn), specs)


def test_instance_norm_running_stats_over_steps_and_eval():
    m = nn.InstanceNorm1d(3, track_running_stats=True, momentum=0.2).double()
    t = tnn.InstanceNorm1d(3, track_running_stats=True, momentum=0.2).double()
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 5)) * 3 + 1
        m(tg.tensor(x))
        t(torch.tensor(x))
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(m, name).numpy(), getattr(t, name).numpy(),
                                   rtol=1e-10)
    assert sorted(m.state_dict()) == sorted(t.state_dict())
    m.eval()
    t.eval()
    x = rng.standard_normal((2, 3, 5))
    np.testing.assert_allclose(m(tg.tensor(x)).numpy(), t(torch.tensor(x)).numpy(), rtol=1e-10)
    assert nn.InstanceNorm2d(3).state_dict() == {}


def test_conv_transpose_output_size():
    for make, shape, size in ((lambda m: m.ConvTranspose1d(2, 3, 3, stride=3), (1, 2, 4), [13]),
                              (lambda m: m.ConvTranspose2d(2, 3, 3, stride=2, padding=1),
                               (2, 2, 3, 4), (2, 3, 6, 7))):
        torch.manual_seed(0)
        t = make(tnn).double()
        m = make(nn).double()
        m.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
        x = np.random.default_rng(0).standard_normal(shape)
        np.testing.assert_allclose(m(tg.tensor(x), output_size=size).numpy(),
                                   t(torch.tensor(x), output_size=size).detach().numpy(),
                                   rtol=1e-10)
    with pytest.raises(ValueError, match=r"output size of \(9,\).*range from \[6\] to \[6\]"):
        nn.ConvTranspose1d(2, 3, 3)(tg.zeros(1, 2, 4), output_size=(9,))
    with pytest.raises(ValueError, match="must have 2 or 4 elements"):
        nn.ConvTranspose2d(2, 3, 3)(tg.zeros(1, 2, 4, 4), output_size=[10])


LOSSES = [
    ("TripletMarginLoss", {"margin": 2.0, "swap": True}, [("f", (4, 3))] * 3),
    ("TripletMarginLoss", {"p": 1.0, "reduction": "none", "margin": 3.0}, [("f", (4, 3))] * 3),
    ("PoissonNLLLoss", {}, [("f", (4, 3)), ("pos", (4, 3))]),
    ("PoissonNLLLoss", {"full": True, "reduction": "sum"}, [("f", (4, 3)), ("pos", (4, 3))]),
    ("GaussianNLLLoss", {"full": True}, [("f", (4, 3)), ("f", (4, 3)), ("pos", (4, 3))]),
    ("GaussianNLLLoss", {"reduction": "none"}, [("f", (4, 3)), ("f", (4, 3)), ("pos", (4,))]),
    ("HingeEmbeddingLoss", {"margin": 0.5}, [("f", (4, 3)), ("sign", (4, 3))]),
    ("MultiLabelSoftMarginLoss", {"reduction": "sum"}, [("f", (4, 3)), ("p", (4, 3))]),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5}, [("f", (5, 4)), ("i4", (5,))]),
    ("MultiMarginLoss", {"reduction": "none"}, [("f", (5, 4)), ("i4", (5,))]),
    ("MSELoss", {"size_average": False}, [("f", (4, 3)), ("f", (4, 3))]),
    ("L1Loss", {"reduce": False}, [("f", (4, 3)), ("f", (4, 3))]),
]


@pytest.mark.parametrize("case", LOSSES, ids=[f"{c[0]}{c[1]}" for c in LOSSES])
def test_loss_module_matches_pytorch(case):
    name, kw, specs = case
    m, t = getattr(nn, name)(**kw), getattr(tnn, name)(**kw)
    assert m.reduction == t.reduction
    _compare(m, t, specs)


def test_weighted_loss_modules_match_pytorch():
    w = np.array([0.5, 2.0, 1.0, 1.5])
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, 4)), rng.integers(0, 4, (5,))
    probs = rng.uniform(0, 1, (5, 4))
    for name, target in (("MultiMarginLoss", y), ("MultiLabelSoftMarginLoss", probs)):
        m = getattr(nn, name)(weight=tg.tensor(w))
        t = getattr(tnn, name)(weight=torch.tensor(w))
        gx, tx = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        a, b = m(gx, tg.tensor(target)), t(tx, torch.tensor(target))
        a.backward()
        b.backward()
        np.testing.assert_allclose(float(a), float(b), rtol=1e-10)
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-9)
        assert "weight" in m.state_dict()


# -- channel dropout ------------------------------------------------------------------------
@pytest.mark.parametrize("cls,shape", [("Dropout1d", (40, 30, 5)), ("Dropout1d", (30, 5)),
                                       ("Dropout2d", (40, 30, 3, 2)),
                                       ("Dropout3d", (30, 20, 2, 2, 2)),
                                       ("Dropout3d", (30, 2, 2, 2))])
def test_channel_dropout_masks_whole_channels(cls, shape):
    x = tg.ones(*shape, dtype=tg.float64, requires_grad=True)
    d = getattr(nn, cls)(0.3)
    tg.manual_seed(0)
    y = d(x)
    a = y.numpy()
    tg.manual_seed(0)
    assert np.array_equal(a, d(x).numpy())
    lead = 2 if len(shape) > {"Dropout1d": 2, "Dropout2d": 3, "Dropout3d": 4}[cls] else 1
    per_channel = a.reshape(shape[:lead] + (-1,))
    assert np.all(per_channel == per_channel[..., :1])       # one draw per channel
    assert set(np.unique(a)) <= {0.0, 1 / 0.7}
    assert abs((per_channel[..., 0] == 0).mean() - 0.3) < 0.1
    (y * tg.tensor(np.arange(a.size).reshape(shape))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), a * np.arange(a.size).reshape(shape))
    d.eval()
    assert d(x) is x
    assert repr(d) == repr(getattr(tnn, cls)(0.3))


def test_channel_dropout_functional_edges():
    x = tg.randn(3, 4, 2)
    assert np.array_equal(F.dropout1d(x, 1.0).numpy(), np.zeros((3, 4, 2), np.float32))
    assert F.dropout1d(x, 0.5, training=False) is x
    a = F.dropout1d(x, 0.5, generator=tg.Generator(3)).numpy()
    assert np.array_equal(a, F.dropout1d(x, 0.5, generator=tg.Generator(3)).numpy())
    with pytest.warns(UserWarning, match="dropout2d.*3-d input"):
        F.dropout2d(x, 0.5)
    with pytest.raises(ValueError, match="dropout1d: dropout probability"):
        F.dropout1d(x, 1.5)
    with pytest.raises(tg.ShapeError, match=r"dropout1d: expected a 2-d or 3-d .*\[3, 4, 2, 1\]"):
        F.dropout1d(tg.randn(3, 4, 2, 1))
    with pytest.raises(TypeError, match="dropout2d: expected a tensor"):
        F.dropout2d([1.0, 2.0])


# -- ParameterDict --------------------------------------------------------------------------
def test_parameter_dict_like_pytorch():
    def build(m, lib):
        d = m.ParameterDict({"b": lib.ones(2), "a": m.Parameter(lib.zeros(3))})
        d["c"] = lib.ones(1)
        d.update([("e", lib.ones(2)), ("d", lib.zeros(1))])
        d["note"] = "text"
        return d
    mine, theirs = build(nn, tg), build(tnn, torch)
    assert list(mine.keys()) == list(theirs.keys()) == ["a", "b", "c", "e", "d", "note"]
    assert isinstance(mine["c"], nn.Parameter) and mine["c"].requires_grad
    assert [k for k, _ in mine.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    assert list(mine.state_dict()) == list(theirs.state_dict())
    assert mine.pop("b").shape == (2,) and "b" not in mine and len(mine) == 5
    assert mine.popitem()[0] == theirs.popitem()[0] == "note"
    assert mine.get("zz", 7) == 7 and mine.setdefault("z") is None
    merged = mine | nn.ParameterDict({"y": tg.ones(1)})
    assert list(merged)[-1] == "y" and "y" not in mine
    mine.clear()
    assert len(mine) == 0 and list(mine.parameters()) == []
    with pytest.raises(TypeError, match="keys must be strings"):
        mine[1] = tg.ones(1)
    with pytest.raises(KeyError):
        mine["missing"]
    with pytest.raises(RuntimeError, match="should not be called"):
        mine(1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.ParameterDict({"w": tg.ones(2, 2)})

        def forward(self, x):
            return x @ self.p["w"]
    net = Net()
    assert [k for k, _ in net.named_parameters()] == ["p.w"]
    net(tg.ones(1, 2)).sum().backward()
    np.testing.assert_array_equal(net.p["w"].grad.numpy(), np.ones((2, 2)))


# -- reprs and errors -----------------------------------------------------------------------
def test_reprs_match_pytorch():
    for make in (lambda m: m.Upsample(scale_factor=2), lambda m: m.Upsample(size=(3, 4),
                                                                           mode="bilinear"),
                 lambda m: m.UpsamplingBilinear2d(size=3), lambda m: m.PixelShuffle(2),
                 lambda m: m.PixelUnshuffle(3), lambda m: m.Fold((4, 5), 2),
                 lambda m: m.Unfold((2, 3), dilation=2, padding=1),
                 lambda m: m.ZeroPad2d(1), lambda m: m.ZeroPad2d((1, 2, 3, 4)),
                 lambda m: m.ConstantPad1d(2, 3.5), lambda m: m.ConstantPad3d(1, 0.0),
                 lambda m: m.ReflectionPad2d((1, 1, 2, 0)), lambda m: m.ReplicationPad1d((1, 2)),
                 lambda m: m.CircularPad2d(1), lambda m: m.InstanceNorm1d(3),
                 lambda m: m.InstanceNorm2d(3, affine=True, track_running_stats=True),
                 lambda m: m.BatchNorm1d(3, affine=False), lambda m: m.RMSNorm(4),
                 lambda m: m.RMSNorm((2, 3), eps=1e-3, elementwise_affine=False),
                 lambda m: m.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1),
                 lambda m: m.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
                 lambda m: m.Conv1d(2, 3, 3, padding="same", padding_mode="circular"),
                 lambda m: m.Dropout2d(), lambda m: m.AdaptiveMaxPool2d((2, 3)),
                 lambda m: m.AdaptiveMaxPool1d(3), lambda m: m.TripletMarginLoss(),
                 lambda m: m.MultiMarginLoss()):
        assert repr(make(nn)) == repr(make(tnn))


def _raises(exc, match, fn, *args, **kw):
    with pytest.raises(exc, match=match):
        fn(*args, **kw)


def test_errors_name_the_op_and_the_shapes():
    x4 = tg.randn(1, 2, 3, 3)
    _raises(tg.ShapeError, r"unfold: expected a 3-d or 4-d .*\[3, 3\]", F.unfold,
            tg.randn(3, 3), 2)
    _raises(RuntimeError, r"unfold: .*spatial size \(3, 3\).*kernel_size=\(4, 4\)", F.unfold,
            x4, 4)
    _raises(RuntimeError, r"unfold: kernel_size should be greater than zero", F.unfold, x4, 0)
    _raises(RuntimeError, r"unfold: padding should be non-negative", F.unfold, x4, 2,
            padding=-1)
    _raises(tg.ShapeError, r"fold: .*dim -2 \(5, shape \[1, 5, 4\]\).*\(2, 2\)", F.fold,
            tg.randn(1, 5, 4), (3, 3), 2)
    _raises(tg.ShapeError, r"fold: .*sliding blocks 2 \* 2 = 4, but got input of shape "
                           r"\[1, 8, 5\]", F.fold, tg.randn(1, 8, 5), (3, 3), 2)
    _raises(TypeError, "unfold: expected a tensor", F.unfold, np.zeros((1, 1, 2, 2)), 1)
    _raises(tg.ShapeError, r"pixel_shuffle: .*at least 3 dims.*\[3, 3\]", F.pixel_shuffle,
            tg.randn(3, 3), 2)
    _raises(tg.ShapeError, r"pixel_shuffle: .*\[5, 3, 3\].*upscale_factor\*\*2 = 4",
            F.pixel_shuffle, tg.randn(5, 3, 3), 2)
    _raises(RuntimeError, "pixel_shuffle: expected a positive upscale_factor, but got 0",
            F.pixel_shuffle, tg.randn(4, 3, 3), 0)
    _raises(TypeError, "pixel_unshuffle: downscale_factor must be an int", F.pixel_unshuffle,
            tg.randn(4, 4, 4), 2.0)
    _raises(tg.ShapeError, r"pixel_unshuffle: .*\[4, 3, 3\].*downscale_factor 2",
            F.pixel_unshuffle, tg.randn(4, 3, 3), 2)
    _raises(IndexError, "normalize: dimension out of range", F.normalize, tg.randn(3), dim=1)
    _raises(tg.ShapeError, r"rms_norm: given normalized_shape=\[3\].*\[3, 4\]", F.rms_norm,
            tg.randn(3, 4), (3,))
    _raises(tg.ShapeError, r"rms_norm: .*weight of shape \[3\]", F.rms_norm, tg.randn(3, 4),
            (4,), tg.randn(3))
    _raises(ValueError, r"instance_norm: expected more than 1 spatial element.*\[3, 4, 1\]",
            F.instance_norm, tg.randn(3, 4, 1))
    _raises(RuntimeError, "instance_norm: expected running_mean and running_var",
            F.instance_norm, tg.randn(3, 4, 5), use_input_stats=False)
    _raises(tg.ShapeError, r"instance_norm: running_mean should have shape \[4\]",
            F.instance_norm, tg.randn(3, 4, 5), tg.zeros(3))
    _raises(tg.ShapeError, r"adaptive_max_pool2d: .*non-zero sizes.*\[1, 2, 0, 3\]",
            F.adaptive_max_pool2d, tg.randn(1, 2, 0, 3), 2)
    _raises(tg.ShapeError, r"adaptive_max_pool2d: expected a 3-d .*\[2, 3\]",
            F.adaptive_max_pool2d, tg.randn(2, 3), 2)
    _raises(ValueError, r"adaptive_max_pool2d: output_size must be an int or a 2-tuple",
            F.adaptive_max_pool2d, x4, (1, 2, 3))
    _raises(tg.ShapeError, r"conv_transpose1d: weight of shape \[3, 2, 2\] expects 3 input "
                           r"channels, but input \[1, 2, 4\] has 2", F.conv_transpose1d,
            tg.randn(1, 2, 4), tg.randn(3, 2, 2))
    _raises(ValueError, r"conv_transpose1d: output_padding \(2\) must be smaller than either "
                        r"stride \(2\) or dilation \(1\)", F.conv_transpose1d,
            tg.randn(1, 2, 4), tg.randn(2, 2, 2), stride=2, output_padding=2)
    _raises(ValueError, "triplet_margin_loss: margin must be greater than 0",
            F.triplet_margin_loss, *[tg.randn(2, 3)] * 3, margin=0)
    _raises(tg.ShapeError, r"triplet_margin_loss: .*same number of dims.*\[3\]",
            F.triplet_margin_loss, tg.randn(2, 3), tg.randn(2, 3), tg.randn(3))
    _raises(ValueError, "multi_margin_loss: only p == 1 and p == 2", F.multi_margin_loss,
            tg.randn(2, 3), tg.tensor([0, 1]), p=3)
    _raises(IndexError, r"multi_margin_loss: target out of range.*\[0, 3\).*\[0, 3\]",
            F.multi_margin_loss, tg.randn(2, 3), tg.tensor([0, 3]))
    _raises(tg.ShapeError, r"multi_margin_loss: .*2 class indices.*target of shape \[3\]",
            F.multi_margin_loss, tg.randn(2, 3), tg.tensor([0, 1, 2]))
    _raises(ValueError, "gaussian_nll_loss: var has negative entries", F.gaussian_nll_loss,
            tg.randn(2, 3), tg.randn(2, 3), tg.tensor([[1.0, -1.0, 1.0]] * 2))
    _raises(tg.ShapeError, r"gaussian_nll_loss: var of shape \[2, 2\] is of incorrect size "
                           r"for input of shape \[2, 3\]", F.gaussian_nll_loss, tg.randn(2, 3),
            tg.randn(2, 3), tg.ones(2, 2))
    _raises(ValueError, "poisson_nll_loss: avg is not a valid value for reduction",
            F.poisson_nll_loss, tg.randn(2), tg.ones(2), reduction="avg")
    _raises(ValueError, r"padding_mode must be one of .*'foo'", nn.Conv2d, 2, 3, 3,
            padding_mode="foo")
    _raises(ValueError, 'Only "zeros" padding mode is supported for ConvTranspose1d',
            nn.ConvTranspose1d, 2, 3, 3, padding_mode="reflect")
    _raises(ValueError, "padding='same' is not supported for strided", nn.Conv1d, 2, 3, 3,
            padding="same", stride=2)
    _raises(tg.ShapeError, r"ReflectionPad2d: padding \(1, 1, 1, 1\) pads 2 dims of a 3-d or "
                           r"4-d input, got input of shape \[3, 3\]",
            nn.ReflectionPad2d(1), tg.randn(3, 3))
    _raises(ValueError, r"InstanceNorm1d\(4\): expected the input's channel dim to be 4",
            nn.InstanceNorm1d(4, affine=True), tg.randn(2, 3, 5))
    _raises(ValueError, "MultiMarginLoss: only p == 1 and p == 2", nn.MultiMarginLoss, p=3)
    _raises(ValueError, "MSELoss: avg is not a valid value for reduction", nn.MSELoss,
            reduction="avg")


def test_embedding_from_pretrained_needs_a_2d_table():
    table = np.arange(6.0).reshape(3, 2)
    m = tg.nn.Embedding.from_pretrained(tg.tensor(table))
    ref = torch.nn.Embedding.from_pretrained(torch.tensor(table))
    idx = np.array([2, 0])
    np.testing.assert_array_equal(m(tg.tensor(idx)).numpy(), ref(torch.tensor(idx)).numpy())
    assert not m.weight.requires_grad
    with pytest.raises(tg.ShapeError, match=r"from_pretrained: embeddings must be 2-d .*\[3\]"):
        tg.nn.Embedding.from_pretrained(tg.ones(3))
