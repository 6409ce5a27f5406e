"""LBFGS against torch.optim.LBFGS: parameters, losses and evaluation counts after each
``step(closure)`` on Rosenbrock's function and a regularised least-squares fit, with the
fixed step and with the strong-Wolfe line search; state_dict, devices and errors."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad import optim
from helpers import cuda_for_tests

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(1)
A, BVEC = RNG.standard_normal((20, 5)), RNG.standard_normal(20)
X_LSQ = RNG.standard_normal(5)
X_ROSEN = np.array([-1.2, 1.0, -0.5, 0.8])


def rosenbrock(lib, x):
    return ((1 - x[:-1]) ** 2).sum() + (100 * (x[1:] - x[:-1] ** 2) ** 2).sum()


def least_squares(lib, x):
    mk = tg.tensor if lib is tg else torch.tensor
    r = mk(A) @ x - mk(BVEC)
    return (r * r).sum() + 0.1 * (x ** 4).sum()


def _run(lib, fn, x0, kwargs, steps):
    x = (tg if lib is tg else torch).tensor(x0.copy(), requires_grad=True)
    opt = lib.optim.LBFGS([x], **kwargs)

    def closure():
        opt.zero_grad()
        loss = fn(lib, x)
        loss.backward()
        return loss
    out = []
    for _ in range(steps):
        loss = opt.step(closure)
        st = opt.state[x]
        out.append((x.detach().numpy().copy(), float(loss), st["func_evals"], st["n_iter"]))
    return out


# Rosenbrock's valley amplifies rounding (PyTorch fuses multiply-adds and sums in another
# order): iterations are kept few enough that the paths agree to 1e-11 (see the README)
CASES = [
    (rosenbrock, X_ROSEN, dict(max_iter=4), 5),
    (rosenbrock, X_ROSEN, dict(max_iter=4, line_search_fn="strong_wolfe"), 5),
    (rosenbrock, X_ROSEN, dict(max_iter=5, history_size=3, line_search_fn="strong_wolfe"), 4),
    (rosenbrock, X_ROSEN, dict(line_search_fn="strong_wolfe", max_iter=6, max_eval=7), 3),
    (rosenbrock, X_ROSEN, dict(lr=0.5, max_iter=3, history_size=2), 4),
    (least_squares, X_LSQ, {}, 4),
    (least_squares, X_LSQ, dict(line_search_fn="strong_wolfe"), 4),
    (least_squares, X_LSQ, dict(history_size=2, max_iter=10, tolerance_change=1e-6,
                                line_search_fn="strong_wolfe", max_eval=12), 4),
    (least_squares, X_LSQ, dict(tolerance_grad=1e-2, line_search_fn="strong_wolfe"), 3),
    (least_squares, X_LSQ, dict(tolerance_grad=1e-2), 3),
]


@pytest.mark.parametrize("fn,x0,kwargs,steps", CASES,
                         ids=[f"{c[0].__name__}-{c[2]}" for c in CASES])
def test_steps_match_pytorch(fn, x0, kwargs, steps):
    ours, theirs = _run(tg, fn, x0, kwargs, steps), _run(torch, fn, x0, kwargs, steps)
    for i, ((x, loss, evals, iters), (tx, tloss, tevals, titers)) in enumerate(
            zip(ours, theirs)):
        np.testing.assert_allclose(x, tx, rtol=1e-11, atol=1e-13, err_msg=f"step {i + 1}")
        assert loss == pytest.approx(tloss, rel=1e-11)
        assert (evals, iters) == (tevals, titers), f"step {i + 1}"


def test_converges_to_rosenbrocks_minimum_as_pytorch():
    """The default 20 iterations per step: the paths drift apart at the 1e-7 level in the
    valley, both end at the minimum (1, ..., 1), with the same evaluation counts."""
    for kw in ({}, dict(line_search_fn="strong_wolfe")):
        ours = _run(tg, rosenbrock, X_ROSEN, kw, 6)
        theirs = _run(torch, rosenbrock, X_ROSEN, kw, 6)
        np.testing.assert_allclose(ours[-1][0], np.ones(4), atol=1e-5)
        np.testing.assert_allclose(ours[0][0], theirs[0][0], rtol=1e-9)
        assert [o[2:] for o in ours[:2]] == [t[2:] for t in theirs[:2]]


def test_several_parameters_and_a_parameter_without_gradient():
    def run(lib):
        mk = tg.tensor if lib is tg else torch.tensor
        w = mk(np.arange(6.0).reshape(2, 3) / 10, requires_grad=True)
        b = mk(np.array([0.5, -0.5]), requires_grad=True)
        unused = mk(np.ones(3), requires_grad=True)
        opt = lib.optim.LBFGS([w, unused, b], line_search_fn="strong_wolfe", max_iter=5)
        xs = mk(A[:, :3])

        def closure():
            opt.zero_grad()
            loss = (((xs @ w.T + b).tanh() - mk(BVEC[:, None])) ** 2).mean()
            loss.backward()
            return loss
        for _ in range(3):
            opt.step(closure)
        return w.detach().numpy(), b.detach().numpy(), unused.detach().numpy()
    for a, b in zip(run(tg), run(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_optimal_start_returns_without_moving():
    x = tg.tensor([1.0, 1.0, 1.0], requires_grad=True)
    opt = optim.LBFGS([x])

    def closure():
        opt.zero_grad()
        loss = rosenbrock(tg, x)
        loss.backward()
        return loss
    assert float(opt.step(closure)) == 0.0
    assert x.tolist() == [1.0, 1.0, 1.0] and opt.state[x]["n_iter"] == 0


def _closure_for(opt, x):
    def closure():
        opt.zero_grad()
        loss = least_squares(tg, x)
        loss.backward()
        return loss
    return closure


def test_state_dict_round_trip_resumes_exactly(tmp_path):
    kw = dict(history_size=3, max_iter=3, line_search_fn="strong_wolfe")
    straight = _run(tg, least_squares, X_LSQ, kw, 5)
    x = tg.tensor(X_LSQ.copy(), requires_grad=True)
    opt = optim.LBFGS([("x", x)], **kw)
    for _ in range(2):
        opt.step(_closure_for(opt, x))
    tg.save({"x": x.detach(), "opt": opt.state_dict()}, tmp_path / "ck")
    sd = opt.state_dict()
    assert set(sd["state"]["x"]) == {"func_evals", "n_iter", "d", "t", "old_dirs",
                                     "old_stps", "ro", "al", "H_diag", "prev_flat_grad",
                                     "prev_loss"}
    assert all(isinstance(v, tg.Tensor) for v in sd["state"]["x"]["old_dirs"])
    ck = tg.load(tmp_path / "ck")
    x2 = tg.tensor(ck["x"].numpy().copy(), requires_grad=True)
    opt2 = optim.LBFGS([("x", x2)], **kw)
    opt2.load_state_dict(ck["opt"])
    for i in range(3):
        opt2.step(_closure_for(opt2, x2))
        assert x2.numpy().tolist() == straight[2 + i][0].tolist()


def test_loading_a_state_of_other_size_raises_and_changes_nothing():
    x = tg.tensor(X_LSQ.copy(), requires_grad=True)
    opt = optim.LBFGS([x])
    opt.step(_closure_for(opt, x))
    y = tg.zeros(3, requires_grad=True)
    opt2 = optim.LBFGS([y])
    with pytest.raises(ValueError, match="'d' has 5 elements, but the parameters have 3"):
        opt2.load_state_dict(opt.state_dict())
    assert opt2.state == {}


def test_history_lives_on_the_parameters_device():
    with cuda_for_tests():
        x = tg.tensor(X_LSQ.copy(), requires_grad=True, device="cuda")
        opt = optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=4)
        a = tg.tensor(A, device="cuda")
        bv = tg.tensor(BVEC, device="cuda")

        def closure():
            opt.zero_grad()
            r = a @ x - bv
            loss = (r * r).sum() + 0.1 * (x ** 4).sum()
            loss.backward()
            return loss
        for _ in range(2):
            opt.step(closure)
        st = opt.state[x]
        cuda0 = tg.device("cuda:0")
        for arr in [st["d"], st["prev_flat_grad"], *st["old_dirs"], *st["old_stps"]]:
            assert tg.device(str(tg.backend.device_of(arr))) == cuda0
        got = np.array(x.cpu().numpy())
    ref = _run(torch, least_squares, X_LSQ, dict(line_search_fn="strong_wolfe",
                                                 max_iter=4), 2)
    np.testing.assert_allclose(got, ref[-1][0], rtol=1e-11)


def test_step_needs_a_closure():
    x = tg.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="LBFGS.step\\(\\) needs a closure"):
        optim.LBFGS([x]).step()
    with pytest.raises(TypeError, match="needs its parameters"):
        optim.LBFGS(None)
