"""PyTorch parity for the losses: values, gradients (input and, where PyTorch has one, the
target) and 2nd-order gradients, for every reduction and notable variant."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tapegrad as tg
import tapegrad.nn.functional as F
from parity import Row, check_row, parametrize


def rn(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def away(low=0.2):
    """Two inputs whose difference stays away from 0 (the kink of l1/smooth_l1/huber)."""
    def make(rng):
        a = rng.standard_normal((3, 4))
        d = rng.uniform(low, 2.0, (3, 4)) * rng.choice([-1, 1], (3, 4))
        return [a, a - d]
    return make


T = np.array([0, 2, 1, 2, 0])                   # class indices for (5, 3) logits
T_IGN = np.array([0, -100, 1, 2, -100])
T_ND = np.array([[0, 2, 1], [1, 1, 0]])          # for (2, 3, 3) logits
W3 = np.array([0.5, 2.0, 1.5])


def ce(**kw):
    return (lambda x: F.cross_entropy(x, tg.tensor(kw.get("t", T)), **_tg_kw(kw)),
            lambda x: TF.cross_entropy(x, torch.tensor(kw.get("t", T)), **_torch_kw(kw, x)))


def nll(**kw):
    return (lambda x: F.nll_loss(x, tg.tensor(kw.get("t", T)), **_tg_kw(kw)),
            lambda x: TF.nll_loss(x, torch.tensor(kw.get("t", T)), **_torch_kw(kw, x)))


def _tg_kw(kw):
    out = {k: v for k, v in kw.items() if k != "t"}
    if "weight" in out:
        out["weight"] = tg.tensor(out["weight"])
    return out


def _torch_kw(kw, x):
    out = {k: v for k, v in kw.items() if k != "t"}
    if "weight" in out:
        out["weight"] = torch.tensor(out["weight"], dtype=x.dtype)
    return out


def probs(shape, axis=1):
    def make(rng):
        p = rng.uniform(0.1, 1.0, shape)
        return [rng.standard_normal(shape), p / p.sum(axis=axis, keepdims=True)]
    return make


W4 = np.array([0.5, 1.0, 2.0, 1.5])
PW = np.array([3.0, 0.5, 1.0, 2.0])
Y3 = np.array([1, -1, -1])


def bce_inputs(rng):
    return [rng.uniform(0.05, 0.95, (3, 4)), rng.uniform(0, 1, (3, 4))]


def logit_inputs(rng):
    return [rng.standard_normal((3, 4)) * 2, rng.uniform(0, 1, (3, 4))]


def kl_inputs(rng):
    t = rng.uniform(0.1, 1.0, (3, 4))
    return [np.log(rng.dirichlet(np.ones(4), 3)), t / t.sum(1, keepdims=True)]


def ranking_inputs(rng):
    a = rng.standard_normal(5)
    b = a + rng.uniform(0.3, 1.0, 5) * rng.choice([-1, 1], 5)   # hinge away from 0
    return [a, b, np.array([1.0, -1.0, 1.0, 1.0, -1.0])]


ROWS = [
    Row("mse_loss", F.mse_loss, TF.mse_loss, rn((3, 4), (3, 4))),
    Row("mse_loss-sum", lambda a, b: F.mse_loss(a, b, reduction="sum"),
        lambda a, b: TF.mse_loss(a, b, reduction="sum"), rn((3, 4), (3, 4))),
    Row("mse_loss-none", lambda a, b: F.mse_loss(a, b, reduction="none"),
        lambda a, b: TF.mse_loss(a, b, reduction="none"), rn((3, 4), (3, 4))),
    Row("mse_loss-weight", lambda a, b, w: F.mse_loss(a, b, weight=w),
        lambda a, b, w: TF.mse_loss(a, b, weight=w), rn((3, 4), (3, 4), (3, 4))),
    Row("l1_loss", F.l1_loss, TF.l1_loss, away()),
    Row("l1_loss-none", lambda a, b: F.l1_loss(a, b, reduction="none"),
        lambda a, b: TF.l1_loss(a, b, reduction="none"), away()),
    Row("smooth_l1_loss", F.smooth_l1_loss, TF.smooth_l1_loss, away()),
    Row("smooth_l1_loss-beta-sum", lambda a, b: F.smooth_l1_loss(a, b, beta=0.5, reduction="sum"),
        lambda a, b: TF.smooth_l1_loss(a, b, beta=0.5, reduction="sum"), away()),
    Row("smooth_l1_loss-beta0", lambda a, b: F.smooth_l1_loss(a, b, beta=0.0),
        lambda a, b: TF.smooth_l1_loss(a, b, beta=0.0), away()),
    Row("huber_loss", F.huber_loss, TF.huber_loss, away()),
    Row("huber_loss-delta-none", lambda a, b: F.huber_loss(a, b, delta=0.7, reduction="none"),
        lambda a, b: TF.huber_loss(a, b, delta=0.7, reduction="none"), away()),
    Row("cross_entropy", *ce(), rn((5, 3))),
    Row("cross_entropy-sum", *ce(reduction="sum"), rn((5, 3))),
    Row("cross_entropy-none", *ce(reduction="none"), rn((5, 3))),
    Row("cross_entropy-weight", *ce(weight=W3), rn((5, 3))),
    Row("cross_entropy-ignore_index", *ce(t=T_IGN), rn((5, 3))),
    Row("cross_entropy-ignore-custom", *ce(t=np.array([0, 1, 1, 2, 0]), ignore_index=1,
                                           reduction="none"), rn((5, 3))),
    Row("cross_entropy-label_smoothing", *ce(label_smoothing=0.2), rn((5, 3))),
    Row("cross_entropy-all-options", *ce(t=T_IGN, weight=W3, label_smoothing=0.15), rn((5, 3))),
    Row("cross_entropy-all-options-sum", *ce(t=T_IGN, weight=W3, label_smoothing=0.15,
                                             reduction="sum"), rn((5, 3))),
    Row("cross_entropy-all-options-none", *ce(t=T_IGN, weight=W3, label_smoothing=0.15,
                                              reduction="none"), rn((5, 3))),
    Row("cross_entropy-Nd", *ce(t=T_ND), rn((2, 3, 3))),
    Row("cross_entropy-Nd-none-weight", *ce(t=T_ND, weight=W3, reduction="none"), rn((2, 3, 3))),
    Row("cross_entropy-unbatched", *ce(t=np.array(2)), rn((3,))),
    Row("cross_entropy-probs", F.cross_entropy, TF.cross_entropy, probs((4, 3))),
    Row("cross_entropy-probs-smoothing-weight",
        lambda x, p: F.cross_entropy(x, p, weight=tg.tensor(W3), label_smoothing=0.1),
        lambda x, p: TF.cross_entropy(x, p, weight=torch.tensor(W3, dtype=x.dtype),
                                      label_smoothing=0.1), probs((4, 3))),
    Row("cross_entropy-probs-Nd-none", lambda x, p: F.cross_entropy(x, p, reduction="none"),
        lambda x, p: TF.cross_entropy(x, p, reduction="none"), probs((2, 3, 2))),
    Row("cross_entropy-large-logits", *ce(), lambda rng: [rng.standard_normal((5, 3)) * 1000]),
    Row("nll_loss", *nll(), rn((5, 3))),
    Row("nll_loss-weight-ignore", *nll(t=T_IGN, weight=W3), rn((5, 3))),
    Row("nll_loss-Nd-none", *nll(t=T_ND, reduction="none"), rn((2, 3, 3))),
    Row("nll_loss-sum", *nll(reduction="sum"), rn((5, 3))),
    Row("binary_cross_entropy", F.binary_cross_entropy, TF.binary_cross_entropy, bce_inputs),
    Row("binary_cross_entropy-weight-sum",
        lambda p, y: F.binary_cross_entropy(p, y, weight=tg.tensor(W4), reduction="sum"),
        lambda p, y: TF.binary_cross_entropy(p, y, weight=torch.tensor(W4, dtype=p.dtype),
                                             reduction="sum"), bce_inputs),
    Row("binary_cross_entropy-none", lambda p, y: F.binary_cross_entropy(p, y, reduction="none"),
        lambda p, y: TF.binary_cross_entropy(p, y, reduction="none"), bce_inputs),
    Row("bce_with_logits", F.binary_cross_entropy_with_logits,
        TF.binary_cross_entropy_with_logits, logit_inputs),
    Row("bce_with_logits-pos_weight-weight",
        lambda x, y: F.binary_cross_entropy_with_logits(x, y, weight=tg.tensor(W4),
                                                        pos_weight=tg.tensor(PW)),
        lambda x, y: TF.binary_cross_entropy_with_logits(
            x, y, weight=torch.tensor(W4, dtype=x.dtype), pos_weight=torch.tensor(PW, dtype=x.dtype)),
        logit_inputs),
    Row("bce_with_logits-none", lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
        lambda x, y: TF.binary_cross_entropy_with_logits(x, y, reduction="none"), logit_inputs),
    Row("bce_with_logits-large", F.binary_cross_entropy_with_logits,
        TF.binary_cross_entropy_with_logits,
        lambda rng: [np.array([[1000.0, -1000.0, 30.0, -30.0]] * 3), rng.uniform(0, 1, (3, 4))]),
    Row("kl_div", F.kl_div, TF.kl_div, kl_inputs),
    Row("kl_div-batchmean", lambda x, t: F.kl_div(x, t, reduction="batchmean"),
        lambda x, t: TF.kl_div(x, t, reduction="batchmean"), kl_inputs),
    Row("kl_div-sum", lambda x, t: F.kl_div(x, t, reduction="sum"),
        lambda x, t: TF.kl_div(x, t, reduction="sum"), kl_inputs),
    Row("kl_div-none", lambda x, t: F.kl_div(x, t, reduction="none"),
        lambda x, t: TF.kl_div(x, t, reduction="none"), kl_inputs),
    Row("kl_div-log_target", lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=True),
        lambda x, t: TF.kl_div(x, t, reduction="batchmean", log_target=True), rn((3, 4), (3, 4))),
    Row("cosine_embedding_loss", lambda a, b: F.cosine_embedding_loss(a, b, tg.tensor(Y3)),
        lambda a, b: TF.cosine_embedding_loss(a, b, torch.tensor(Y3)), rn((3, 4), (3, 4))),
    Row("cosine_embedding_loss-margin-none",
        lambda a, b: F.cosine_embedding_loss(a, b, tg.tensor(Y3), margin=-0.5, reduction="none"),
        lambda a, b: TF.cosine_embedding_loss(a, b, torch.tensor(Y3), margin=-0.5,
                                              reduction="none"), rn((3, 4), (3, 4))),
    Row("cosine_embedding_loss-1d", lambda a, b: F.cosine_embedding_loss(a, b, tg.tensor(-1), margin=-1.0),
        lambda a, b: TF.cosine_embedding_loss(a, b, torch.tensor(-1), margin=-1.0), rn((4,), (4,))),
    Row("margin_ranking_loss", F.margin_ranking_loss, TF.margin_ranking_loss, ranking_inputs),
    Row("margin_ranking_loss-margin-sum",
        lambda a, b, y: F.margin_ranking_loss(a, b, y, margin=0.2, reduction="sum"),
        lambda a, b, y: TF.margin_ranking_loss(a, b, y, margin=0.2, reduction="sum"),
        ranking_inputs),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


def test_cross_entropy_stable_at_1000():
    for dtype in (np.float32, np.float64):
        x = tg.tensor(np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype=dtype),
                      requires_grad=True)
        t = tg.tensor([1, 2])
        loss = F.cross_entropy(x, t)
        tx = torch.tensor(x.numpy(), requires_grad=True)
        tloss = TF.cross_entropy(tx, torch.tensor([1, 2]))
        tloss.backward()
        loss.backward()
        assert np.isfinite(loss.item())
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=1e-6)


def test_cross_entropy_all_ignored_is_nan_like_torch():
    x = tg.randn(2, 3, requires_grad=True)
    loss = F.cross_entropy(x, tg.tensor([-100, -100]))
    assert np.isnan(loss.item())
    assert F.cross_entropy(x, tg.tensor([-100, -100]), reduction="sum").item() == 0.0


def test_cross_entropy_errors():
    x = tg.randn(3, 4)
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        F.cross_entropy(x, tg.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match="batch_size"):
        F.cross_entropy(x, tg.tensor([0, 1]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(x, tg.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(RuntimeError, match="weight tensor"):
        F.cross_entropy(x, tg.tensor([0, 1, 2]), weight=tg.ones(3))
    with pytest.raises(RuntimeError, match="probabilit"):
        F.cross_entropy(x, tg.rand(3, 3))
    with pytest.raises(IndexError, match="nll_loss"):
        F.nll_loss(x, tg.tensor([0, -1, 1]))


def test_cross_entropy_float32_and_no_target_grad():
    x = tg.randn(4, 3, requires_grad=True)
    loss = F.cross_entropy(x, tg.tensor([0, 1, 2, 1]))
    assert loss.dtype == tg.float32 and loss.shape == ()
    loss.backward()
    assert x.grad.dtype == tg.float32
    np.testing.assert_allclose(x.grad.numpy().sum(1), 0, atol=1e-6)


def test_bce_with_logits_stable_at_1000():
    x = tg.tensor([1000.0, -1000.0, 1000.0, -1000.0], requires_grad=True)
    y = tg.tensor([1.0, 0.0, 0.0, 1.0])
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [0, 0, 1000, 1000])
    loss.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 1, -1])
    pw = tg.tensor([2.0, 2.0, 2.0, 2.0])
    loss = F.binary_cross_entropy_with_logits(x.detach(), y, pos_weight=pw, reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [0, 0, 1000, 2000])


def test_bce_clamps_log_at_minus_100():
    p = tg.tensor([0.0, 1.0, 0.5], dtype=tg.float64, requires_grad=True)
    y = tg.tensor([1.0, 0.0, 1.0], dtype=tg.float64)
    loss = F.binary_cross_entropy(p, y, reduction="none")
    tl = TF.binary_cross_entropy(torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64),
                                 torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64),
                                 reduction="none")
    np.testing.assert_allclose(loss.numpy(), tl.numpy())
    loss.sum().backward()
    assert np.all(np.isfinite(p.grad.numpy()))  # PyTorch divides by max(p(1-p), 1e-12)
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(tg.tensor([1.5]), tg.tensor([1.0]))
    with pytest.raises(ValueError, match="target size"):
        F.binary_cross_entropy(tg.tensor([0.5, 0.5]), tg.tensor([1.0]))


def test_kl_div_zero_target_has_no_nan():
    x = tg.tensor([[-1.0, -2.0, -0.5]], dtype=tg.float64, requires_grad=True)
    t = tg.tensor([[0.0, 0.4, 0.6]], dtype=tg.float64, requires_grad=True)
    loss = F.kl_div(x, t, reduction="sum")
    tt = torch.tensor([[0.0, 0.4, 0.6]], dtype=torch.float64)
    np.testing.assert_allclose(loss.item(), TF.kl_div(torch.tensor(x.numpy()), tt,
                                                      reduction="sum").item())
    loss.backward()
    assert np.all(np.isfinite(t.grad.numpy())) and np.all(np.isfinite(x.grad.numpy()))


def test_hinge_losses_kink_convention():
    # at the hinge tapegrad passes 0 (relu'(0) = 0)
    a = tg.tensor([1.0], requires_grad=True)
    F.margin_ranking_loss(a, tg.tensor([1.0]), tg.tensor([1.0])).backward()
    assert a.grad.item() == 0.0


def test_loss_reduction_errors():
    with pytest.raises(ValueError, match="mse_loss: avg is not a valid value"):
        F.mse_loss(tg.randn(2), tg.randn(2), reduction="avg")
    with pytest.raises(ValueError, match="weights and input"):
        F.mse_loss(tg.randn(2), tg.randn(2), weight=tg.ones(3))
    with pytest.warns(UserWarning, match="target size"):
        F.mse_loss(tg.randn(2, 3), tg.randn(3))
    with pytest.raises(RuntimeError, match="margin_ranking_loss"):
        F.margin_ranking_loss(tg.randn(2), tg.randn(3), tg.ones(2))


@pytest.mark.parametrize("dtype,v", [(np.float32, 1e4), (np.float64, 1e300)])
@pytest.mark.parametrize("ls", [0.0, 0.1])
def test_cross_entropy_extreme_logits_match_torch_to_second_order(dtype, v, ls):
    # reliability case 35: max-shift in forward and backward, finite 1st and 2nd order
    x0 = np.array([[v, -v, 0.0], [-v, v, v * 0.5], [0.0, 0.0, -v]], dtype=dtype)
    x = tg.tensor(x0, requires_grad=True)
    loss = F.cross_entropy(x, tg.tensor([1, 2, 0]), label_smoothing=ls)
    g, = tg.grad(loss, [x], create_graph=True)
    h, = tg.grad((g * g).sum(), [x])
    tx = torch.tensor(x0, requires_grad=True)
    tl = TF.cross_entropy(tx, torch.tensor([1, 2, 0]), label_smoothing=ls)
    tgr, = torch.autograd.grad(tl, tx, create_graph=True)
    th, = torch.autograd.grad((tgr * tgr).sum(), tx)
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-6)
    np.testing.assert_allclose(g.numpy(), tgr.detach().numpy(), atol=1e-6)
    assert np.all(np.isfinite(h.numpy()))
    np.testing.assert_allclose(h.numpy(), th.numpy(), atol=1e-6)


@pytest.mark.parametrize("classes", [10, 300])  # class-major softmax (few classes) and row-major
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_float32_layouts_and_non_finite_rows_match_torch(classes, reduction):
    # the fused primitive keeps float32 throughout; rows whose max is +inf, all -inf or NaN
    # give NaN loss and gradient exactly where PyTorch does
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((6, classes)).astype(np.float32)
    x0[1, 3] = np.inf
    x0[2, :] = -np.inf
    x0[3, 0] = np.nan
    t = rng.integers(0, classes, 6)
    x = tg.tensor(x0, requires_grad=True)
    with np.errstate(all="ignore"):
        loss = F.cross_entropy(x, tg.tensor(t), reduction=reduction)
        (loss.sum() if reduction == "none" else loss).backward()
    tx = torch.tensor(x0, requires_grad=True)
    tl = TF.cross_entropy(tx, torch.tensor(t), reduction=reduction)
    (tl.sum() if reduction == "none" else tl).backward()
    assert loss.dtype == tg.float32 and x.grad.dtype == tg.float32
    np.testing.assert_allclose(loss.numpy(), tl.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
