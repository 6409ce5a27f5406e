"""Optimizers and schedulers against PyTorch: 20-step trajectories for every option,
lr sequences, state_dict round trips and the reliability cases (39, 55)."""
import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import optim

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
W0 = RNG.standard_normal((4, 3)).astype(np.float32)
B0 = RNG.standard_normal((3,)).astype(np.float32)
X = RNG.standard_normal((8, 4)).astype(np.float32)
Y = RNG.standard_normal((8, 3)).astype(np.float32)


def _loss(lib, w, b):
    x, y = (tg.tensor(X), tg.tensor(Y)) if lib is tg else (torch.tensor(X), torch.tensor(Y))
    h = (x @ w + b).tanh()
    return ((h - y) ** 2).sum() / 8 + (w ** 2).sum() * 0.01


def _trajectory(lib, opt_cls, kwargs, steps=20, sched=None):
    if lib is tg:
        w, b = tg.tensor(W0, requires_grad=True), tg.tensor(B0, requires_grad=True)
    else:
        w, b = torch.tensor(W0, requires_grad=True), torch.tensor(B0, requires_grad=True)
    opt = opt_cls([w, b], **kwargs)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = _loss(lib, w, b)
        loss.backward()
        opt.step()
        out.append((np.array(w.detach().numpy()), np.array(b.detach().numpy())))
    return out


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6)),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_trajectory_matches_pytorch(name, kwargs):
    ours = _trajectory(tg, getattr(optim, name), kwargs)
    theirs = _trajectory(torch, getattr(torch.optim, name), kwargs)
    for step, ((w, b), (tw, tb)) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(w, tw, atol=1e-6, rtol=1e-5, err_msg=f"step {step}")
        np.testing.assert_allclose(b, tb, atol=1e-6, rtol=1e-5, err_msg=f"step {step}")


def test_updates_in_place_and_bump_version():
    w = tg.tensor(W0, requires_grad=True)
    arr, v = w._data, w._version
    opt = optim.Adam([w], lr=0.1)
    (w ** 2).sum().backward()
    opt.step()
    assert w._data is arr and w._version == v + 1 and w.is_leaf and w.requires_grad


def test_seed_stateless_form():
    """SGD(learning_rate=..., momentum=...) with step(params) / zero_grad(params), also
    SGD(0.01) with the rate in the params position."""
    w1, b1 = tg.tensor(W0, requires_grad=True), tg.tensor(B0, requires_grad=True)
    opt = optim.SGD(learning_rate=0.1, momentum=0.9)
    ref = _trajectory(torch, torch.optim.SGD, dict(lr=0.1, momentum=0.9), steps=5)
    for step in range(5):
        _loss(tg, w1, b1).backward()
        opt.step([w1, b1])
        opt.zero_grad([w1, b1])
        assert w1.grad is None
        np.testing.assert_allclose(w1.numpy(), ref[step][0], atol=1e-6)
    assert optim.SGD(0.01).defaults["lr"] == 0.01
    assert optim.Adam(learning_rate=0.3).defaults["lr"] == 0.3


def test_param_groups_and_zero_grad():
    model = tg.nn.Sequential(tg.nn.Linear(4, 3), tg.nn.Linear(3, 2))
    opt = optim.SGD([{"params": model[0].parameters()},
                     {"params": model[1].parameters(), "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    model(tg.randn(2, 4)).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert all(float(p.grad.abs().sum()) == 0 for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [model[0].weight]}, {"params": [model[0].weight]}], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)


def _model_opt(seed=0):
    tg.manual_seed(seed)
    model = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.Linear(8, 3))
    return model, optim.Adam(model.parameters(), lr=0.01)


def _train(model, opt, steps):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(tg.tensor(X)) - tg.tensor(Y)) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


def test_state_dict_keyed_by_names_and_round_trip():
    model, opt = _model_opt()
    _train(model, opt, 3)
    sd = opt.state_dict()
    assert list(sd["state"]) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert sd["param_groups"][0]["params"] == list(sd["state"])
    model2, opt2 = _model_opt()
    model2.load_state_dict(model.state_dict())
    opt2.load_state_dict(sd)
    assert _train(model, opt, 3) == _train(model2, opt2, 3)


def test_step_counter_is_a_float64_tensor_and_a_saved_number_still_loads():
    """As PyTorch's: state['step'] is a 0-d tensor (so tg.compile can trace Adam's bias
    correction as ops on state); a checkpoint holding a plain number loads the same."""
    model, opt = _model_opt()
    _train(model, opt, 3)
    sd = opt.state_dict()
    step = sd["state"]["0.weight"]["step"]
    assert isinstance(step, tg.Tensor) and step.dtype == tg.float64 and step.shape == ()
    assert float(step) == 3.0
    as_numbers = {"param_groups": sd["param_groups"],
                  "state": {k: {**v, "step": 3} for k, v in sd["state"].items()}}
    model2, opt2 = _model_opt()
    model2.load_state_dict(model.state_dict())
    opt2.load_state_dict(as_numbers)
    assert _train(model, opt, 2) == _train(model2, opt2, 2)
    assert float(opt2.state_dict()["state"]["0.weight"]["step"]) == 5.0


def test_amsgrad_after_loading_a_state_without_its_buffer():
    model, opt = _model_opt()
    _train(model, opt, 2)
    model2 = _model_opt()[0]
    model2.load_state_dict(model.state_dict())
    opt2 = optim.Adam(model2.parameters(), lr=0.01, amsgrad=True)
    opt2.load_state_dict({**opt.state_dict(), "param_groups": [
        {**opt.state_dict()["param_groups"][0], "amsgrad": True}]})
    _train(model2, opt2, 1)
    assert opt2.state[model2[0].weight]["max_exp_avg_sq"].shape == model2[0].weight.shape


def test_case55_reordered_parameters_attach_state_by_name():
    """State follows the names, not positions: a reordered parameter list still gets each
    parameter's own moments."""
    model, opt = _model_opt()
    _train(model, opt, 2)
    sd = opt.state_dict()
    model2, _ = _model_opt()
    model2.load_state_dict(model.state_dict())
    opt2 = optim.Adam(list(reversed(list(model2.named_parameters()))), lr=0.01)
    opt2.load_state_dict(sd)
    assert opt2.state[model2[1].bias]["exp_avg"].shape == (3,)
    np.testing.assert_array_equal(opt2.state[model2[0].weight]["exp_avg"],
                                  opt.state[model[0].weight]["exp_avg"])


def test_case55_mismatches_raise_naming_the_parameter():
    model, opt = _model_opt()
    _train(model, opt, 1)
    sd = opt.state_dict()
    tg.manual_seed(0)
    other = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.Linear(8, 5))   # 1.weight/1.bias differ
    opt2 = optim.Adam(other.parameters(), lr=0.01)
    with pytest.raises(ValueError, match=r"'1\.weight' has shape \[3, 8\].*\[5, 8\]"):
        opt2.load_state_dict(sd)
    assert opt2.state == {} and opt2.param_groups[0]["lr"] == 0.01   # nothing applied
    small = tg.nn.Sequential(tg.nn.Linear(4, 8))
    with pytest.raises(ValueError, match="'1.weight'"):
        optim.Adam(small.parameters(), lr=0.01).load_state_dict(sd)
    two_groups = optim.Adam([{"params": model[0].parameters()},
                             {"params": model[1].parameters()}], lr=0.01)
    with pytest.raises(ValueError, match="parameter group"):
        two_groups.load_state_dict(sd)


def test_case39_check_finite_raises_before_mutating():
    w, b = tg.tensor(W0, requires_grad=True), tg.tensor(B0, requires_grad=True)
    opt = optim.SGD([("w", w), ("b", b)], lr=0.1, momentum=0.9, check_finite=True)
    _loss(tg, w, b).backward()
    b.grad._data[1] = np.nan
    before = (w.numpy().copy(), b.numpy().copy())
    with pytest.raises(RuntimeError, match=r"non-finite.*'b' \[3\]"):
        opt.step()
    np.testing.assert_array_equal(w.numpy(), before[0])   # all or nothing
    np.testing.assert_array_equal(b.numpy(), before[1])
    assert opt.state == {}


def test_closure():
    w = tg.tensor(W0, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss
    assert float(opt.step(closure)) == pytest.approx(float((tg.tensor(W0) ** 2).sum()))


# -- schedulers -------------------------------------------------------------------------
def _lrs(lib, opt_name, opt_kw, sched_name, sched_kw, steps=30, metrics=None):
    p = (tg.tensor([1.0], requires_grad=True) if lib is tg
         else torch.tensor([1.0], requires_grad=True))
    o = getattr(lib.optim, opt_name)([p], **opt_kw)
    s = getattr(lib.optim.lr_scheduler, sched_name)(o, **sched_kw)
    out = []
    for i in range(steps):
        group = o.param_groups[0]
        out.append((group["lr"], group.get("momentum", group.get("betas", (None,))[0])))
        o.step()
        s.step(metrics[i]) if metrics is not None else s.step()
    return out


SCHEDS = [
    ("SGD", dict(lr=0.1), "StepLR", dict(step_size=4, gamma=0.5)),
    ("SGD", dict(lr=0.1), "ExponentialLR", dict(gamma=0.9)),
    ("SGD", dict(lr=0.1), "CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    ("SGD", dict(lr=0.1), "LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e))),
    ("SGD", dict(lr=0.1, momentum=0.9), "OneCycleLR", dict(max_lr=1.0, total_steps=31)),
    ("SGD", dict(lr=0.1, momentum=0.9), "OneCycleLR",
     dict(max_lr=1.0, total_steps=31, three_phase=True, anneal_strategy="linear")),
    ("Adam", dict(lr=0.1), "OneCycleLR", dict(max_lr=0.5, epochs=3, steps_per_epoch=11,
                                               pct_start=0.25)),
]


@pytest.mark.parametrize("case", SCHEDS, ids=[f"{c[2]}-{i}" for i, c in enumerate(SCHEDS)])
def test_scheduler_lr_sequence_matches_pytorch(case):
    ours = _lrs(tg, *case)
    theirs = _lrs(torch, *case)
    np.testing.assert_allclose(np.array(ours, dtype=float), np.array(theirs, dtype=float),
                               rtol=1e-12, atol=1e-15)


def test_reduce_on_plateau_matches_pytorch():
    metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6] * 2
    for kw in (dict(patience=2, factor=0.5), dict(patience=1, cooldown=2, mode="max"),
               dict(patience=0, threshold=0.1, threshold_mode="abs", min_lr=0.02)):
        ours = _lrs(tg, "SGD", dict(lr=0.1), "ReduceLROnPlateau", kw, len(metrics), metrics)
        theirs = _lrs(torch, "SGD", dict(lr=0.1), "ReduceLROnPlateau", kw, len(metrics),
                      metrics)
        np.testing.assert_allclose(np.array(ours, dtype=float), np.array(theirs, dtype=float))


def test_scheduler_closed_form_epoch_argument():
    p = tg.tensor([1.0], requires_grad=True)
    o = optim.SGD([p], lr=1.0)
    s = optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.1)
    s.step(5)
    assert math.isclose(s.get_last_lr()[0], 0.01)


def test_scheduler_state_dict_resume(tmp_path):
    def build():
        p = tg.tensor([1.0], requires_grad=True)
        o = optim.SGD([p], lr=0.1, momentum=0.9)
        return o, optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=20)

    o, s = build()
    straight = []
    for _ in range(12):
        o.step()
        s.step()
        straight.append((o.param_groups[0]["lr"], o.param_groups[0]["momentum"]))
    o, s = build()
    for _ in range(5):
        o.step()
        s.step()
    tg.save({"opt": o.state_dict(), "sched": s.state_dict()}, tmp_path / "ck")
    ck = tg.load(tmp_path / "ck")
    o2, s2 = build()
    o2.load_state_dict(ck["opt"])
    s2.load_state_dict(ck["sched"])
    resumed = straight[:5]
    for _ in range(7):
        o2.step()
        s2.step()
        resumed.append((o2.param_groups[0]["lr"], o2.param_groups[0]["momentum"]))
    assert resumed == straight
