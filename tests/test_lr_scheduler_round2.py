"""MultiStepLR, ConstantLR, LinearLR, PolynomialLR, CyclicLR, CosineAnnealingWarmRestarts,
SequentialLR and ChainedScheduler against torch.optim.lr_scheduler: the lr (and cycled
momentum) at every step, the closed forms behind ``step(epoch)``, state_dict resumes and
errors."""
import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import optim
from tapegrad.optim import lr_scheduler as S

torch = pytest.importorskip("torch")


def _lrs(lib, opt_name, opt_kw, build, steps=40, epochs=None):
    p = (tg.tensor([1.0], requires_grad=True) if lib is tg
         else torch.tensor([1.0], requires_grad=True))
    o = getattr(lib.optim, opt_name)([p], **opt_kw)
    s = build(lib.optim.lr_scheduler, o)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # PyTorch's deprecation of step(epoch)
        for i in range(steps):
            g = o.param_groups[0]
            out.append((g["lr"], g.get("momentum", g.get("betas", (np.nan,))[0]),
                        s.get_last_lr()[0]))
            o.step()
            s.step() if epochs is None else s.step(epochs[i])
    return np.array(out, dtype=float)


CASES = [
    ("SGD", {}, lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7, 20], gamma=0.5)),
    ("SGD", {}, lambda m, o: m.ConstantLR(o)),
    ("SGD", {}, lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=8)),
    ("SGD", {}, lambda m, o: m.LinearLR(o)),
    ("SGD", {}, lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.6, total_iters=13)),
    ("SGD", {}, lambda m, o: m.PolynomialLR(o)),
    ("SGD", {}, lambda m, o: m.PolynomialLR(o, total_iters=17, power=2.5)),
    ("SGD", dict(momentum=0.9),
     lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4)),
    ("SGD", dict(momentum=0.9),
     lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=5,
                             mode="triangular2")),
    ("Adam", {}, lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3,
                                         mode="exp_range", gamma=0.95, base_momentum=0.7,
                                         max_momentum=0.95)),
    ("NAdam", {}, lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3,
                                          scale_fn=lambda x: 0.5 ** x,
                                          scale_mode="iterations")),
    ("RMSprop", dict(momentum=0.5),
     lambda m, o: m.CyclicLR(o, base_lr=[0.02], max_lr=0.2, step_size_up=2,
                             scale_fn=lambda x: 1 / x)),
    ("Adadelta", {}, lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3,
                                             cycle_momentum=False)),
    ("SGD", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5)),
    ("SGD", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01)),
    ("SGD", {}, lambda m, o: m.SequentialLR(o, [m.LinearLR(o, start_factor=0.1, total_iters=4),
                                                m.CosineAnnealingLR(o, T_max=10)],
                                            milestones=[5])),
    ("SGD", {}, lambda m, o: m.SequentialLR(o, [m.ConstantLR(o, factor=0.5, total_iters=3),
                                                m.ExponentialLR(o, gamma=0.9),
                                                m.StepLR(o, step_size=3, gamma=0.5)],
                                            milestones=[4, 12])),
    ("SGD", {}, lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.1, total_iters=2),
                                                 m.ExponentialLR(o, gamma=0.9)])),
    ("SGD", {}, lambda m, o: m.ChainedScheduler([m.LinearLR(o, total_iters=6),
                                                 m.MultiStepLR(o, [5, 9]),
                                                 m.PolynomialLR(o, total_iters=30)],
                                                optimizer=o)),
    ("SGD", {}, lambda m, o: m.SequentialLR(o, [
        m.ChainedScheduler([m.ConstantLR(o, factor=0.5, total_iters=2),
                            m.ExponentialLR(o, gamma=0.8)]),
        m.CosineAnnealingWarmRestarts(o, T_0=4)], milestones=[6])),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_lr_sequence_matches_pytorch(case):
    name, kw, build = case
    kw = {"lr": 0.1, **kw}
    ours, theirs = _lrs(tg, name, kw, build), _lrs(torch, name, kw, build)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-16, equal_nan=True)


EPOCH_CASES = [
    (lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7], gamma=0.5), [2, 3, 9, 5, 7, 20]),
    (lambda m, o: m.ConstantLR(o, factor=0.3, total_iters=4), [1, 3, 4, 9, 2]),
    (lambda m, o: m.LinearLR(o, start_factor=0.2, total_iters=6), [1, 4, 6, 11, 3]),
    (lambda m, o: m.PolynomialLR(o, total_iters=8, power=1.5), [2, 5, 9, 1]),
    (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
     [0.5, 1.25, 3.0, 4.5, 9.75, 21.0, 2.0]),
    (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=4), [1.5, 4.0, 7.25, 13.0]),
]


@pytest.mark.parametrize("case", EPOCH_CASES, ids=[f"{i}" for i in range(len(EPOCH_CASES))])
def test_step_with_epoch_matches_pytorch(case):
    build, epochs = case
    ours = _lrs(tg, "SGD", {"lr": 0.1}, build, len(epochs), epochs)
    theirs = _lrs(torch, "SGD", {"lr": 0.1}, build, len(epochs), epochs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, equal_nan=True)


def _build(kind):
    p = tg.tensor([1.0], requires_grad=True)
    o = optim.SGD([p], lr=0.1, momentum=0.9)
    if kind == "sequential":
        s = S.SequentialLR(o, [S.LinearLR(o, start_factor=0.2, total_iters=3),
                               S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2,
                                          mode="triangular2")], milestones=[4])
    elif kind == "chained":
        s = S.ChainedScheduler([S.MultiStepLR(o, [2, 5]), S.PolynomialLR(o, total_iters=9)])
    elif kind == "warm_restarts":
        s = S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=0.01)
    else:
        s = S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3, mode="exp_range",
                       gamma=0.9)
    return o, s


@pytest.mark.parametrize("kind", ["sequential", "chained", "warm_restarts", "cyclic"])
def test_state_dict_resume(kind, tmp_path):
    def run(o, s, n):
        out = []
        for _ in range(n):
            o.step()
            s.step()
            out.append((o.param_groups[0]["lr"], o.param_groups[0]["momentum"]))
        return out
    o, s = _build(kind)
    straight = run(o, s, 12)
    o, s = _build(kind)
    head = run(o, s, 5)
    tg.save({"opt": o.state_dict(), "sched": s.state_dict()}, tmp_path / "ck")
    ck = tg.load(tmp_path / "ck")
    o2, s2 = _build(kind)
    o2.load_state_dict(ck["opt"])
    s2.load_state_dict(ck["sched"])
    assert head + run(o2, s2, 7) == straight


def test_multistep_milestones_survive_saving(tmp_path):
    o = _opt()
    s = S.MultiStepLR(o, [3, 7, 7], gamma=0.5)
    tg.save(s.state_dict(), tmp_path / "s")
    s2 = S.MultiStepLR(o, [1])
    s2.load_state_dict(tg.load(tmp_path / "s"))
    s2.step(8)                               # the closed form counts 7 twice
    assert s2.get_last_lr() == [0.1 * 0.5 ** 3]


def test_cyclic_state_dict_keeps_a_callable_objects_attributes():
    class Scale:
        def __init__(self):
            self.k = 0.5

        def __call__(self, x):
            return self.k ** x
    p = tg.tensor([1.0], requires_grad=True)
    o = optim.SGD([p], lr=0.1)
    fn = Scale()
    s = S.CyclicLR(o, 0.01, 0.1, step_size_up=2, scale_fn=fn, cycle_momentum=False)
    fn.k = 0.25
    sd = s.state_dict()
    assert sd["_scale_fn_custom"] == {"k": 0.25}
    fn.k = 0.9
    s.load_state_dict(sd)
    assert fn.k == 0.25
    assert S.CyclicLR(o, 0.01, 0.1, scale_fn=lambda x: 1.0).state_dict()[
        "_scale_fn_custom"] is None


def _opt():
    return optim.SGD([tg.tensor([1.0], requires_grad=True)], lr=0.1)


@pytest.mark.parametrize("make, err, msg", [
    (lambda o: S.ConstantLR(o, factor=1.5), ValueError, "ConstantLR: factor must be between"),
    (lambda o: S.LinearLR(o, start_factor=0), ValueError, "LinearLR: start_factor"),
    (lambda o: S.LinearLR(o, end_factor=2), ValueError, "LinearLR: end_factor"),
    (lambda o: S.CyclicLR(o, 0.01, 0.1, mode="sawtooth"), ValueError, "CyclicLR: mode"),
    (lambda o: S.CyclicLR(optim.Adadelta(o.param_groups[0]["params"]), 0.01, 0.1),
     ValueError, "Adadelta has no momentum or beta1"),
    (lambda o: S.CyclicLR(o, [0.01, 0.02], 0.1, cycle_momentum=False), ValueError,
     "expected 1 values for base_lr, got 2"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "positive integer T_0"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=1.5), ValueError, "T_mult"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2).step(-1), ValueError,
     "non-negative epoch"),
    (lambda o: S.SequentialLR(o, [S.ConstantLR(o)], milestones=[2]), ValueError,
     "one milestone fewer than schedulers, got 1 schedulers and 1 milestones"),
    (lambda o: S.SequentialLR(o, [], milestones=[]), ValueError, "at least one scheduler"),
    (lambda o: S.ChainedScheduler([S.ConstantLR(o), S.ConstantLR(_opt())]), ValueError,
     "same optimizer, but ConstantLR at index 1"),
    (lambda o: S.ChainedScheduler([S.ReduceLROnPlateau(o)]), ValueError,
     "does not support ReduceLROnPlateau"),
    (lambda o: S.CyclicLR("opt", 0.01, 0.1), TypeError, "str is not a tg.optim Optimizer"),
])
def test_errors(make, err, msg):
    with pytest.raises(err, match=msg):
        make(_opt())
