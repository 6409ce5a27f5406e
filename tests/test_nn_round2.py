"""Issue 15, nn part: the new functional ops against PyTorch 2.13 in float64 (values, first
and second-order gradients of every float input, forward-mode tangents, float32 values).
The layers, ParameterDict, reprs and errors are in test_nn_round2_modules.py."""
import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F

from parity import Row, check_row, parametrize

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional


def rn(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def both(call):
    """The same call on F (tapegrad) and TF (torch): ``call(module)``."""
    return (lambda *a: call(F, *a)), (lambda *a: call(TF, *a))


def row(name, call, make, **kw):
    return Row(name, *both(call), make, **kw)


def _pos(*shape, low=0.3, high=2.0):
    return lambda rng: [rng.uniform(low, high, shape)]


def _cat(*makers):
    return lambda rng: [a for m in makers for a in m(rng)]


def _const(*arrays):
    return lambda rng: [np.asarray(a) for a in arrays]


def _torch_multi_margin(x, y, p, margin, w):
    """PyTorch's multi_margin_loss formula as torch ops (which have a double backward)."""
    z = (margin - x.gather(1, y[:, None]) + x).clamp_min(0) ** p * w.detach()[y][:, None]
    mask = torch.arange(x.shape[1])[None, :] != y[:, None]
    return ((z * mask).sum(1) / x.shape[1]).mean()


Y3 = np.array([2, 0, 3])
SIGNS = np.array([[1.0, -1.0, 1.0, -1.0], [-1.0, -1.0, 1.0, 1.0], [1.0, 1.0, -1.0, -1.0]])
W4 = np.array([0.5, 1.5, 1.0, 2.0])


def _away_from_hinge(rng):
    x = rng.uniform(-2, 2, (3, 4))
    return [x + 0.3 * (np.abs(x - 1.0) < 0.15), SIGNS]


def _counts(rng):
    y = rng.uniform(0.2, 4.0, (3, 4))   # > 0: PyTorch's Stirling gradient is NaN at y = 0
    return [rng.uniform(-1, 1, (3, 4)), y]


def _small_var(rng):
    v = rng.uniform(0.3, 2.0, (3, 2))
    v[0, 1] = 0.01           # below eps=0.05: clamped in value, gradient passes through
    return [rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), v]


ROWS = [
    # im2col / col2im
    row("unfold", lambda f, x: f.unfold(x, 2), rn((2, 2, 4, 5))),
    row("unfold-all-args", lambda f, x: f.unfold(x, (2, 3), dilation=(2, 1), padding=(1, 2),
                                                  stride=(2, 3)), rn((2, 3, 6, 7))),
    row("unfold-unbatched", lambda f, x: f.unfold(x, 3, padding=1), rn((2, 3, 3))),
    row("fold", lambda f, x: f.fold(x, (4, 5), 2), rn((2, 8, 12))),
    row("fold-all-args", lambda f, x: f.fold(x, (5, 4), (2, 3), dilation=(2, 1), padding=1,
                                             stride=(2, 1)), rn((1, 12, 12))),
    row("fold-gaps-unbatched", lambda f, x: f.fold(x, 5, 2, stride=3), rn((4, 4))),
    row("fold-of-unfold", lambda f, x: f.fold(f.unfold(x, 3, padding=1, stride=2), (5, 6), 3,
                                              padding=1, stride=2), rn((2, 2, 5, 6))),
    # pixel shuffle
    row("pixel_shuffle", lambda f, x: f.pixel_shuffle(x, 2), rn((2, 8, 2, 3))),
    row("pixel_shuffle-5d", lambda f, x: f.pixel_shuffle(x, 3), rn((2, 1, 9, 1, 2))),
    row("pixel_unshuffle", lambda f, x: f.pixel_unshuffle(x, 2), rn((2, 2, 4, 6))),
    row("pixel_unshuffle-3d", lambda f, x: f.pixel_unshuffle(x, 3), rn((1, 3, 6))),
    # normalisation
    row("normalize", lambda f, x: f.normalize(x), rn((3, 4))),
    row("normalize-p1-dim", lambda f, x: f.normalize(x, p=1.0, dim=-1), rn((2, 3, 4))),
    row("normalize-p3-1d", lambda f, x: f.normalize(x, 3.0, 0), rn((5,))),
    row("normalize-eps-clamps", lambda f, x: f.normalize(x, eps=10.0), rn((3, 4))),
    row("rms_norm", lambda f, x, w: f.rms_norm(x, (4,), w), rn((3, 4), (4,))),
    row("rms_norm-2dims-eps", lambda f, x: f.rms_norm(x, [2, 3], eps=0.1), rn((4, 2, 3))),
    row("rms_norm-default-eps", lambda f, x, w: f.rms_norm(x, (2, 3), w),
        rn((2, 2, 3), (2, 3))),
    row("instance_norm", lambda f, x: f.instance_norm(x), rn((2, 3, 5))),
    row("instance_norm-affine-4d", lambda f, x, w, b: f.instance_norm(x, weight=w, bias=b),
        rn((2, 3, 3, 4), (3,), (3,)), rtol=1e-6),
    row("instance_norm-5d-eps", lambda f, x: f.instance_norm(x, eps=0.1), rn((2, 2, 2, 3, 2))),
    # transposed 1-d convolution
    row("conv_transpose1d", lambda f, x, w, b: f.conv_transpose1d(x, w, b),
        rn((2, 3, 5), (3, 2, 3), (2,))),
    row("conv_transpose1d-stride-pad-outpad",
        lambda f, x, w: f.conv_transpose1d(x, w, stride=3, padding=1, output_padding=2),
        rn((2, 2, 4), (2, 3, 3))),
    row("conv_transpose1d-groups-dilation",
        lambda f, x, w, b: f.conv_transpose1d(x, w, b, groups=2, dilation=2, stride=2),
        rn((1, 4, 4), (4, 1, 3), (2,))),
    row("conv_transpose1d-unbatched", lambda f, x, w: f.conv_transpose1d(x, w, padding=1),
        rn((2, 5), (2, 3, 3))),
    # adaptive max pooling (random inputs: no ties)
    row("adaptive_max_pool2d", lambda f, x: f.adaptive_max_pool2d(x, (3, 2)), rn((2, 2, 7, 5))),
    row("adaptive_max_pool2d-indices", lambda f, x: f.adaptive_max_pool2d(x, 3, True),
        rn((2, 3, 5, 4))),
    row("adaptive_max_pool2d-None-up", lambda f, x: f.adaptive_max_pool2d(x, (None, 6)),
        rn((2, 3, 4))),
    row("adaptive_max_pool2d-global", lambda f, x: f.adaptive_max_pool2d(x, 1), rn((2, 3, 4, 4))),
    row("adaptive_max_pool1d-indices", lambda f, x: f.adaptive_max_pool1d(x, 3, True),
        rn((2, 2, 8))),
    # distances and margin losses
    row("pairwise_distance", lambda f, a, b: f.pairwise_distance(a, b), rn((4, 3), (4, 3))),
    row("pairwise_distance-p1-keepdim-bcast", lambda f, a, b: f.pairwise_distance(
        a, b, 1.0, 1e-3, True), rn((4, 3), (3,))),
    row("triplet_margin_loss", lambda f, a, p, n: f.triplet_margin_loss(a, p, n, margin=2.0),
        rn((5, 3), (5, 3), (5, 3))),
    row("triplet_margin_loss-p1-sum", lambda f, a, p, n: f.triplet_margin_loss(
        a, p, n, margin=3.0, p=1, reduction="sum"), rn((5, 3), (5, 3), (5, 3))),
    row("triplet_margin_loss-swap-none", lambda f, a, p, n: f.triplet_margin_loss(
        a, p, n, margin=3.0, swap=True, reduction="none"), rn((5, 3), (5, 3), (5, 3))),
    row("triplet_margin_loss-1d", lambda f, a, p, n: f.triplet_margin_loss(a, p, n, 4.0),
        rn((3,), (3,), (3,))),
    row("hinge_embedding_loss", lambda f, x, t: f.hinge_embedding_loss(x, t), _away_from_hinge),
    row("hinge_embedding_loss-margin-none", lambda f, x, t: f.hinge_embedding_loss(
        x, t, margin=0.5, reduction="none"), _away_from_hinge),
    row("hinge_embedding_loss-sum", lambda f, x, t: f.hinge_embedding_loss(
        x, t, reduction="sum"), _away_from_hinge),
    # PyTorch has no double backward for multi_margin_loss: second order against its formula
    row("multi_margin_loss", lambda f, x, y: f.multi_margin_loss(x, y), _cat(rn((3, 4)),
                                                                           _const(Y3)),
        grad2=False),
    row("multi_margin_loss-p2-none", lambda f, x, y: f.multi_margin_loss(
        x, y, p=2, margin=0.7, reduction="none"), _cat(rn((3, 4)), _const(Y3)), grad2=False),
    row("multi_margin_loss-weight-sum", lambda f, x, y, w: f.multi_margin_loss(
        x, y, weight=w.detach(), reduction="sum"), _cat(rn((3, 4)), _const(Y3, W4)),
        grad2=False),
    row("multi_margin_loss-1d", lambda f, x, y: f.multi_margin_loss(x, y), _cat(
        rn((5,)), _const(np.array(1))), grad2=False),
    Row("multi_margin_loss-p2-2nd-order", lambda x, y, w: F.multi_margin_loss(
        x, y, p=2, margin=0.7, weight=w.detach()), lambda x, y, w: _torch_multi_margin(
        x, y, 2, 0.7, w), _cat(rn((3, 4)), _const(Y3, W4))),
    row("multilabel_soft_margin_loss", lambda f, x, y: f.multilabel_soft_margin_loss(x, y),
        lambda rng: [rng.standard_normal((3, 4)), rng.uniform(0, 1, (3, 4))]),
    row("multilabel_soft_margin_loss-weight-none", lambda f, x, y, w:
        f.multilabel_soft_margin_loss(x, y, weight=w, reduction="none"),
        lambda rng: [rng.standard_normal((3, 4)), (rng.uniform(0, 1, (3, 4)) > 0.5) * 1.0,
                     rng.uniform(0.5, 2, (4,))]),
    # likelihood losses
    row("poisson_nll_loss", lambda f, x, y: f.poisson_nll_loss(x, y), _counts),
    row("poisson_nll_loss-full-sum", lambda f, x, y: f.poisson_nll_loss(
        x, y, full=True, reduction="sum"), _counts),
    row("poisson_nll_loss-rate-full-none", lambda f, x, y: f.poisson_nll_loss(
        x.abs() + 0.1, y, log_input=False, full=True, eps=0.01, reduction="none"), _counts),
    row("gaussian_nll_loss", lambda f, x, y, v: f.gaussian_nll_loss(x, y, v),
        _cat(rn((3, 2), (3, 2)), _pos(3, 2))),
    row("gaussian_nll_loss-homoscedastic-full", lambda f, x, y, v: f.gaussian_nll_loss(
        x, y, v, full=True, reduction="sum"), _cat(rn((3, 2), (3, 2)), _pos(3))),
    row("gaussian_nll_loss-(N,1)-none", lambda f, x, y, v: f.gaussian_nll_loss(
        x, y, v, reduction="none"), _cat(rn((3, 2), (3, 2)), _pos(3, 1))),
    row("gaussian_nll_loss-one-size-1-dim", lambda f, x, y, v: f.gaussian_nll_loss(x, y, v),
        _cat(rn((2, 3, 2), (2, 3, 2)), _pos(2, 1, 2))),
    row("gaussian_nll_loss-float-var", lambda f, x, y: f.gaussian_nll_loss(x, y, 0.7),
        rn((3, 2), (3, 2))),
    row("gaussian_nll_loss-clamped", lambda f, x, y, v: f.gaussian_nll_loss(x, y, v, eps=0.05),
        _small_var),
]


@parametrize(ROWS)
def test_functional_matches_pytorch(row):
    check_row(row)


def test_registry_has_every_new_op():
    from tapegrad.core.registry import OPS
    for name in ("nn.functional.unfold", "nn.functional.fold", "pixel_shuffle",
                 "pixel_unshuffle", "normalize", "rms_norm", "instance_norm",
                 "conv_transpose1d", "adaptive_max_pool2d", "adaptive_max_pool1d", "dropout1d",
                 "dropout2d", "dropout3d", "pairwise_distance", "triplet_margin_loss",
                 "poisson_nll_loss", "gaussian_nll_loss", "hinge_embedding_loss",
                 "multilabel_soft_margin_loss", "multi_margin_loss"):
        assert OPS[name].samples is not None, name
    assert F.unfold is OPS["nn.functional.unfold"].fn and F.fold is OPS["nn.functional.fold"].fn
    assert tg.pixel_shuffle is F.pixel_shuffle


def test_adaptive_max_pool_picks_the_first_maximum_and_nan():
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, np.nan]]]])
    for out in (1, (1, 2), (2, 2)):
        a, ia = F.adaptive_max_pool2d(tg.tensor(x), out, return_indices=True)
        b, ib = TF.adaptive_max_pool2d(torch.tensor(x), out, return_indices=True)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(ia.numpy(), ib.numpy())
    g = tg.tensor(np.array([[[[1.0, 2.0, 2.0, 0.0]]]]), requires_grad=True)
    F.adaptive_max_pool2d(g, (1, 2)).sum().backward()
    t = torch.tensor(np.array([[[[1.0, 2.0, 2.0, 0.0]]]]), requires_grad=True)
    TF.adaptive_max_pool2d(t, (1, 2)).sum().backward()
    np.testing.assert_array_equal(g.grad.numpy(), t.grad.numpy())   # [0, 2, 0, 0]


def test_poisson_full_target_gradient_is_zero_where_pytorch_gives_nan():
    y = tg.tensor([0.0, 0.5, 3.0], requires_grad=True)
    F.poisson_nll_loss(tg.tensor([0.1, 0.2, 0.3]), y, full=True).backward()
    t = torch.tensor([0.0, 0.5, 3.0], requires_grad=True)
    TF.poisson_nll_loss(torch.tensor([0.1, 0.2, 0.3]), t, full=True).backward()
    assert np.isnan(t.grad[0].item())
    np.testing.assert_allclose(y.grad.numpy()[0], -0.1 / 3, rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy()[1:], t.grad.numpy()[1:], rtol=1e-6)
