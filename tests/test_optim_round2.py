"""Adamax, NAdam, RAdam, Adadelta, Rprop, ASGD and LBFGS against torch.optim, step by step
on the same gradients in float64 (to rounding: PyTorch fuses some multiply-adds and sums
in another order, so agreement is to ~1e-12, not bit for bit); their state_dicts, devices
and compiled steps. The schedulers are in test_lr_scheduler_round2.py."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad import optim
from helpers import cuda_for_tests

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
W0, B0 = RNG.standard_normal((4, 3)), RNG.standard_normal(3)
X, Y = RNG.standard_normal((8, 4)), RNG.standard_normal((8, 3))


@pytest.fixture
def torch64():
    """PyTorch keeps scalar state (ASGD's eta and mu, NAdam's mu product) in its default
    dtype; tapegrad keeps it in float64, so compare with a float64 default."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _loss(lib, w, b, dtype):
    mk = tg.tensor if lib is tg else torch.tensor
    x, y = mk(X.astype(dtype)), mk(Y.astype(dtype))
    return (((x @ w + b).tanh() - y) ** 2).sum() / 8


def _params(lib, dtype="float64"):
    mk = tg.tensor if lib is tg else torch.tensor
    return (mk(W0.astype(dtype), requires_grad=True), mk(B0.astype(dtype), requires_grad=True))


def _trajectory(lib, name, kwargs, steps=12, dtype="float64", groups=False):
    w, b = _params(lib, dtype)
    cls = getattr(lib.optim, name)
    extra = {} if lib is tg else {"foreach": False}
    params = ([{"params": [w]}, {"params": [b], "lr": kwargs.get("lr", 0.01) * 0.5}]
              if groups else [w, b])
    opt = cls(params, **kwargs, **extra)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        _loss(lib, w, b, dtype).backward()
        opt.step()
        out.append(np.concatenate([np.asarray(w.detach().numpy()).ravel(),
                                   np.asarray(b.detach().numpy()).ravel()]))
    return np.array(out), opt


CASES = [
    ("Adamax", {}),
    ("Adamax", dict(lr=0.05, betas=(0.6, 0.9), eps=1e-4, weight_decay=0.1)),
    ("Adamax", dict(lr=0.05, maximize=True)),
    ("NAdam", dict(lr=0.05)),
    ("NAdam", dict(lr=0.05, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.05, betas=(0.3, 0.6), maximize=True)),
    ("RAdam", dict(lr=0.05)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, eps=1e-3)),
    ("RAdam", dict(lr=0.05, betas=(0.3, 0.5), maximize=True)),    # rectified from step 2
    ("Adadelta", {}),
    ("Adadelta", dict(lr=0.5, rho=0.5, eps=1e-3, weight_decay=0.1)),
    ("Adadelta", dict(maximize=True)),
    ("Rprop", {}),
    ("Rprop", dict(lr=0.1, etas=(0.3, 1.5), step_sizes=(0.01, 0.2))),
    ("Rprop", dict(lr=0.05, maximize=True)),
    ("ASGD", dict(lr=0.1)),
    ("ASGD", dict(lr=0.1, lambd=0.01, alpha=0.5, t0=4, weight_decay=0.1)),
    ("ASGD", dict(lr=0.1, t0=3, maximize=True)),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_float64_steps_match_pytorch(torch64, name, kwargs):
    ours, opt = _trajectory(tg, name, kwargs)
    theirs, topt = _trajectory(torch, name, kwargs)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"step {step + 1}")
    # the state too, entry by entry (PyTorch's names)
    ts = topt.state[topt.param_groups[0]["params"][0]]
    st = opt.state[opt.param_groups[0]["params"][0]]
    assert set(st) == set(ts)
    for k, v in ts.items():
        np.testing.assert_allclose(np.asarray(st[k]), v.numpy(), rtol=1e-12, atol=1e-14,
                                   err_msg=k)


@pytest.mark.parametrize("name", ["Adamax", "NAdam", "RAdam", "Adadelta", "Rprop", "ASGD"])
def test_param_groups_and_float32_match_pytorch(name):
    """Two groups with their own lr, float32 parameters and PyTorch's float32 default."""
    kw = {"lr": 0.05}
    ours, _ = _trajectory(tg, name, kw, steps=6, dtype="float32", groups=True)
    theirs, _ = _trajectory(torch, name, kw, steps=6, dtype="float32", groups=True)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=1e-6)


def test_defaults_are_pytorchs():
    p = [tg.zeros(1, requires_grad=True)]
    tp = [torch.zeros(1, requires_grad=True)]
    for name in ("Adamax", "NAdam", "RAdam", "Adadelta", "Rprop", "ASGD", "LBFGS"):
        ours, theirs = getattr(optim, name)(p).defaults, getattr(torch.optim, name)(tp).defaults
        for k, v in ours.items():
            assert theirs[k] == v, (name, k)


@pytest.mark.parametrize("make, msg", [
    (lambda p: optim.Adamax(p, betas=(1.0, 0.9)), "Adamax: invalid beta parameter at index 0"),
    (lambda p: optim.NAdam(p, momentum_decay=-1), "NAdam: invalid momentum_decay value: -1"),
    (lambda p: optim.RAdam(p, eps=-1), "RAdam: invalid eps value: -1"),
    (lambda p: optim.Adadelta(p, rho=1.5), "Adadelta: invalid rho value: 1.5"),
    (lambda p: optim.Rprop(p, etas=(1.2, 0.5)), "Rprop: invalid eta values: 1.2, 0.5"),
    (lambda p: optim.ASGD(p, weight_decay=-0.1), "ASGD: invalid weight_decay value"),
    (lambda p: optim.NAdam(p, lr=-1), "invalid learning rate: -1"),
    (lambda p: optim.LBFGS(p, line_search_fn="armijo"), "'strong_wolfe', got 'armijo'"),
    (lambda p: optim.LBFGS([{"params": p}, {"params": [tg.zeros(1, requires_grad=True)]}]),
     "LBFGS doesn't support per-parameter options"),
])
def test_invalid_hyperparameters_raise(make, msg):
    with pytest.raises(ValueError, match=msg):
        make([tg.zeros(2, requires_grad=True)])


# -- state_dict --------------------------------------------------------------------------
def _model(seed=0):
    tg.manual_seed(seed)
    return tg.nn.Sequential(tg.nn.Linear(4, 6), tg.nn.Tanh(), tg.nn.Linear(6, 3))


def _train(model, opt, steps):
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(tg.tensor(X, dtype=tg.float32)) - tg.tensor(Y, dtype=tg.float32))
                ** 2).mean()
        loss.backward()
        opt.step()
        out.append(float(loss))
    return out


MAKERS = {
    "Adamax": lambda ps: optim.Adamax(ps, lr=0.01, weight_decay=0.1),
    "NAdam": lambda ps: optim.NAdam(ps, lr=0.01, decoupled_weight_decay=True, weight_decay=0.1),
    "RAdam": lambda ps: optim.RAdam(ps, lr=0.01, weight_decay=0.1),
    "Adadelta": lambda ps: optim.Adadelta(ps, weight_decay=0.1),
    "Rprop": lambda ps: optim.Rprop(ps, lr=0.01),
    "ASGD": lambda ps: optim.ASGD(ps, lr=0.01, t0=2),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_state_dict_round_trip_resumes_exactly(name, tmp_path):
    make = MAKERS[name]
    straight, o = _model(), None
    o = make(straight.parameters())
    expected = _train(straight, o, 7)
    m1 = _model()
    o1 = make(m1.parameters())
    _train(m1, o1, 4)
    tg.save({"model": m1.state_dict(), "opt": o1.state_dict()}, tmp_path / "ck")
    ck = tg.load(tmp_path / "ck")
    m2 = _model(seed=1)
    m2.load_state_dict(ck["model"])
    o2 = make(m2.parameters())
    o2.load_state_dict(ck["opt"])
    for st in o2.state.values():           # scalar state stays a float64 host scalar
        for k in type(o2)._scalar_state:
            assert st[k].shape == () and st[k].dtype == np.float64 and isinstance(
                st[k], np.ndarray)
    assert _train(m2, o2, 3) == expected[4:]


# -- devices and tg.compile ----------------------------------------------------------------
@pytest.mark.parametrize("name", list(MAKERS))
def test_state_lives_on_the_parameters_device_and_training_matches_cpu(name):
    make = MAKERS[name]
    ref = _model()
    ref_opt = make(ref.parameters())
    expected = _train(ref, ref_opt, 3)
    with cuda_for_tests():
        m = _model().cuda()
        opt = make(m.parameters())
        x, y = tg.tensor(X, dtype=tg.float32).cuda(), tg.tensor(Y, dtype=tg.float32).cuda()
        got = []
        for _ in range(3):
            opt.zero_grad()
            loss = ((m(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            got.append(float(loss))
        for p in m.parameters():
            for k, v in opt.state[p].items():
                dev = tg.backend.device_of(v)
                if k in type(opt)._scalar_state:
                    assert str(dev) == "cpu", k       # as PyTorch's step counters
                else:
                    assert tg.device(str(dev)) == tg.device("cuda:0"), k
        np.testing.assert_allclose(got, expected, rtol=1e-5)
        for p, q in zip(ref.parameters(), m.parameters()):
            np.testing.assert_allclose(q.cpu().numpy(), p.detach().numpy(), rtol=1e-5,
                                       atol=1e-6)


@pytest.mark.parametrize("name", list(MAKERS))
def test_compiled_steps_equal_eager_bit_for_bit(name):
    """The updates are written with operators (``traceable``); scalar state is read and
    written as state, so every replay recomputes the bias corrections and decays."""
    make = MAKERS[name]
    m1, m2 = _model(), _model()
    o1, o2 = make(m1.parameters()), make(m2.parameters())

    def step_fn(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        return step
    eager, compiled = step_fn(m1, o1), tg.compile(step_fn(m2, o2))
    rng = np.random.default_rng(3)
    for _ in range(6):
        x = tg.tensor(rng.standard_normal((8, 4)).astype(np.float32))
        y = tg.tensor(rng.standard_normal((8, 3)).astype(np.float32))
        assert np.array_equal(eager(x, y).numpy(), compiled(x, y).numpy())
    assert compiled.cache[compiled._last].run is not None          # it replayed
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.numpy(), q.numpy())
    for s1, s2 in zip(o1.state_dict()["state"].values(), o2.state_dict()["state"].values()):
        for k in s1:
            assert np.array_equal(s1[k].numpy(), s2[k].numpy()), k
