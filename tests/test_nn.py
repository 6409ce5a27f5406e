"""tg.nn against PyTorch: every layer's forward and gradients with copied weights, the
Module machinery (registration, state_dict, hooks, copying), init, and nn.utils.
Reliability cases 39, 54, 57 and 58 are tested here."""
import copy
import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
import tapegrad.nn.functional as F

torch = pytest.importorskip("torch")
tnn = torch.nn


def _need(*names):
    missing = [n for n in names if not hasattr(F, n)]
    if missing:
        pytest.skip(f"tg.nn.functional.{missing[0]} has not landed yet")


def _copy_weights(tg_mod, torch_mod):
    """Copy torch's parameters and buffers into the tapegrad module (float64)."""
    sd = {k: tg.tensor(v.detach().numpy()) for k, v in torch_mod.state_dict().items()}
    tg_mod.load_state_dict(sd)


def _inputs(spec, rng):
    kind, shape = spec
    if kind == "f":
        return rng.standard_normal(shape)
    if kind == "p":                               # probabilities in (0, 1)
        return rng.uniform(0.05, 0.95, shape)
    if kind == "pos":
        return rng.uniform(0.2, 2.0, shape)
    if kind.startswith("i"):                      # integer class indices below int(kind[1:])
        return rng.integers(0, int(kind[1:]), shape)
    if kind == "sign":
        return rng.choice([-1.0, 1.0], shape)
    if kind == "logp":
        x = rng.standard_normal(shape)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))
    raise ValueError(kind)


def _compare(tg_mod, torch_mod, specs, fn_names=(), train=True, seed=0, atol=1e-8):
    _need(*fn_names)
    rng = np.random.default_rng(seed)
    arrays = [_inputs(s, rng) for s in specs]
    torch_mod = torch_mod.double()
    tg_mod = tg_mod.to(tg.float64)
    _copy_weights(tg_mod, torch_mod)
    tg_mod.train(train)
    torch_mod.train(train)
    grad = [a.dtype.kind == "f" and s[0] in ("f", "logp") for a, s in zip(arrays, specs)]
    tin = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, grad)]
    gin = [tg.tensor(a, requires_grad=r) for a, r in zip(arrays, grad)]
    tout, gout = torch_mod(*tin), tg_mod(*gin)
    np.testing.assert_allclose(gout.numpy(), tout.detach().numpy(), atol=atol, rtol=1e-7)
    w = rng.standard_normal(tuple(tout.shape))
    (tout * torch.tensor(w)).sum().backward()
    if gout.requires_grad:
        (gout * tg.tensor(w)).sum().backward()
    for i, (t, g) in enumerate(zip(tin, gin)):
        if t.grad is not None:
            np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), atol=atol, rtol=1e-7,
                                       err_msg=f"input {i} gradient")
    tparams = dict(torch_mod.named_parameters())
    for name, p in tg_mod.named_parameters():
        if tparams[name].grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), atol=atol,
                                       rtol=1e-7, err_msg=f"gradient of {name}")
    tbufs = dict(torch_mod.named_buffers())
    for name, b in tg_mod.named_buffers():
        np.testing.assert_allclose(b.numpy(), tbufs[name].numpy(), atol=atol,
                                   err_msg=f"buffer {name}")
    return gout


# (id, tapegrad factory, torch factory, input specs, functional ops needed, train)
LAYERS = [
    ("Linear", lambda m: m.Linear(5, 3), [("f", (4, 5))], ["linear"]),
    ("Linear-nobias-3d", lambda m: m.Linear(5, 3, bias=False), [("f", (2, 4, 5))], ["linear"]),
    ("Bilinear", lambda m: m.Bilinear(3, 4, 2), [("f", (5, 3)), ("f", (5, 4))], ["bilinear"]),
    ("Conv1d", lambda m: m.Conv1d(3, 4, 3, stride=2, padding=1), [("f", (2, 3, 9))],
     ["conv1d"]),
    ("Conv2d", lambda m: m.Conv2d(3, 4, 3, padding=1), [("f", (2, 3, 6, 5))], ["conv2d"]),
    ("Conv2d-groups", lambda m: m.Conv2d(4, 6, (3, 2), stride=(2, 1), dilation=(1, 2),
                                         groups=2, bias=False), [("f", (2, 4, 7, 7))],
     ["conv2d"]),
    ("ConvTranspose2d", lambda m: m.ConvTranspose2d(3, 2, 3, stride=2, padding=1,
                                                    output_padding=1), [("f", (2, 3, 4, 4))],
     ["conv_transpose2d"]),
    ("MaxPool1d", lambda m: m.MaxPool1d(2), [("f", (2, 3, 8))], ["max_pool1d"]),
    ("MaxPool2d", lambda m: m.MaxPool2d(2), [("f", (2, 3, 6, 6))], ["max_pool2d"]),
    ("MaxPool2d-pad", lambda m: m.MaxPool2d(3, stride=2, padding=1), [("f", (2, 2, 7, 7))],
     ["max_pool2d"]),
    ("AvgPool1d", lambda m: m.AvgPool1d(3, stride=2), [("f", (2, 3, 9))], ["avg_pool1d"]),
    ("AvgPool2d", lambda m: m.AvgPool2d(2), [("f", (2, 3, 6, 6))], ["avg_pool2d"]),
    ("AdaptiveAvgPool2d", lambda m: m.AdaptiveAvgPool2d((2, 3)), [("f", (2, 3, 6, 7))],
     ["adaptive_avg_pool2d"]),
    ("BatchNorm1d", lambda m: m.BatchNorm1d(4), [("f", (8, 4))], ["batch_norm"]),
    ("BatchNorm1d-3d", lambda m: m.BatchNorm1d(4, momentum=0.3), [("f", (8, 4, 5))],
     ["batch_norm"]),
    ("BatchNorm1d-cumulative", lambda m: m.BatchNorm1d(4, momentum=None), [("f", (8, 4))],
     ["batch_norm"]),
    ("BatchNorm2d", lambda m: m.BatchNorm2d(3), [("f", (4, 3, 5, 5))], ["batch_norm"]),
    ("BatchNorm2d-noaffine", lambda m: m.BatchNorm2d(3, affine=False), [("f", (4, 3, 2, 2))],
     ["batch_norm"]),
    ("LayerNorm", lambda m: m.LayerNorm(5), [("f", (3, 4, 5))], ["layer_norm"]),
    ("LayerNorm-2d", lambda m: m.LayerNorm((4, 5)), [("f", (3, 4, 5))], ["layer_norm"]),
    ("GroupNorm", lambda m: m.GroupNorm(2, 4), [("f", (3, 4, 5, 5))], ["group_norm"]),
    ("Embedding", lambda m: m.Embedding(10, 3), [("i10", (4, 5))], ["embedding"]),
    ("Embedding-padding", lambda m: m.Embedding(10, 3, padding_idx=0), [("i10", (20,))],
     ["embedding"]),
    ("Flatten", lambda m: m.Flatten(), [("f", (2, 3, 4))], []),
    ("Unflatten", lambda m: m.Unflatten(1, (2, 3)), [("f", (4, 6))], []),
    ("Identity", lambda m: m.Identity(7, x=1), [("f", (4, 6))], []),
    ("PReLU", lambda m: m.PReLU(), [("f", (4, 6))], ["prelu"]),
    ("PReLU-channels", lambda m: m.PReLU(3, init=0.1), [("f", (4, 3, 5))], ["prelu"]),
]

ACTS = [("ReLU", (), "relu"), ("ReLU6", (), "relu6"), ("LeakyReLU", (0.2,), "leaky_relu"),
        ("ELU", (0.7,), "elu"), ("SELU", (), "selu"), ("CELU", (1.3,), "celu"),
        ("GELU", (), "gelu"), ("GELU", ("tanh",), "gelu"), ("SiLU", (), "silu"),
        ("Mish", (), "mish"), ("Hardtanh", (-0.5, 0.8), "hardtanh"),
        ("Hardsigmoid", (), "hardsigmoid"), ("Hardswish", (), "hardswish"),
        ("Softsign", (), "softsign"), ("Tanhshrink", (), "tanhshrink"),
        ("Threshold", (0.1, 20.0), "threshold"), ("GLU", (), "glu"), ("Sigmoid", (), "sigmoid"),
        ("Tanh", (), "tanh"), ("Softmax", (1,), "softmax"), ("LogSoftmax", (1,), "log_softmax"),
        ("Softmin", (0,), "softmin"), ("Softplus", (2.0, 5.0), "softplus"),
        ("LogSigmoid", (), "logsigmoid")]
for _name, _args, _fn in ACTS:
    LAYERS.append((f"{_name}{_args}", (lambda n, a: lambda m: getattr(m, n)(*a))(_name, _args),
                   [("f", (4, 6))], [_fn]))

LOSSES = [
    ("MSELoss", {}, [("f", (4, 3)), ("f", (4, 3))], "mse_loss"),
    ("MSELoss", {"reduction": "sum"}, [("f", (4, 3)), ("f", (4, 3))], "mse_loss"),
    ("L1Loss", {"reduction": "none"}, [("f", (4, 3)), ("f", (4, 3))], "l1_loss"),
    ("SmoothL1Loss", {"beta": 0.5}, [("f", (4, 3)), ("f", (4, 3))], "smooth_l1_loss"),
    ("HuberLoss", {"delta": 0.7}, [("f", (4, 3)), ("f", (4, 3))], "huber_loss"),
    ("CrossEntropyLoss", {}, [("f", (5, 4)), ("i4", (5,))], "cross_entropy"),
    ("CrossEntropyLoss", {"label_smoothing": 0.1, "reduction": "sum"},
     [("f", (5, 4)), ("i4", (5,))], "cross_entropy"),
    ("CrossEntropyLoss", {"ignore_index": 1}, [("f", (6, 4, 3)), ("i4", (6, 3))],
     "cross_entropy"),
    ("NLLLoss", {}, [("f", (5, 4)), ("i4", (5,))], "nll_loss"),
    ("BCELoss", {}, [("p", (4, 3)), ("p", (4, 3))], "binary_cross_entropy"),
    ("BCEWithLogitsLoss", {}, [("f", (4, 3)), ("p", (4, 3))],
     "binary_cross_entropy_with_logits"),
    ("KLDivLoss", {"reduction": "batchmean"}, [("logp", (4, 3)), ("p", (4, 3))], "kl_div"),
    ("CosineEmbeddingLoss", {"margin": 0.2}, [("f", (4, 5)), ("f", (4, 5)), ("sign", (4,))],
     "cosine_embedding_loss"),
    ("MarginRankingLoss", {"margin": 0.1}, [("f", (6,)), ("f", (6,)), ("sign", (6,))],
     "margin_ranking_loss"),
]


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_pytorch(case):
    _, make, specs, fns = case
    _compare(make(nn), make(tnn), specs, fns)


@pytest.mark.parametrize("case", LOSSES, ids=[f"{c[0]}{c[1]}" for c in LOSSES])
def test_loss_module_matches_pytorch(case):
    name, kw, specs, fn = case
    if name == "BCELoss":   # the 'p' input is the prediction: it takes gradients too
        specs = [("f", specs[0][1]), specs[1]]
        _need(fn)
        rng = np.random.default_rng(0)
        x, y = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))
        tx, gx = torch.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
        tl, gl = tnn.BCELoss()(tx, torch.tensor(y)), nn.BCELoss()(gx, tg.tensor(y))
        tl.backward()
        gl.backward()
        np.testing.assert_allclose(float(gl), float(tl), rtol=1e-10)
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-8)
        return
    _compare(getattr(nn, name)(**kw), getattr(tnn, name)(**kw), specs, [fn])


def test_batchnorm_running_stats_over_steps_and_eval():
    _need("batch_norm")
    m, t = nn.BatchNorm2d(3, momentum=0.2).double(), tnn.BatchNorm2d(3, momentum=0.2).double()
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 2, 2)) * 3 + 1
        m(tg.tensor(x))
        t(torch.tensor(x))
    assert int(m.num_batches_tracked) == 3
    np.testing.assert_allclose(m.running_mean.numpy(), t.running_mean.numpy(), rtol=1e-10)
    np.testing.assert_allclose(m.running_var.numpy(), t.running_var.numpy(), rtol=1e-10)
    m.eval()
    t.eval()
    x = rng.standard_normal((2, 3, 2, 2))
    np.testing.assert_allclose(m(tg.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10)
    assert int(m.num_batches_tracked) == 3      # eval mode leaves the buffers alone


def test_dropout_seeded_scaled_and_off_in_eval():
    _need("dropout")
    x = tg.ones(200, 50)
    d = nn.Dropout(0.3)
    tg.manual_seed(0)
    a = d(x).numpy().copy()
    tg.manual_seed(0)
    assert np.array_equal(a, d(x).numpy())
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((a == 0).mean() - 0.3) < 0.02
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_generator_argument():
    _need("dropout")
    x = tg.ones(50, 50)
    a = nn.Dropout(0.5, generator=tg.Generator(7))(x).numpy()
    b = nn.Dropout(0.5, generator=tg.Generator(7))(x).numpy()
    assert np.array_equal(a, b)


# -- Module machinery ------------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.scale = nn.Parameter(tg.ones(3))
        self.register_buffer("steps", tg.zeros(1))
        self.register_buffer("cache", tg.zeros(2), persistent=False)
        self.block = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(3, 2), nn.Linear(3, 1)])
        self.extra = nn.ModuleDict({"b": nn.Linear(3, 1), "a": nn.Identity()})
        self.plain = 5

    def forward(self, x):
        h = self.block(self.fc1(x) * self.scale)
        return self.heads[0](h)


def test_registration_order_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias",
                     "heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias",
                     "extra.b.weight", "extra.b.bias"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "cache"]
    assert list(net.state_dict()) == ["scale", "steps"] + names[1:]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "block", "block.0", "block.1",
                                                   "heads", "heads.0", "heads.1", "extra",
                                                   "extra.b", "extra.a"]
    assert [type(c).__name__ for c in net.children()] == ["Linear", "Sequential", "ModuleList",
                                                         "ModuleDict"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert net.plain == 5 and "plain" not in net.state_dict()
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.parameters())) == 2     # shared parameters are listed once


def test_train_eval_zero_grad_apply_to():
    net = Net()
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(tg.randn(2, 4)).sum().backward()
    assert net.fc1.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert float(net.fc1.weight.grad.abs().sum()) == 0
    net.zero_grad()
    assert net.fc1.weight.grad is None
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen[0] == "Linear"
    w = net.fc1.weight
    net.to(tg.float64)
    assert net.fc1.weight is w and w.dtype == np.float64 and net.steps.dtype == np.float64
    assert net(tg.randn(2, 4, dtype=tg.float64)).dtype == np.float64
    w.grad = None
    net.double().float()
    assert w.dtype == np.float32


def test_repr_matches_pytorch():
    def build(m):
        return m.Sequential(m.Conv2d(1, 4, 3, padding=1), m.BatchNorm2d(4), m.ReLU(),
                            m.MaxPool2d(2), m.Flatten(), m.Dropout(0.25), m.Linear(16, 10),
                            m.LeakyReLU(0.2))
    assert repr(build(nn)) == repr(build(tnn))
    assert repr(nn.Linear(2, 3, bias=False)) == repr(tnn.Linear(2, 3, bias=False))
    for make in (lambda m: m.GELU(), lambda m: m.Threshold(0.1, 20), lambda m: m.MSELoss(
            reduction="sum"), lambda m: m.GroupNorm(2, 4), lambda m: m.LayerNorm(3),
            lambda m: m.Conv1d(2, 3, 3, padding=1), lambda m: m.Embedding(3, 2, padding_idx=0),
            lambda m: m.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
            lambda m: m.Bilinear(2, 3, 4), lambda m: m.AvgPool2d(2), lambda m: m.Softmax(dim=1),
            lambda m: m.BatchNorm1d(3, bias=False), lambda m: m.Unflatten(1, (2, 3))):
        assert repr(make(nn)) == repr(make(tnn))
    assert repr(nn.Parameter(tg.ones(2))).startswith("Parameter containing:\ntensor(")


def test_seed_forms():
    lin = nn.Linear(input_size=784, output_size=256)
    assert lin.weight.shape == (256, 784)
    dense = nn.Dense(3, 2)
    assert dense.weights is dense.weight and dense.bias.shape == (2,)
    assert nn.SGD is tg.optim.SGD
    x, y = tg.randn(4, 3), tg.randn(4, 3)
    if hasattr(F, "mse_loss"):
        np.testing.assert_allclose(float(nn.mse_loss(x, y)), float(((x - y) ** 2).mean()),
                                   rtol=1e-6)
    if hasattr(F, "cross_entropy"):
        labels = tg.tensor([0, 2, 1, 1])
        np.testing.assert_allclose(float(nn.cross_entropy_loss(x, labels)),
                                   float(F.cross_entropy(x, labels)))
    if hasattr(F, "binary_cross_entropy"):
        p = tg.tensor([0.2, 0.9])
        t = tg.tensor([0.0, 1.0])
        np.testing.assert_allclose(float(nn.binary_cross_entropy(p, t)),
                                   -(math.log(0.8) + math.log(0.9)) / 2, rtol=1e-6)


def test_errors_name_the_problem():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tg.ones(1))
    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Early()
    net = Net()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        net.scale = tg.ones(3)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        net.nope
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


# -- case 54: strict, all-or-nothing state_dict loading -------------------------------------------
def test_case54_strict_load_lists_every_problem_and_applies_nothing():
    net, other = Net(), Net()
    sd = other.state_dict()
    sd["fc1.weight"] = tg.zeros(5, 4)               # wrong shape
    sd["scale"] = tg.ones(3, dtype=tg.float64)      # wrong dtype
    del sd["block.0.bias"]                          # missing
    sd["bogus"] = tg.zeros(1)                       # unexpected
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    for part in ('Missing key(s) in state_dict: "block.0.bias"',
                 'Unexpected key(s) in state_dict: "bogus"',
                 "size mismatch for 'fc1.weight'", "[5, 4]", "[3, 4]",
                 "dtype mismatch for 'scale'", "nothing was loaded"):
        assert part in msg
    for k, v in net.state_dict().items():            # nothing was applied
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)


def test_case54_non_strict_returns_skipped_keys_but_still_checks_shapes():
    net, other = Net(), Net()
    sd = other.state_dict()
    del sd["block.0.bias"]
    sd["bogus"] = tg.zeros(1)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["block.0.bias"] and unexpected == ["bogus"]
    np.testing.assert_array_equal(net.fc1.weight.numpy(), other.fc1.weight.numpy())
    sd["fc1.weight"] = tg.zeros(5, 4)
    with pytest.raises(RuntimeError, match="size mismatch for 'fc1.weight'"):
        net.load_state_dict(sd, strict=False)


def test_state_dict_holds_detached_tensors_and_loads_in_place():
    net = Net()
    sd = net.state_dict()
    assert all(v.is_leaf and not v.requires_grad for v in sd.values())
    w = net.fc1.weight
    arr = w._data
    net.load_state_dict({k: tg.zeros(*v.shape, dtype=v.dtype) for k, v in sd.items()})
    assert net.fc1.weight is w and w._data is arr and float(w.abs().sum()) == 0
    net.load_state_dict({k: v.numpy() * 0 + 1 for k, v in Net().state_dict().items()})
    assert float(w.sum()) == w.numel()


# -- case 57: deepcopy ----------------------------------------------------------------------------
def test_case57_deepcopy_of_a_model_copies_leaves():
    net = Net()
    net(tg.randn(2, 4)).sum().backward()
    twin = copy.deepcopy(net)
    assert twin.fc1.weight is not net.fc1.weight
    assert isinstance(twin.fc1.weight, nn.Parameter) and twin.fc1.weight.requires_grad
    np.testing.assert_array_equal(twin.fc1.weight.numpy(), net.fc1.weight.numpy())
    np.testing.assert_array_equal(twin.fc1.weight.grad.numpy(), net.fc1.weight.grad.numpy())
    with tg.no_grad():
        twin.fc1.weight.zero_()
    assert float(net.fc1.weight.abs().sum()) > 0
    assert twin.heads[0] is not net.heads[0]


def test_case57_deepcopy_of_a_module_caching_an_activation_names_it():
    class Cache(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(3, 3)

        def forward(self, x):
            self.last = self.enc(x).tanh()          # a non-leaf kept on the module
            return self.last

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = Cache()

        def forward(self, x):
            return self.encoder(x)

    m = Model()
    m(tg.randn(2, 3))
    with pytest.raises(RuntimeError, match=r"'model\.encoder\.last'.*non-leaf.*detach"):
        copy.deepcopy(m)
    m.encoder.last = m.encoder.last.detach()
    copy.deepcopy(m)


# -- hooks -------------------------------------------------------------------------------------
def test_forward_hooks_and_removal():
    lin = nn.Linear(3, 2)
    calls = []
    h = lin.register_forward_hook(lambda mod, args, out: out * 2)
    pre = lin.register_forward_pre_hook(lambda mod, args: calls.append(args[0].shape))
    x = tg.randn(4, 3)
    np.testing.assert_allclose(lin(x).numpy(), 2 * F.linear(x, lin.weight, lin.bias).numpy(),
                               rtol=1e-6)
    assert calls == [(4, 3)]
    h.remove()
    pre.remove()
    np.testing.assert_allclose(lin(x).numpy(), F.linear(x, lin.weight, lin.bias).numpy())


def test_full_backward_hook_matches_pytorch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    got, ref = {}, {}

    def run(m, lib, store):
        lin = m.Linear(3, 2).double()
        if lib is tg:
            _copy_weights(lin, ref_lin)
        lin.register_full_backward_hook(
            lambda mod, gi, go: store.update(gi=gi[0].numpy().copy(), go=go[0].numpy().copy()))
        lin.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 3,))
        xin = lib.tensor(x, requires_grad=True)
        (lin(xin) ** 2).sum().backward()
        store["xgrad"] = xin.grad.numpy().copy()
        return lin

    ref_lin = tnn.Linear(3, 2).double()
    torch_lin = ref_lin
    torch_lin.register_full_backward_hook(
        lambda mod, gi, go: ref.update(gi=gi[0].detach().numpy().copy(),
                                       go=go[0].detach().numpy().copy()))
    torch_lin.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 3,))
    xt = torch.tensor(x, requires_grad=True)
    (torch_lin(xt) ** 2).sum().backward()
    ref["xgrad"] = xt.grad.numpy()
    run(nn, tg, got)
    for k in ("gi", "go", "xgrad"):
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-10, err_msg=k)


# -- init ----------------------------------------------------------------------------------------
def test_init_functions_distributions_and_determinism():
    init = nn.init
    w = tg.empty(200, 300)
    for g in ("linear", "conv2d", "sigmoid", "tanh", "relu", "selu"):
        assert init.calculate_gain(g) == tnn.init.calculate_gain(g)
    assert init.calculate_gain("leaky_relu", 0.2) == tnn.init.calculate_gain("leaky_relu", 0.2)
    cases = [
        (lambda t: init.uniform_(t, -2, 3), -2, 3, None),
        (lambda t: init.normal_(t, 1.0, 0.5), None, None, 0.5),
        (lambda t: init.xavier_uniform_(t, gain=2.0), -2 * math.sqrt(6 / 500),
         2 * math.sqrt(6 / 500), None),
        (lambda t: init.xavier_normal_(t), None, None, math.sqrt(2 / 500)),
        (lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), -1 / math.sqrt(300),
         1 / math.sqrt(300), None),
        (lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), None, None,
         math.sqrt(2 / 200)),
    ]
    for fn, lo, hi, std in cases:
        v0 = w._version
        tg.manual_seed(0)
        a = fn(w).numpy().copy()
        assert w._version > v0 and w.dtype == np.float32
        tg.manual_seed(0)
        assert np.array_equal(a, fn(w).numpy())
        if lo is not None:
            assert a.min() >= lo and a.max() <= hi and a.max() > hi - 0.02 * (hi - lo)
        if std is not None:
            assert abs(a.std() / std - 1) < 0.02
    init.constant_(w, 0.3)
    assert np.all(w.numpy() == np.float32(0.3))
    init.zeros_(w)
    assert not w.numpy().any()
    init.ones_(w)
    assert np.all(w.numpy() == 1)
    q = init.orthogonal_(tg.empty(3, 5, dtype=tg.float64), gain=2.0).numpy()
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(3), atol=1e-12)
    q = init.orthogonal_(tg.empty(6, 2, 2, dtype=tg.float64)).numpy().reshape(6, 4)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(tg.empty(3))
    p = nn.Parameter(tg.zeros(2, 2))
    init.normal_(p)
    assert p.is_leaf and p.requires_grad and p.grad_fn is None


def test_layers_initialise_like_pytorch():
    """Linear/Conv: weight ~ U(+-1/sqrt(fan_in)) (kaiming_uniform a=sqrt(5)), bias likewise."""
    tg.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for t in (lin.weight, lin.bias):
        a = t.numpy()
        assert a.min() >= -bound and a.max() <= bound and a.max() > 0.95 * bound
    conv = nn.Conv2d(8, 16, 3)
    bound = 1 / math.sqrt(8 * 9)
    assert np.abs(conv.weight.numpy()).max() <= bound
    assert np.abs(conv.weight.numpy()).max() > 0.95 * bound
    tg.manual_seed(1)
    a = nn.Linear(4, 3).weight.numpy().copy()
    tg.manual_seed(1)
    assert np.array_equal(a, nn.Linear(4, 3).weight.numpy())
    b = nn.Linear(4, 3, generator=tg.Generator(5)).weight.numpy()
    assert np.array_equal(b, nn.Linear(4, 3, generator=tg.Generator(5)).weight.numpy())


# -- nn.utils and case 39 ---------------------------------------------------------------------------
def _grads_pair(rng):
    arrays = [rng.standard_normal(s) for s in ((3, 4), (4,), (2, 2))]
    ours = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    for p in ours:
        p.grad = tg.tensor(rng.standard_normal(p.shape) * 3)
    for p, q in zip(theirs, ours):
        p.grad = torch.tensor(q.grad.numpy().copy())
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_pytorch(norm_type, max_norm):
    ours, theirs = _grads_pair(np.random.default_rng(0))
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    ttotal = tnn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(float(total), float(ttotal), rtol=1e-10)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10)


def test_case39_clip_grad_norm_error_if_nonfinite():
    ours, _ = _grads_pair(np.random.default_rng(0))
    ours[1].grad._data[2] = np.inf
    before = [p.grad.numpy().copy() for p in ours]
    assert not math.isfinite(float(nn.utils.clip_grad_norm(ours, 1.0)))   # default: no error
    ours[1].grad._data[2] = np.inf
    for p, b in zip(ours, before):
        p.grad._data[...] = b
    with pytest.raises(RuntimeError, match=r"non-finite.*#1 \[4\]"):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    for p, b in zip(ours, before):
        np.testing.assert_array_equal(p.grad.numpy(), b)    # nothing changed


def test_clip_grad_value_and_vectors():
    ours, theirs = _grads_pair(np.random.default_rng(1))
    nn.utils.clip_grad_value(ours, 0.7)
    tnn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    vec = nn.utils.parameters_to_vector(ours)
    tvec = tnn.utils.parameters_to_vector(theirs)
    np.testing.assert_array_equal(vec.numpy(), tvec.detach().numpy())
    nn.utils.vector_to_parameters(tg.arange(20).double(), ours)
    assert ours[1].tolist() == [12.0, 13.0, 14.0, 15.0] and ours[2].shape == (2, 2)
    with pytest.raises(ValueError, match="19 elements"):
        nn.utils.vector_to_parameters(tg.zeros(19), ours)


# -- case 58: same seed, same numbers -------------------------------------------------------------
def _seeded_run(seed):
    tg.manual_seed(seed)
    layers = [nn.Linear(6, 16), nn.ReLU()]
    if hasattr(F, "dropout"):
        layers.append(nn.Dropout(0.2))
    model = nn.Sequential(*layers, nn.Linear(16, 2))
    opt = tg.optim.Adam(model.parameters(), lr=0.01)
    data = tg.utils.data.TensorDataset(tg.randn(64, 6), tg.randn(64, 2))
    loader = tg.utils.data.DataLoader(data, batch_size=8, shuffle=True)
    for _ in range(2):
        for x, y in loader:
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    return [p.numpy().copy() for p in model.parameters()]


def test_case58_same_seed_gives_bitwise_identical_parameters():
    a, b, c = _seeded_run(0), _seeded_run(0), _seeded_run(1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


# -- containers ------------------------------------------------------------------------------------
def test_sequential_indexing_slicing_and_editing():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1], nn.ReLU)
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    assert head(tg.randn(4, 2)).shape == (4, 3)
    seq.append(nn.Sigmoid())
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh)
    del seq[3]
    assert len(seq) == 3
    with pytest.raises(IndexError, match="out of range"):
        seq[5]
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    assert named.fc is named[0]


def test_module_list_dict_and_parameter_list():
    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml += [nn.Identity()]
    ml.insert(0, nn.Sigmoid())
    assert [type(m).__name__ for m in ml] == ["Sigmoid", "Linear", "ReLU", "Tanh", "Identity"]
    assert [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias"]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    del ml[0]
    assert isinstance(ml[0], nn.Linear) and len(ml) == 4
    md = nn.ModuleDict({"b": nn.Linear(1, 1)})
    md["a"] = nn.Linear(1, 2)
    md.update([("c", nn.ReLU())])
    assert list(md) == ["b", "a", "c"] and "a" in md and len(md) == 3
    assert [n for n, _ in md.named_parameters()] == ["b.weight", "b.bias", "a.weight", "a.bias"]
    assert isinstance(md.pop("c"), nn.ReLU) and list(md.keys()) == ["b", "a"]
    pl = nn.ParameterList([tg.ones(2), nn.Parameter(tg.zeros(3))])
    assert [p.shape for p in pl] == [(2,), (3,)] and all(isinstance(p, nn.Parameter) for p in pl)
    with pytest.raises(NotImplementedError, match="iterate"):
        ml(tg.ones(1))


def test_nested_repr_matches_pytorch():
    def build(m):
        class Model(m.Module):
            def __init__(self):
                super().__init__()
                self.features = m.Sequential(m.Conv2d(1, 2, 3), m.ReLU())
                self.heads = m.ModuleList([m.Linear(2, 2), m.Linear(2, 1, bias=False)])
                self.extra = m.ModuleDict({"norm": m.LayerNorm(2), "drop": m.Dropout(0.1)})
                self.loss = m.CrossEntropyLoss()
        return Model()
    assert repr(build(nn)) == repr(build(tnn))


def test_get_submodule_parameter_and_register_errors():
    net = Net()
    assert net.get_submodule("block.0") is net.block[0]
    assert net.get_parameter("heads.1.bias") is net.heads[1].bias
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        net.get_submodule("block.nope")
    with pytest.raises(KeyError, match="without '.'"):
        net.register_buffer("a.b", tg.zeros(1))
    with pytest.raises(TypeError, match="buffer 'x'"):
        net.register_buffer("x", [1, 2])
    net.register_buffer("x", None)
    assert "x" not in net.state_dict()
    del net.fc1
    assert "fc1.weight" not in net.state_dict()


def test_seed_document_training_loops():
    """The seeds' forms: ``from gt.nn import Module, Linear, SGD`` with an MLP regression loop
    (003), ``clip_grad_norm``/``clip_grad_value`` with keywords (001), and the stateless
    ``SGD(learning_rate, momentum)`` with ``step(params)``/``zero_grad(params)`` (000)."""
    from tapegrad.nn import Module, Linear, SGD

    class MLP(Module):
        def __init__(self):
            super().__init__()
            self.fc1 = Linear(8, 16)
            self.fc2 = Linear(16, 2)

        def forward(self, x):
            x = self.fc1(x).relu()
            return self.fc2(x)

    tg.manual_seed(0)
    x_train, y_train = tg.randn(32, 8), tg.randn(32, 2)
    model = MLP()
    optimizer = SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(30):
        pred = model(x_train)
        loss = ((pred - y_train) ** 2).mean()
        loss.backward()
        nn.utils.clip_grad_norm(model.parameters(), max_norm=1.0)
        nn.utils.clip_grad_value(model.parameters(), clip_value=0.5)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.data.numpy()))
    assert losses[-1] < 0.7 * losses[0]
    for param in model.fc1.parameters():
        assert param.data.numpy().shape in ((16, 8), (16,))
    w = tg.zeros(1, requires_grad=True)
    b = tg.zeros(1, requires_grad=True)
    opt = SGD(learning_rate=0.05, momentum=0.9)
    for _ in range(150):
        loss = ((w * tg.tensor([2.0]) + b - 1.0) ** 2).mean()
        loss.backward()
        opt.step([w, b])
        opt.zero_grad([w, b])
    assert abs(float(w) * 2 + float(b) - 1.0) < 1e-2
