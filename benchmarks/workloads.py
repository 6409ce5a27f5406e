"""The workloads, written once per framework the way a user of that framework would write
them, from the same initial values (weights are made with NumPy and copied into each).

Every builder returns an ``Impl``: ``unit()`` does one unit of work (what is timed) and
``values()`` does one unit and returns what it computed as NumPy arrays, so the tests can
check that all frameworks compute the same thing (tests/test_benchmarks.py).

Frameworks: "tapegrad", "torch" (PyTorch, optional), "micrograd" (karpathy's, optional, W1
only) and "numpy" (hand-written forward/backward, W3 only: the floor for a NumPy engine).
"""
import math
import sys

import numpy as np


class _Deferred:
    """tapegrad, imported at its first use, when this module's ``tg`` becomes tapegrad
    itself: a worker process that times PyTorch never loads tapegrad, nor the reverse."""

    def __getattr__(self, name):
        import tapegrad
        globals()["tg"] = tapegrad
        return getattr(tapegrad, name)


tg = _Deferred()

LR = 0.01
MLP_SIZES = (784, 256, 256, 10)
CNN_INPUT = (1, 28, 28)
SEED = 0


class Impl:
    def __init__(self, unit, values):
        self.unit = unit
        self.values = values


def have_torch():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def have_micrograd():
    try:
        import micrograd.engine  # noqa: F401
        return True
    except ImportError:
        return False


def _np(t):
    """A tapegrad or torch tensor, or a float, as a NumPy array (a copy)."""
    if isinstance(t, (float, int)):
        return np.asarray(t, dtype=np.float64)
    if hasattr(t, "detach"):
        t = t.detach()
    return np.array(t.numpy() if hasattr(t, "numpy") else t, copy=True)


# ---------------------------------------------------------------------------------------------
# W1: scalar graph. 10 ops per block (mul, add, tanh, pow mixed); tanh keeps values bounded.
# float64 everywhere: micrograd computes on Python floats, tapegrad/torch on 0-d float64 tensors.
W1_LEAVES = (0.9, 0.1, -0.3, 0.5)
W1_OPS_PER_BLOCK = 10


def scalar_graph(leaves, ops, tanh):
    """Builds ``ops`` scalar ops (a multiple of 10) from the four leaves; returns the output."""
    a, b, c, d = leaves
    x = a
    for _ in range(ops // W1_OPS_PER_BLOCK):
        x = x * a            # mul
        x = x + b            # add
        x = tanh(x)          # tanh
        y = x ** 2           # pow
        y = y * c            # mul
        x = x + y            # add
        x = tanh(x)          # tanh
        z = x ** 3           # pow
        x = x * d            # mul
        x = x + z            # add
    return x


def w1_tapegrad(ops):
    return _w1(ops, lambda v: tg.tensor(v, dtype=tg.float64, requires_grad=True))


def w1_torch(ops):
    import torch
    return _w1(ops, lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True))


def _w1(ops, leaf):
    """The W1 graph over float64 scalar leaves made by ``leaf`` (either framework)."""
    leaves = [leaf(v) for v in W1_LEAVES]

    def unit():
        for leaf_ in leaves:
            leaf_.grad = None
        out = scalar_graph(leaves, ops, lambda v: v.tanh())
        out.backward()
        return out

    def values():
        out = unit()
        return {"out": _np(out), "grads": [_np(x.grad) for x in leaves]}
    return Impl(unit, values)


def micrograd_tanh(v):
    """tanh for micrograd's Value, which ships only relu: written exactly like its relu (and
    like the tanh of karpathy's lecture version)."""
    from micrograd.engine import Value
    t = math.tanh(v.data)
    out = Value(t, (v,), "tanh")

    def _backward():
        v.grad += (1 - t * t) * out.grad
    out._backward = _backward
    return out


def w1_micrograd(ops):
    from micrograd.engine import Value
    leaves = [Value(v) for v in W1_LEAVES]
    # micrograd's backward sorts the graph with a recursive DFS: depth ~ number of ops
    need = 4 * ops + 1000
    if sys.getrecursionlimit() < need:
        sys.setrecursionlimit(need)

    def unit():
        for leaf in leaves:
            leaf.grad = 0
        out = scalar_graph(leaves, ops, micrograd_tanh)
        out.backward()
        return out

    def values():
        out = unit()
        return {"out": _np(out.data), "grads": [_np(float(leaf.grad)) for leaf in leaves]}
    return Impl(unit, values)


# ---------------------------------------------------------------------------------------------
# W2 (shape (16,), 1,000 ops) and W5 (shape (4,), 100,000 / 1,000,000 ops): an elementwise
# chain x = tanh(x * w + c) (3 ops per step), float32, then sum().backward().
def chain_inputs(shape, seed=SEED):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1, 1, shape).astype(np.float32)
    w = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    c = rng.uniform(-0.1, 0.1, shape).astype(np.float32)
    return x0, w, c


def chain(x, w, c, ops):
    for i in range(ops):
        k = i % 3
        if k == 0:
            x = x * w
        elif k == 1:
            x = x + c
        else:
            x = x.tanh()
    return x


def chain_tapegrad(ops, shape):
    leaves = [tg.tensor(a, requires_grad=True) for a in chain_inputs(shape)]

    def unit():
        for leaf in leaves:
            leaf.grad = None
        out = chain(*leaves, ops).sum()
        out.backward()
        return out

    def values():
        out = unit()
        return {"out": _np(out), "grads": [_np(leaf.grad) for leaf in leaves]}
    return Impl(unit, values)


def chain_torch(ops, shape):
    import torch
    leaves = [torch.tensor(a, requires_grad=True) for a in chain_inputs(shape)]

    def unit():
        for leaf in leaves:
            leaf.grad = None
        out = chain(*leaves, ops).sum()
        out.backward()
        return out

    def values():
        out = unit()
        return {"out": _np(out), "grads": [_np(leaf.grad) for leaf in leaves]}
    return Impl(unit, values)


# ---------------------------------------------------------------------------------------------
# Shared initial weights and data (PyTorch's default init ranges, PyTorch's layouts).
def mlp_weights(sizes=MLP_SIZES, seed=SEED):
    rng = np.random.default_rng(seed)
    weights = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1 / math.sqrt(fan_in)
        weights[f"{2 * i}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        weights[f"{2 * i}.bias"] = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
    return weights


def cnn_weights(seed=SEED):
    rng = np.random.default_rng(seed)
    shapes = {"0.weight": (8, 1, 3, 3), "0.bias": (8,), "3.weight": (16, 8, 3, 3),
              "3.bias": (16,), "7.weight": (10, 400), "7.bias": (10,)}
    fan_in = {"0": 9, "3": 72, "7": 400}
    return {k: rng.uniform(-1, 1, s).astype(np.float32) / math.sqrt(fan_in[k.split(".")[0]])
            for k, s in shapes.items()}


def batch(n, input_shape, classes=10, seed=SEED + 1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n,) + tuple(input_shape)).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int64)
    return X, y


def hvp_vector(weights, seed=SEED + 2):
    """The fixed vector of W6, one array per parameter (in parameter order)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(w.shape).astype(np.float32) for w in weights.values()]


# ---------------------------------------------------------------------------------------------
# Models, as each framework's user writes them.
def tapegrad_mlp(weights, sizes=MLP_SIZES):
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [tg.nn.Linear(fan_in, fan_out), tg.nn.ReLU()]
    model = tg.nn.Sequential(*layers[:-1])
    model.load_state_dict({k: tg.tensor(v) for k, v in weights.items()})
    return model


def torch_mlp(weights, sizes=MLP_SIZES):
    import torch
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    return model


def tapegrad_cnn(weights):
    nn = tg.nn
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 10))
    model.load_state_dict({k: tg.tensor(v) for k, v in weights.items()})
    return model


def torch_cnn(weights):
    import torch
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 10))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    return model


# ---------------------------------------------------------------------------------------------
# W3 / W4 / M1: one SGD training step (zero_grad, forward, cross-entropy, backward, step).
def _train_values(step, model):
    loss = step()
    params = list(model.parameters())
    return {"loss": _np(loss), "grads": [_np(p.grad) for p in params],
            "params": [_np(p) for p in params]}


def train_tapegrad(model, X, y, device="cpu", compiled=False):
    """The training step on ``device``, eager or under tg.compile."""
    model.to(device)
    opt = tg.optim.SGD(model.parameters(), lr=LR)
    Xt, yt = tg.tensor(X, device=device), tg.tensor(y, device=device)
    F = tg.nn.functional

    def train(x, t):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        return loss
    run = tg.compile(train) if compiled else train

    def step():
        return run(Xt, yt)
    return Impl(step, lambda: _train_values(step, model))


def train_torch(model, X, y, device="cpu"):
    import torch
    import torch.nn.functional as F
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(Xt), yt)
        loss.backward()
        opt.step()
        return loss
    return Impl(step, lambda: _train_values(step, model))


class NumpyMLP:
    """The same MLP written by hand in NumPy: forward, cross-entropy, backward, SGD update.
    ``mm`` computes its matrix products: NumPy's ``matmul`` (its own BLAS), or tapegrad's
    ``backend.matmul`` for the floor with the same GEMM as tapegrad ("numpy-same-gemm")."""

    def __init__(self, weights, lr=LR, mm=np.matmul):
        self.mm = mm
        keys = list(weights)
        self.W = [weights[k].copy() for k in keys[0::2]]
        self.b = [weights[k].copy() for k in keys[1::2]]
        self.lr = lr
        self.gW = self.gb = None

    def step(self, X, y):
        W, b, mm = self.W, self.b, self.mm
        acts, pre = [X], []
        h = X
        for i in range(len(W)):
            z = mm(h, W[i].T)
            z += b[i]
            if i < len(W) - 1:
                pre.append(z)
                h = np.maximum(z, 0)
                acts.append(h)
        # cross-entropy on integer labels, mean over the batch
        n = len(y)
        rows = np.arange(n)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.log(s).mean() - z[rows, y].mean())
        d = e / s
        d[rows, y] -= 1
        d /= n
        gW, gb = [None] * len(W), [None] * len(W)
        for i in range(len(W) - 1, -1, -1):
            gW[i] = mm(d.T, acts[i])
            gb[i] = d.sum(axis=0)
            if i:
                d = mm(d, W[i])
                d *= pre[i - 1] > 0
        for p, g in zip(W + b, gW + gb):
            p -= self.lr * g
        self.gW, self.gb = gW, gb
        return loss

    def grads(self):
        out = []
        for gw, gb in zip(self.gW, self.gb):
            out += [gw, gb]
        return out

    def params(self):
        out = []
        for w, b in zip(self.W, self.b):
            out += [w, b]
        return out


def train_numpy(weights, X, y, mm=np.matmul):
    net = NumpyMLP(weights, mm=mm)

    def step():
        return net.step(X, y)

    def values():
        loss = step()
        return {"loss": _np(loss), "grads": [g.copy() for g in net.grads()],
                "params": [p.copy() for p in net.params()]}
    return Impl(step, values)


def w3(framework, batch_size, sizes=MLP_SIZES):
    weights = mlp_weights(sizes)
    X, y = batch(batch_size, (sizes[0],), sizes[-1])
    if framework == "tapegrad":
        return train_tapegrad(tapegrad_mlp(weights, sizes), X, y)
    if framework == "torch":
        return train_torch(torch_mlp(weights, sizes), X, y)
    if framework == "numpy":
        return train_numpy(weights, X, y)
    if framework == "numpy-same-gemm":
        return train_numpy(weights, X, y, mm=tg.backend.matmul)
    raise ValueError(framework)


def w4(framework, batch_size):
    weights = cnn_weights()
    X, y = batch(batch_size, CNN_INPUT)
    if framework == "tapegrad":
        return train_tapegrad(tapegrad_cnn(weights), X, y)
    if framework == "torch":
        return train_torch(torch_cnn(weights), X, y)
    raise ValueError(framework)


# ---------------------------------------------------------------------------------------------
# W6: Hessian-vector product of the W3 loss w.r.t. all parameters (double backward).
def w6(framework, batch_size, sizes=MLP_SIZES):
    weights = mlp_weights(sizes)
    X, y = batch(batch_size, (sizes[0],), sizes[-1])
    vec = hvp_vector(weights)
    if framework == "tapegrad":
        model = tapegrad_mlp(weights, sizes)
        params = list(model.parameters())
        Xt, yt, v = tg.tensor(X), tg.tensor(y), [tg.tensor(a) for a in vec]
        F = tg.nn.functional

        def unit():
            loss = F.cross_entropy(model(Xt), yt)
            grads = tg.grad(loss, params, create_graph=True)
            dot = sum((g * u).sum() for g, u in zip(grads, v))
            return tg.grad(dot, params)
    elif framework == "torch":
        import torch
        import torch.nn.functional as F
        model = torch_mlp(weights, sizes)
        params = list(model.parameters())
        Xt, yt, v = torch.from_numpy(X), torch.from_numpy(y), [torch.from_numpy(a) for a in vec]

        def unit():
            loss = F.cross_entropy(model(Xt), yt)
            grads = torch.autograd.grad(loss, params, create_graph=True)
            dot = sum((g * u).sum() for g, u in zip(grads, v))
            return torch.autograd.grad(dot, params)
    else:
        raise ValueError(framework)
    return Impl(unit, lambda: {"hvp": [_np(h) for h in unit()]})


def numpy_mlp_grads(weights, X, y):
    """The gradient of the W3 loss at ``weights`` (in parameter order), by hand in NumPy."""
    net = NumpyMLP(weights, lr=0.0)
    net.step(X, y)
    return net.grads()


# ---------------------------------------------------------------------------------------------
# W7: the W3 forward (with loss) with recording on, and under no_grad.
def w7(framework, batch_size, sizes=MLP_SIZES):
    weights = mlp_weights(sizes)
    X, y = batch(batch_size, (sizes[0],), sizes[-1])
    if framework == "tapegrad":
        model = tapegrad_mlp(weights, sizes)
        Xt, yt = tg.tensor(X), tg.tensor(y)
        F = tg.nn.functional

        def recorded():
            return F.cross_entropy(model(Xt), yt)

        def unrecorded():
            with tg.no_grad():
                return F.cross_entropy(model(Xt), yt)
    elif framework == "torch":
        import torch
        import torch.nn.functional as F
        model = torch_mlp(weights, sizes)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

        def recorded():
            return F.cross_entropy(model(Xt), yt)

        def unrecorded():
            with torch.no_grad():
                return F.cross_entropy(model(Xt), yt)
    else:
        raise ValueError(framework)

    def values():
        a, b = recorded(), unrecorded()
        return {"recorded": _np(a), "unrecorded": _np(b),
                "requires_grad": (a.requires_grad, b.requires_grad)}
    return Impl(recorded, values), Impl(unrecorded, values)
