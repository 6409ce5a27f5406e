"""Every autograd feature on a second device (the test-only fake CUDA): higher orders, the
three tape styles, forward mode, tg.func and vmap, custom Functions, checkpoint, hooks,
anomaly mode, gradcheck, data loading, clipping, schedulers, tg.compile and tg.Graph; and
gradients that arrive on the wrong device are errors."""
import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F

from helpers import cuda_for_tests, need_two_gpus

CUDA0 = tg.device("cuda:0")


@pytest.fixture(autouse=True)
def gpu():
    with cuda_for_tests():
        yield


def _leaf(*shape, seed=0):
    return tg.randn(*shape, generator=tg.Generator(seed), dtype=tg.float64).cuda() \
        .requires_grad_()


def test_third_order_gradients():
    x = _leaf(3)
    (g,) = tg.grad((x ** 4).sum(), [x], create_graph=True)
    (h,) = tg.grad(g.sum(), [x], create_graph=True)
    (t,) = tg.grad(h.sum(), [x])
    assert g.device == h.device == t.device == CUDA0
    np.testing.assert_allclose(t.cpu().numpy(), 24 * x.detach().cpu().numpy())


def test_the_three_tape_styles():
    w = _leaf(3, 2)
    x = tg.randn(4, 3, dtype=tg.float64, device="cuda")
    tape = tg.GradientTape()
    tape.enable()
    (x @ w).sum()
    tape.backward()
    tape.disable()
    assert w.grad.device == CUDA0
    w.grad = None
    t2 = tg.Tape()
    with t2:
        loss = (x @ w).relu().sum()
    grads = t2.backward(loss)
    assert grads[w].device == CUDA0 and grads[x].device == CUDA0
    with tg.GradientTape(persistent=True) as t3:
        t3.watch(x)
        y = (x * x).sum()
        z = x * 2
    assert t3.gradient(y, x).device == CUDA0
    assert t3.jacobian(z, x).device == CUDA0
    unused = tg.zeros(2, device="cuda", dtype=tg.float64).requires_grad_()
    assert t3.gradient(y, unused, unconnected_gradients="zero").device == CUDA0


def test_forward_mode_and_func_transforms():
    import tapegrad.forward_ad as fwAD
    x = tg.randn(3, dtype=tg.float64, device="cuda")
    v = tg.ones(3, dtype=tg.float64, device="cuda")
    with fwAD.dual_level():
        d = fwAD.make_dual(x, v)
        out = fwAD.unpack_dual(d.sin().sum())
    assert out.tangent.device == CUDA0
    np.testing.assert_allclose(out.tangent.item(), x.cos().sum().item())
    g = tg.func.grad(lambda a: (a ** 3).sum())(x)
    assert g.device == CUDA0
    per_example = tg.func.vmap(tg.func.grad(lambda a: (a * a).sum()))(
        tg.randn(5, 3, device="cuda"))
    assert per_example.device == CUDA0 and per_example.shape == (5, 3)
    jac = tg.func.jacrev(lambda a: a.exp())(x)
    assert jac.device == CUDA0
    np.testing.assert_allclose(jac.cpu().numpy(), np.diag(x.exp().cpu().numpy()))
    _, jv = tg.func.jvp(lambda a: a.exp(), (x,), (v,))
    assert jv.device == CUDA0


class _Cube(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


class _HostGrad(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g.cpu() * 2          # wrong device


def test_custom_functions_and_wrong_device_gradients():
    x = _leaf(4)
    _Cube.apply(x).sum().backward()
    assert x.grad.device == CUDA0
    np.testing.assert_allclose(x.grad.cpu().numpy(), 3 * x.detach().cpu().numpy() ** 2)
    with pytest.raises(RuntimeError, match="'_HostGrad' returned an invalid gradient at index "
                                           "0 - expected device cuda:0 but got cpu"):
        _HostGrad.apply(x).sum().backward()
    y = x * 1
    y.register_hook(lambda g: g.cpu())
    with pytest.raises(RuntimeError, match="expected shape .* and device cuda:0"):
        y.sum().backward()


def test_hooks_retain_grad_and_anomaly_mode():
    x = _leaf(3)
    y = x.exp()
    y.retain_grad()
    seen = []
    y.register_hook(lambda g: seen.append(g.device) or g * 2)
    y.sum().backward()
    assert seen == [CUDA0] and y.grad.device == CUDA0
    np.testing.assert_allclose(x.grad.cpu().numpy(), 2 * x.detach().exp().cpu().numpy())
    with tg.autograd.detect_anomaly():
        z = _leaf(2)
        with pytest.raises(RuntimeError, match="'sqrt' returned inf values"):
            (z * 0).sqrt().sum().backward()


def test_gradcheck_on_the_device():
    x = _leaf(2, 3)
    w = _leaf(3, 2, seed=1)
    assert tg.autograd.gradcheck(lambda a, b: (a @ b).tanh(), (x, w))
    assert tg.autograd.gradgradcheck(lambda a: (a * a).sin(), (x,))


def test_checkpoint_is_rng_exact_on_the_device():
    lin = tg.nn.Linear(6, 6).double().cuda()
    x = tg.randn(4, 6, dtype=tg.float64, device="cuda").requires_grad_()

    def block(a):
        return F.dropout(lin(a).relu(), 0.5, training=True)

    tg.manual_seed(7)
    block(x).sum().backward()
    plain = (x.grad.cpu().numpy().copy(), lin.weight.grad.cpu().numpy().copy())
    x.grad = None
    lin.zero_grad()
    tg.manual_seed(7)
    tg.checkpoint(block, x).sum().backward()
    np.testing.assert_array_equal(x.grad.cpu().numpy(), plain[0])
    np.testing.assert_array_equal(lin.weight.grad.cpu().numpy(), plain[1])


def test_data_loader_clipping_and_schedulers():
    ds = tg.utils.data.TensorDataset(tg.randn(10, 3), tg.arange(10))
    model = tg.nn.Linear(3, 1).cuda()
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for x, y in tg.utils.data.DataLoader(ds, batch_size=4, shuffle=True):
        x, y = x.to("cuda"), y.to("cuda")
        opt.zero_grad()
        ((model(x).squeeze(1) - y.float()) ** 2).mean().backward()
        norm = tg.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        assert norm.device == CUDA0
        tg.nn.utils.clip_grad_value_(model.parameters(), 0.05)
        assert float(model.weight.grad.abs().max()) <= np.float32(0.05)
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 3)
    cuda_ds = tg.utils.data.TensorDataset(tg.randn(6, 2, device="cuda"), tg.arange(6, device="cuda"))
    xb, yb = next(iter(tg.utils.data.DataLoader(cuda_ds, batch_size=3, shuffle=True)))
    assert xb.device == CUDA0 and yb.device == CUDA0


def _train_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _cnn():
    tg.manual_seed(0)
    return tg.nn.Sequential(tg.nn.Conv2d(1, 4, 3, padding=1), tg.nn.ReLU(), tg.nn.MaxPool2d(2),
                            tg.nn.Flatten(), tg.nn.Linear(4 * 4 * 4, 3))


def test_compiled_training_step_on_the_device_equals_eager():
    x = tg.randn(6, 1, 8, 8, device="cuda")
    y = tg.randint(0, 3, (6,), device="cuda")
    eager, comp = _cnn().cuda(), _cnn().cuda()
    e_step = _train_step(eager, tg.optim.SGD(eager.parameters(), lr=0.1, momentum=0.9))
    c_step = tg.compile(_train_step(comp, tg.optim.SGD(comp.parameters(), lr=0.1,
                                                       momentum=0.9)))
    for _ in range(4):
        a, b = e_step(x, y), c_step(x, y)
        assert b.device == CUDA0
        assert b.item() == a.item()
    assert c_step.graph.device == CUDA0
    for p, q in zip(eager.parameters(), comp.parameters()):
        np.testing.assert_array_equal(q.cpu().numpy(), p.detach().cpu().numpy())


def test_compile_refuses_fusion_and_mixed_devices_on_the_device():
    f = tg.compile(lambda a: (a * 2).exp(), fuse=True)
    with pytest.raises(tg.graph.TraceError, match=r"fuse=True.*cuda:0.*no fused kernels"):
        f(tg.ones(3, device="cuda"))
    g = tg.compile(lambda a, b: a.sum() + b.to("cuda").sum())
    with pytest.raises(tg.graph.TraceError, match="several devices"):
        g(tg.ones(2, device="cuda"), tg.ones(2))


def test_static_graph_on_the_device():
    graph = tg.Graph(device="cuda")
    x = graph.placeholder("x", [None, 3])
    y = graph.placeholder("y", [None], dtype=tg.int64)
    w = graph.variable("w", tg.randn(3, 2) * 0.1)
    loss = graph.cross_entropy(graph.matmul(x, w), y)
    (gw,) = graph.gradients(loss, [w])
    train = tg.optim.SGD(lr=0.5).apply_gradients([(w, gw)])
    feed = {x: np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32),
            y: np.arange(8) % 2}
    first = graph.run([loss, train], feed=feed)[0]
    for _ in range(5):
        last = graph.run([loss, train], feed=feed)[0]
    assert w.index.device == CUDA0 and tg.backend.device_of(last) == CUDA0   # (arrays)
    assert float(last) < float(first)


def test_a_second_gpu_is_not_the_current_one():
    """Everything on cuda:1 while cuda:0 is current: forward, backward, forward mode, a
    training step with optimizer state, and the results stay on cuda:1."""
    need_two_gpus()
    import tapegrad.forward_ad as fwAD
    dev = tg.device("cuda:1")
    x = tg.randn(4, 3, device=dev, dtype=tg.float64).requires_grad_()
    (g,) = tg.grad((x.tanh() ** 2).sum(), [x], create_graph=True)
    (h,) = tg.grad(g.sum(), [x])
    assert g.device == dev and h.device == dev
    with fwAD.dual_level():
        out = fwAD.unpack_dual((fwAD.make_dual(x.detach(), tg.ones_like(x)) * 3).exp())
    assert out.tangent.device == dev
    model = _cnn().to(dev)
    opt = tg.optim.Adam(model.parameters(), lr=0.01)
    step = _train_step(model, opt)
    loss = step(tg.randn(2, 1, 8, 8, device=dev), tg.tensor([0, 2], device=dev))
    assert loss.device == dev
    assert all(p.grad.device == dev and opt.state[p]["exp_avg"].shape == p.shape
               for p in model.parameters())
    assert tg.cuda.current_device() == 0
