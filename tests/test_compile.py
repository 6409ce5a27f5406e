"""tg.compile: compiled training steps equal eager ones bit for bit; what can't be replayed
faithfully is refused with a message that says what to do."""
import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.graph import TraceError


def _mlp():
    tg.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                         nn.Linear(16, 5))


def _cnn():
    tg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(24, 5))


def _step(model, opt, traces=None):
    def step(x, y):
        if traces is not None:
            traces.append(1)            # Python side effects run only while tracing
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _batches(n, shape, seed=0):
    rng = np.random.default_rng(seed)
    return [(tg.tensor(rng.standard_normal(shape).astype(np.float32)),
             tg.tensor(rng.integers(0, 5, shape[0]))) for _ in range(n)]


def _same_training(make, shape, steps=50, **sgd):
    m1, m2 = make(), make()
    eager = _step(m1, tg.optim.SGD(m1.parameters(), lr=0.05, **sgd))
    compiled = tg.compile(_step(m2, tg.optim.SGD(m2.parameters(), lr=0.05, **sgd)))
    for x, y in _batches(steps, shape):
        a, b = eager(x, y), compiled(x, y)
        assert np.array_equal(a.numpy(), b.numpy())
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.numpy(), q.numpy())
        assert np.array_equal(p.grad.numpy(), q.grad.numpy())
    return compiled


def test_mlp_sgd_50_steps_bit_for_bit():
    c = _same_training(_mlp, (8, 20))
    text = str(c.graph)
    assert "linear" in text and "relu_grad" in text
    assert "= sub(%2, " in text and "[out= %2's buffer]" in text   # w -= lr * g, in place
    assert c.cache[next(iter(c.cache))].run is not None   # it replayed


def test_mlp_sgd_momentum_settles_after_the_buffers_exist():
    c = _same_training(_mlp, (8, 20), steps=12, momentum=0.9, nesterov=True)
    assert c.cache[next(iter(c.cache))].run is not None


def test_cnn_sgd_50_steps_bit_for_bit():
    c = _same_training(_cnn, (4, 1, 14, 14))
    assert "conv2d" in str(c.graph) or "conv" in str(c.graph)


def test_replay_creates_no_tensor_for_intermediates(monkeypatch):
    m = _mlp()
    step = tg.compile(_step(m, tg.optim.SGD(m.parameters(), lr=0.05)))
    (x, y), = _batches(1, (8, 20))
    step(x, y), step(x, y)
    made = []
    import tapegrad.core.tensor as ct
    orig = ct._new
    monkeypatch.setattr(ct, "_new", lambda cls: made.append(cls) or orig(cls))
    step(x, y)
    assert len(made) == 1   # the returned loss only; gradients land in the existing .grad


def test_new_shapes_retrace():
    f = tg.compile(lambda a: (a * 2.0).tanh().sum())
    for n in (3, 3, 3, 4, 4, 4):
        x = tg.randn(n)
        assert np.array_equal(f(x).numpy(), (x * 2.0).tanh().sum().numpy())
    assert len(f.graphs) == 2


def test_value_dependent_control_flow_is_refused():
    def f(x):
        if (x.sum() > 0):
            return x * 2.0
        return x * 3.0
    with pytest.raises(TraceError, match=r"bool\(tensor\).*tg\.where.*fallback='eager'"):
        tg.compile(f)(tg.ones(3))
    with pytest.raises(TraceError, match=r"tensor\.item\(\)"):
        tg.compile(lambda x: x * x.sum().item())(tg.ones(3))


def test_fallback_eager_warns_and_runs_eagerly():
    def f(x):
        return x * 2.0 if x.sum() > 0 else x * 3.0
    g = tg.compile(f, fallback="eager")
    with pytest.warns(UserWarning, match="runs eagerly"):
        assert g(tg.ones(3)).tolist() == [2.0, 2.0, 2.0]
    assert g(-tg.ones(3)).tolist() == [-3.0, -3.0, -3.0]


def test_stale_constant_is_detected():
    """A sign(x) computed on the raw array (outside the ops): a trace would bake it in."""
    x = tg.tensor([1.0, -2.0, 3.0], requires_grad=True)

    def f(x):
        return x * tg.tensor(np.sign(x._data))
    c = tg.compile(f)
    c(x)
    with pytest.raises(TraceError, match=r"stale constant"):
        c(tg.tensor([-1.0, 2.0, 3.0], requires_grad=True))


def test_dead_code_is_dropped_and_results_match():
    def f(x):
        unused = (x * 5.0).exp()  # noqa: F841
        return (x * 2.0).sum()
    c = tg.compile(f)
    for _ in range(3):
        assert c(tg.ones(4)).item() == 8.0
    assert "exp" not in str(c.graph)


def test_compiled_input_gradients_match():
    w = tg.tensor(np.linspace(-1, 1, 6).astype(np.float32).reshape(2, 3), requires_grad=True)

    @tg.compile
    def f(x):
        w.grad = None
        loss = (x @ w).tanh().sum()
        loss.backward()
        return loss
    for s in range(4):
        x = tg.tensor(np.random.default_rng(s).standard_normal((4, 2)).astype(np.float32),
                      requires_grad=True)
        loss = f(x)
        x2 = tg.tensor(x.numpy(), requires_grad=True)
        w2 = tg.tensor(w.numpy(), requires_grad=True)
        l2 = (x2 @ w2).tanh().sum()
        l2.backward()
        assert np.array_equal(loss.numpy(), l2.numpy())
        assert np.array_equal(x.grad.numpy(), x2.grad.numpy())
        assert np.array_equal(w.grad.numpy(), w2.grad.numpy())


def test_ufunc_table_is_each_ops_forward_bit_for_bit():
    """The buffer pass runs these primitives as ufuncs with out=; they must be the same."""
    from tapegrad.core.registry import OPS
    from tapegrad.graph.passes import UFUNCS, UNARY_FLOAT
    from tapegrad.graph.replay import Ctx
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 4)).astype(np.float32)
    b = rng.standard_normal((4,)).astype(np.float32)
    from tapegrad.ops import elementwise
    for name, uf in UFUNCS.items():   # (add and sub are composites over Add and Sub: alpha=)
        fwd = (OPS[name].primitive or getattr(elementwise, name.capitalize())).forward
        args = [(a,)] if name == "neg" else [(a, b), (a, 0.37), (0.37, a), (a, 3)]
        for xs in args:
            out = np.empty(np.broadcast_shapes(*[np.shape(x) for x in xs]), np.float32)
            assert np.array_equal(uf(*xs, out=out), fwd(Ctx(False, {}), *xs)), (name, xs)
    for name, uf in UNARY_FLOAT.items():
        out = np.empty_like(a)
        assert np.array_equal(uf(a, out=out), OPS[name].primitive.forward(Ctx(False, {}), a))


def test_passes_cse_and_constant_folding():
    def f(x):
        k = tg.ones(3) * 2.0 + 1.0          # constants only: folded
        return (x.tanh() * k + x.tanh() * k).sum()   # the repeated calls are shared
    c = tg.compile(f)
    x = tg.tensor([0.1, -0.2, 0.3])
    for _ in range(3):
        assert np.array_equal(c(x).numpy(), f(x).numpy())
    names = [op.name for op in c.graph.ops]
    assert names.count("tanh") == 1 and names.count("mul") == 1
    assert "const" in str(c.graph)


@pytest.mark.parametrize("make", [
    lambda ps: tg.optim.Adam(ps, lr=1e-2),
    lambda ps: tg.optim.AdamW(ps, lr=1e-2, amsgrad=True, betas=(0.8, 0.99)),
    lambda ps: tg.optim.Adam(ps, lr=1e-2, weight_decay=0.1, maximize=True),
    lambda ps: tg.optim.RMSprop(ps, lr=1e-2, momentum=0.9, centered=True, weight_decay=0.1),
    lambda ps: tg.optim.RMSprop(ps, lr=1e-2),
    lambda ps: tg.optim.Adagrad(ps, lr=1e-2, lr_decay=0.01)],
    ids=["adam", "adamw-amsgrad", "adam-l2-maximize", "rmsprop-centered-momentum", "rmsprop",
         "adagrad"])
def test_adaptive_optimizer_steps_compile_bit_for_bit(make):
    """Their step counters are 0-d state arrays, so the bias corrections are ops on state
    (recomputed on every replay), not numbers baked in at tracing."""
    m1, m2 = _mlp(), _mlp()
    o1, o2 = make(m1.parameters()), make(m2.parameters())
    eager, compiled = _step(m1, o1), tg.compile(_step(m2, o2))
    for x, y in _batches(12, (8, 20), seed=4):
        assert np.array_equal(eager(x, y).numpy(), compiled(x, y).numpy())
    assert compiled.cache[compiled._last].run is not None          # it replayed
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.numpy(), q.numpy())
    for s1, s2 in zip(o1.state_dict()["state"].values(), o2.state_dict()["state"].values()):
        assert float(s1["step"]) == float(s2["step"]) == 12.0
        for k in s1:
            assert np.array_equal(np.asarray(s1[k].numpy()), np.asarray(s2[k].numpy())), k


class _RawSGD(tg.optim.Optimizer):
    """An optimizer whose update writes arrays with out= (not traceable)."""

    def __init__(self, params, lr):
        super().__init__(params, dict(lr=lr))

    def _update(self, w, g, state, group):
        np.subtract(w, group["lr"] * g, out=w)


def test_untraceable_optimizer_is_refused_but_compiled_backward_then_eager_step_matches():
    m1, m2 = _mlp(), _mlp()
    o1, o2 = _RawSGD(m1.parameters(), lr=1e-2), _RawSGD(m2.parameters(), lr=1e-2)
    (x, y), = _batches(1, (8, 20))
    with pytest.raises(RuntimeError, match=r"_RawSGD\.step\(\) can't be traced.*call "
                                           r"opt\.step\(\) after the compiled function"):
        tg.compile(_step(m1, o1))(x, y)
    m1 = _mlp()
    o1 = _RawSGD(m1.parameters(), lr=1e-2)

    @tg.compile
    def loss_and_grads(x, y):
        o1.zero_grad()
        loss = F.cross_entropy(m1(x), y)
        loss.backward()
        return loss
    for x, y in _batches(6, (8, 20), seed=3):
        a = loss_and_grads(x, y)
        o1.step()
        b = _step(m2, o2)(x, y)
        assert np.array_equal(a.numpy(), b.numpy())
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.numpy(), q.numpy())


def test_compiled_hessian_vector_product_matches_eager():
    def hvp(w, x, v):
        loss = ((x @ w).tanh() ** 2).sum()
        (g,) = tg.grad(loss, [w], create_graph=True)
        (h,) = tg.grad((g * v).sum(), [w])
        return loss, h
    c = tg.compile(hvp)
    rng = np.random.default_rng(5)
    for _ in range(4):
        w = tg.tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
        x = tg.tensor(rng.standard_normal((4, 3)).astype(np.float32))
        v = tg.tensor(rng.standard_normal((3, 2)).astype(np.float32))
        (l1, h1), (l2, h2) = c(w, x, v), hvp(w, x, v)
        assert np.array_equal(l1.numpy(), l2.numpy()) and np.array_equal(h1.numpy(), h2.numpy())
    assert c.cache[next(iter(c.cache))].run is not None


def test_setitem_into_state_is_replayed():
    buf = tg.zeros(5)

    @tg.compile
    def f(x):
        with tg.no_grad():
            buf[1:3] = x * 2.0
        return buf.sum()
    for i in range(4):
        assert f(tg.tensor([float(i), 1.0])).item() == 2.0 * i + 2.0
        assert buf.tolist() == [0.0, 2.0 * i, 2.0, 0.0, 0.0]


def test_softmax_family_compiles():
    def f(x):
        return (tg.log_softmax(x, dim=-1).sum() + tg.softmax(x, dim=-1)[0].sum()
                + tg.logsumexp(x, dim=-1).sum())
    c = tg.compile(f)
    rng = np.random.default_rng(2)
    for _ in range(4):
        x = tg.tensor(rng.standard_normal((3, 4)).astype(np.float32) * 10)
        assert np.array_equal(c(x).numpy(), f(x).numpy())


# -- rules whose masks/constants used to come from raw arrays (now ops, so they compile) --------
_RULES = {
    "abs": lambda x, y: x.abs(),
    "pow_exp": lambda x, y: x.abs() ** y,
    "clamp": lambda x, y: tg.clamp(x, -0.5, 0.5) + tg.clamp(x, y * 0.1, y * 0.1 + 0.5),
    "maximum": lambda x, y: tg.maximum(x, y) + tg.minimum(x, 0.2),
    "leaky_relu": lambda x, y: F.leaky_relu(x, 0.1) + F.elu(x) + F.hardtanh(x, -0.5, 0.5),
    "smooth_l1": lambda x, y: F.smooth_l1_loss(x, y, reduction="none") +
    F.huber_loss(x, y, reduction="none") + F.l1_loss(x, y, reduction="none"),
    "softplus": lambda x, y: F.softplus(x * 20.0, threshold=20.0),
    "lerp": lambda x, y: tg.lerp(x, y, tg.sigmoid(x)),
    "fmod": lambda x, y: tg.fmod(x * 3.0, y.abs() + 0.5) + tg.remainder(x * 3.0, y.abs() + 0.5),
    "nan_to_num": lambda x, y: tg.nan_to_num(x.log()),
    "vector_norm": lambda x, y: tg.linalg.vector_norm(x, ord=3, dim=1) +
    tg.linalg.vector_norm(x, ord=0, dim=1),
    "cosine_similarity": lambda x, y: F.cosine_similarity(x, y * (x > 0).to(x.dtype), dim=1),
}


@pytest.mark.parametrize("name", sorted(_RULES))
def test_rule_masks_compile_and_match_eager(name):
    op = _RULES[name]

    def step(x, y):
        out = op(x, y)
        gx, gy = tg.grad((out * out).sum(), [x, y], allow_unused=True)
        return out, gx, gy
    c = tg.compile(step)
    rng = np.random.default_rng(11)
    for i in range(5):   # calls 3+ replay; signs, ties with 0.2 and bounds change every call
        xa = rng.standard_normal((4, 3))
        ya = rng.standard_normal((4, 3))
        xa[0, i % 3] = 0.0
        x = tg.tensor(xa, requires_grad=True)
        y = tg.tensor(ya, requires_grad=True)
        with np.errstate(all="ignore"):
            got, want = c(x, y), step(x, y)
        for a, b in zip(got, want):
            if b is None:
                assert a is None
            else:
                np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert c.cache[next(iter(c.cache))].run is not None


def test_batch_norm_running_stats_compile_and_match_eager():
    def make():
        tg.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4))
    m1, m2 = make(), make()

    def step(m, x):
        m.train()
        y = m(x)
        m.eval()
        z = m(x)
        return y, z
    c = tg.compile(lambda x: step(m1, x))
    rng = np.random.default_rng(3)
    for _ in range(5):
        x = tg.tensor(rng.standard_normal((8, 6)).astype(np.float32))
        for a, b in zip(c(x), step(m2, x)):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    for k in ("1.running_mean", "1.running_var"):   # (num_batches_tracked is not replayed)
        np.testing.assert_array_equal(m1.state_dict()[k].numpy(), m2.state_dict()[k].numpy())


def test_compiled_dropout_training_matches_eager_from_same_seed():
    def make():
        tg.manual_seed(0)
        return nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 5))
    m1, m2 = make(), make()
    o1 = tg.optim.SGD(m1.parameters(), lr=0.1)
    o2 = tg.optim.SGD(m2.parameters(), lr=0.1)

    def step(m, o, x, y):
        o.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        o.step()
        return loss
    c = tg.compile(lambda x, y: step(m1, o1, x, y))
    for k, (x, y) in enumerate(_batches(6, (8, 20), seed=4)):
        tg.manual_seed(100 + k)
        a = c(x, y)
        tg.manual_seed(100 + k)
        b = step(m2, o2, x, y)
        assert np.array_equal(a.numpy(), b.numpy())
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.numpy(), q.numpy())
    # the masks are fresh on each call (not a constant frozen at trace time)
    x = tg.tensor(np.ones((4, 16), np.float32))
    f = tg.compile(lambda x: F.dropout(x * 1.0, 0.5))
    outs = [f(x).numpy() for _ in range(5)]
    assert not np.array_equal(outs[3], outs[4])


def test_results_carry_no_graph_on_every_call_and_backward_says_why():
    # a replay records no graph, so the traced calls return graph-free results too: the
    # same behaviour on call 1 as on call 3, and an error that names tg.compile
    w = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    f = tg.compile(lambda x: (x * w).sum())
    x = tg.tensor([0.5, -1.0, 2.0])
    for call in range(1, 5):
        y = f(x)
        assert y.grad_fn is None and y.item() == pytest.approx(4.5)
        with pytest.raises(RuntimeError, match="returned by a tg.compile'd function"):
            y.backward()
    assert w.grad is None


def test_one_compiled_function_called_from_two_threads_gives_each_its_own_results():
    import sys
    import threading
    old = sys.getswitchinterval()
    f = tg.compile(lambda x: (x * 2 + 1).tanh() * x)    # replays reuse buffers
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(64).astype(np.float32) for _ in range(40)]
    expect = [np.tanh(a * 2 + 1) * a for a in inputs]
    bad = []

    def worker(idx):
        for _ in range(5):
            for i in idx:
                out = f(tg.tensor(inputs[i])).numpy()
                if not np.allclose(out, expect[i], rtol=1e-6, atol=1e-7):
                    bad.append(i)
    ts = [threading.Thread(target=worker, args=(range(k, 40, 2),)) for k in (0, 1)]
    sys.setswitchinterval(1e-6)   # switch threads inside replays: without the lock each
    try:                          # compiled function holds, this run mixes up buffers
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert bad == []


class _Cube(tg.autograd.Function):
    """PyTorch style: forward and backward on tensors."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 3 * x * x * g


class _ArraySin(tg.autograd.Function):
    """The built-in ops' style: forward on arrays, vjp in tensor ops."""

    save_inputs = True

    @staticmethod
    def forward(ctx, x):
        return np.sin(x)

    @staticmethod
    def vjp(ctx, g):
        x, = ctx.inputs
        return g * x.cos()


class _ReadsValues(_Cube):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return tg.tensor(x.numpy() ** 3)


@pytest.mark.parametrize("fn", [_Cube, _ArraySin])
def test_user_functions_compile_and_match_eager(fn):
    def step(x):
        x.grad = None
        y = (fn.apply(x) * x).sum()
        y.backward()
        return y
    compiled = tg.compile(step)
    for i in range(5):
        a = tg.tensor(np.linspace(-1, 1, 6) + i, requires_grad=True)
        b = tg.tensor(np.linspace(-1, 1, 6) + i, requires_grad=True)
        assert np.array_equal(step(a).numpy(), compiled(b).numpy())
        assert np.array_equal(a.grad.numpy(), b.grad.numpy())
    assert compiled.cache[compiled._last].run is not None


def test_user_function_reading_values_is_refused():
    def step(x):
        return _ReadsValues.apply(x).sum()
    with pytest.raises(TraceError, match=r"tensor\.numpy\(\) reads a tensor's value"):
        tg.compile(step)(tg.tensor(np.ones(3), requires_grad=True))


# -- guards: assumptions a composite made from index values, re-checked on every replay ------
def _ce_step(w, fallback="error"):
    def step(x, y):
        w.grad = None
        loss = F.cross_entropy(x @ w, y)
        loss.backward()
        return loss
    return tg.compile(step, fallback=fallback), step


def test_targets_outside_the_traced_range_stop_the_replay_before_anything_runs():
    """With 200 classes a target of -100 (the default ignore_index) is a valid NumPy index:
    without the guard the replay would silently read class 100."""
    w = tg.tensor(np.random.default_rng(0).standard_normal((5, 200)), requires_grad=True)
    f, _ = _ce_step(w)
    x = tg.tensor(np.ones((4, 5)))
    for _ in range(3):
        f(x, tg.tensor(np.array([1, 2, 3, 4])))
    assert "guard %1: cross_entropy's targets were all class indices in [0, 200)" in str(f.graph)
    before = w.grad.numpy().copy()
    with pytest.raises(TraceError, match=r"program assumed that cross_entropy's targets were "
                                         r"all class indices in \[0, 200\).*Nothing was changed"):
        f(x, tg.tensor(np.array([1, -100, 3, 4])))
    assert np.array_equal(w.grad.numpy(), before)
    out = f(x, tg.tensor(np.array([4, 3, 2, 1])))       # in range again: replays
    assert np.isfinite(out.numpy())


def test_fallback_eager_runs_a_call_that_breaks_a_guard_eagerly():
    w = tg.tensor(np.random.default_rng(0).standard_normal((5, 200)), requires_grad=True)
    f, step = _ce_step(w, fallback="eager")
    x = tg.tensor(np.ones((4, 5)))
    for _ in range(3):
        f(x, tg.tensor(np.array([1, 2, 3, 4])))
    y = tg.tensor(np.array([1, -100, 3, 4]))
    with pytest.warns(UserWarning, match="Running this call eagerly"):
        got = f(x, y)
    g = w.grad.numpy().copy()
    want = step(x, y)
    assert np.array_equal(got.numpy(), want.numpy()) and np.array_equal(g, w.grad.numpy())
    assert got.grad_fn is None


@pytest.mark.parametrize("case", ["nll_loss", "gather", "one_hot", "binary_cross_entropy"])
def test_other_index_and_range_assumptions_are_guarded(case):
    def fn(x, i):
        if case == "nll_loss":
            return F.nll_loss(x, i)
        if case == "gather":
            return x.gather(1, i.reshape(-1, 1)).sum()
        if case == "one_hot":
            return F.one_hot(i).sum(0)
        return F.binary_cross_entropy(x.sigmoid() * 2 - 0.5, x.sigmoid())
    f = tg.compile(fn)
    x = tg.tensor(np.linspace(-0.5, 0.5, 12).reshape(3, 4))
    for _ in range(3):
        f(x, tg.tensor(np.array([3, 1, 2])))
    bad = {"nll_loss": [3, -1, 2], "gather": [3, -1, 2], "one_hot": [0, 1, 2],
           "binary_cross_entropy": [3, 1, 2]}[case]
    if case == "binary_cross_entropy":
        x = tg.tensor(np.linspace(-3, 3, 12).reshape(3, 4))    # sigmoid*2-0.5 leaves [0, 1]
    with pytest.raises(TraceError, match=f"program assumed that {case}") as err:
        f(x, tg.tensor(np.array(bad)))
    # targets and indices are inputs (checked before anything runs); BCE's input is computed
    clean = case != "binary_cross_entropy"
    assert ("Nothing was changed" in str(err.value)) == clean
    assert ("the replay stopped there" in str(err.value)) != clean


@pytest.mark.parametrize("loss, kw", [
    ("cross_entropy", dict(weight=np.array([0.5, 2, 1, 1, 3, 0.2, 1]), ignore_index=2)),
    ("cross_entropy", dict(ignore_index=-1, label_smoothing=0.1)),
    ("cross_entropy", dict(weight=np.array([0.5, 2, 1, 1, 3, 0.2, 1]), label_smoothing=0.2,
                           reduction="sum")),
    ("nll_loss", dict(weight=np.array([0.5, 2, 1, 1, 3, 0.2, 1]), ignore_index=4)),
    ("nll_loss", dict(ignore_index=0, reduction="none"))])
def test_class_weights_and_ignore_index_compile_bit_for_bit(loss, kw):
    """Their per-row weights and the mean's divisor are ops on the targets: recomputed on
    every replay (targets differ per call here, an ignored row moving around)."""
    fn = getattr(F, loss)
    kw = {k: tg.tensor(v) if k == "weight" else v for k, v in kw.items()}
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((5, 7))
    w1, w2 = tg.tensor(w0, requires_grad=True), tg.tensor(w0, requires_grad=True)

    def step(w):
        def run(x, y):
            w.grad = None
            z = x @ w
            out = fn(z.log_softmax(1) if loss == "nll_loss" else z, y, **kw)
            out.sum().backward()
            return out
        return run
    eager, compiled = step(w1), tg.compile(step(w2))
    for i in range(6):
        x = tg.tensor(rng.standard_normal((6, 5)))
        y = rng.integers(0, 7, 6)
        y[i] = kw.get("ignore_index", 0)
        y = tg.tensor(y)
        assert np.array_equal(eager(x, y).numpy(), compiled(x, y).numpy())
        assert np.array_equal(w1.grad.numpy(), w2.grad.numpy())
    assert compiled.cache[compiled._last].run is not None


def test_gradient_clipping_inside_a_compiled_step_matches_eager():
    """clip_grad_norm_/clip_grad_value_ are tensor ops (no branch on values), so the replay
    clips as eager does; error_if_nonfinite becomes a guard on the total norm."""
    def make():
        tg.manual_seed(0)
        m = tg.nn.Sequential(tg.nn.Linear(6, 8), tg.nn.ReLU(), tg.nn.Linear(8, 3))
        return m, tg.optim.SGD(m.parameters(), lr=0.1)

    def stepper(m, o):
        def step(x, y):
            o.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            norm = tg.nn.utils.clip_grad_norm_(m.parameters(), 0.05, error_if_nonfinite=True)
            tg.nn.utils.clip_grad_value_(m.parameters(), 0.01)
            o.step()
            return loss, norm
        return step
    (m1, o1), (m2, o2) = make(), make()
    eager, compiled = stepper(m1, o1), tg.compile(stepper(m2, o2))
    rng = np.random.default_rng(0)
    for i in range(6):
        x = tg.tensor(rng.standard_normal((5, 6)).astype(np.float32) * (1 + i))
        y = tg.tensor(rng.integers(0, 3, 5))
        (a, na), (b, nb) = eager(x, y), compiled(x, y)
        assert np.array_equal(a.numpy(), b.numpy()) and np.array_equal(na.numpy(), nb.numpy())
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.numpy(), q.numpy())
    with pytest.raises(TraceError, match="assumed that the gradients' total norm was finite"):
        compiled(tg.tensor(np.full((5, 6), np.nan, np.float32)), y)


def test_a_schedulers_learning_rate_applies_without_tracing_again():
    """The traced update reads lr from a 0-d state array refreshed from the param group on
    every replay; other hyperparameters are watched, and a change traces anew."""
    traces = []
    m1, m2 = _mlp(), _mlp()
    o1 = tg.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
    o2 = tg.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    s1, s2 = (tg.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.7) for o in (o1, o2))
    eager, compiled = _step(m1, o1), tg.compile(_step(m2, o2, traces))
    for k, (x, y) in enumerate(_batches(10, (8, 20), seed=5)):
        if k == 6:                          # a watched hyperparameter changes: retrace
            for o in (o1, o2):
                o.param_groups[0]["momentum"] = 0.5
        assert np.array_equal(eager(x, y).numpy(), compiled(x, y).numpy()), k
        s1.step()
        s2.step()
    assert o2.param_groups[0]["lr"] == pytest.approx(0.1 * 0.7 ** 10)
    # 3 at the start (the momentum buffers exist from the second call on, so calls 2 and 3
    # agree), 2 after the momentum change; none for the 10 learning rates
    assert len(traces) == 5
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.numpy(), q.numpy())


def test_switching_a_model_to_eval_after_compiling_traces_anew():
    """Module calls are watched for their training flag: dropout must stop after eval()."""
    tg.manual_seed(0)
    m = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.Dropout(0.5), tg.nn.Linear(8, 2))
    f = tg.compile(lambda x: m(x))
    x = tg.tensor(np.ones((3, 4), np.float32))
    for _ in range(3):
        f(x)
    m.eval()
    for _ in range(3):
        assert np.array_equal(f(x).numpy(), m(x).detach().numpy())
    assert "dropout" not in str(f.graph)


@pytest.mark.parametrize("fallback", ["error", "eager"])
def test_boolean_mask_indexing_is_refused_like_jax(fallback):
    """x[mask] takes the places NumPy's nonzero finds, outside the ops: a replay would reuse
    the traced places (even when the first two calls agree) for every later mask."""
    def f(x):
        return (x[x > 0] * 2).sum()
    c = tg.compile(f, fallback=fallback)
    x = tg.tensor(np.array([1.0, -1, 2, -3]))
    if fallback == "error":
        with pytest.raises(TraceError, match=r"the places a boolean mask selects.*tg\.where"):
            c(x)
        return
    with pytest.warns(UserWarning, match="runs eagerly"):
        c(x)
    for v in ([1.0, -1, 2, -3], [1.0, 2, 3, 4], [-1.0, -2, -3, 5]):
        x = tg.tensor(np.array(v))
        assert np.array_equal(c(x).numpy(), f(x).numpy())


@pytest.mark.parametrize("kw", [dict(max_norm=1.0), dict(scale_grad_by_freq=True),
                                dict(max_norm=1.5, norm_type=1.0, scale_grad_by_freq=True,
                                     padding_idx=3)])
def test_embedding_max_norm_and_scale_grad_by_freq_compile_bit_for_bit(kw):
    """The renormalised rows and the per-index counts are ops on the indices (a write into
    the weight, an index_counts primitive), so new indices on every call replay right."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((10, 4)).astype(np.float32) * 2
    w1, w2 = (tg.tensor(w0.copy(), requires_grad=True) for _ in range(2))

    def step(w):
        def run(i):
            w.grad = None
            out = F.embedding(i, w, **kw)
            (out * out).sum().backward()
            return out
        return run
    eager, compiled = step(w1), tg.compile(step(w2))
    for _ in range(5):
        i = tg.tensor(rng.integers(0, 10, (3, 4)))
        assert np.array_equal(eager(i).numpy(), compiled(i).numpy())
        assert np.array_equal(w1.grad.numpy(), w2.grad.numpy())
        assert np.array_equal(w1.numpy(), w2.numpy())
    assert compiled.cache[compiled._last].run is not None
