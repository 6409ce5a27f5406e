"""PyTorch parity harness: one table row per op, checked for forward values, first-order
gradients, second-order gradients (the VJP of the VJP) and forward-mode tangents (against
torch.func.jvp) in float64, and forward values in float32 (1e-5 relative).

A row: ``Row("name", tg_fn, torch_fn, make_inputs)`` where ``make_inputs(rng)`` returns
the positional inputs as NumPy arrays (float arrays take gradients) or Python values, and
both functions take those inputs converted to their library's tensors.
"""
import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")


class Row:
    def __init__(self, name, tg_fn, torch_fn, make_inputs, grad=True, grad2=True,
                 rtol=1e-7, atol=1e-9, f32=True, fwd=True):
        self.name, self.tg_fn, self.torch_fn, self.make_inputs = name, tg_fn, torch_fn, make_inputs
        self.grad, self.grad2, self.rtol, self.atol, self.f32 = grad, grad2, rtol, atol, f32
        self.fwd = fwd  # compare forward-mode AD with torch.func.jvp

    def __repr__(self):
        return self.name


def _outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return list(outs)


def _to(lib, arrays, dtype, requires_grad):
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray):
            floating = a.dtype.kind == "f"
            arr = a.astype(dtype) if floating else a
            if lib == "tg":
                t = tg.tensor(arr)
                if floating and requires_grad:
                    t.requires_grad_(True)
            else:
                t = torch.tensor(arr)
                if floating and requires_grad:
                    t.requires_grad_(True)
            out.append(t)
        else:
            out.append(a)
    return out


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy(force=True)  # force: PyTorch's ZeroTensor tangents
    return np.asarray(t._data)


def _close(a, b, rtol, atol, what):
    a, b = _np(a), _np(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def check_row(row, seed=0):
    rng = np.random.default_rng(seed)
    inputs = row.make_inputs(rng)
    # float64: values, gradients, second-order gradients
    xs = _to("tg", inputs, np.float64, row.grad)
    ts = _to("torch", inputs, np.float64, row.grad)
    out_tg, out_t = _outputs(row.tg_fn(*xs)), _outputs(row.torch_fn(*ts))
    assert len(out_tg) == len(out_t), "number of outputs differs from torch"
    for i, (a, b) in enumerate(zip(out_tg, out_t)):
        _close(a, b, row.rtol, row.atol, f"{row.name}: output {i}")
    if row.grad:
        _check_grads(row, rng, xs, ts, out_tg, out_t)
    if row.grad and row.fwd:
        _check_forward_mode(row, rng, inputs)
    if row.f32:
        xs = _to("tg", inputs, np.float32, False)
        ts = _to("torch", inputs, np.float32, False)
        for i, (a, b) in enumerate(zip(_outputs(row.tg_fn(*xs)), _outputs(row.torch_fn(*ts)))):
            if isinstance(b, torch.Tensor) and b.dtype.is_floating_point:
                assert _np(a).dtype == np.float32, f"{row.name}: float32 output became {_np(a).dtype}"
            _close(a, b, 1e-5, 1e-6, f"{row.name}: float32 output {i}")


def _check_forward_mode(row, rng, inputs):
    """Forward-mode AD (tg.func.jvp) against PyTorch's (torch.func.jvp), float64."""
    import torch.func
    slots = [i for i, a in enumerate(inputs) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    if not slots:
        return
    tans = [rng.standard_normal(inputs[i].shape) for i in slots]

    def bind(lib, fn):
        consts = _to(lib, inputs, np.float64, False)

        def f(*diff):
            args = list(consts)
            for i, d in zip(slots, diff):
                args[i] = d
            outs = _outputs(fn(*args))
            return tuple(o for o in outs if (o.dtype.is_floating_point if lib == "torch"
                                             else o.dtype.kind == "f"))
        return f
    primals = [inputs[i].astype(np.float64) for i in slots]
    _, t_tg = tg.func.jvp(bind("tg", row.tg_fn), [tg.tensor(p) for p in primals],
                          [tg.tensor(t) for t in tans])
    try:
        _, t_t = torch.func.jvp(bind("torch", row.torch_fn),
                                tuple(torch.tensor(p) for p in primals),
                                tuple(torch.tensor(t) for t in tans))
    except (NotImplementedError, RuntimeError) as e:  # PyTorch has no forward AD for it
        if "not implemented" in str(e).lower() or "forward" in str(e).lower():
            return
        raise
    for i, (a, b) in enumerate(zip(t_tg, t_t)):
        _close(a, b, row.rtol * 10, row.atol * 10, f"{row.name}: forward-mode tangent {i}")


def _check_grads(row, rng, xs, ts, out_tg, out_t):
    pairs = [(x, t) for x, t in zip(xs, ts) if isinstance(x, tg.Tensor) and x.requires_grad]
    if not pairs:
        return
    diff_out = [(a, b) for a, b in zip(out_tg, out_t)
                if isinstance(b, torch.Tensor) and b.requires_grad]
    if not diff_out:
        return
    us = [rng.standard_normal(tuple(b.shape)) for _, b in diff_out]
    g_tg = tg.grad([a for a, _ in diff_out], [x for x, _ in pairs], [tg.tensor(u) for u in us],
                   create_graph=True, allow_unused=True)
    g_t = torch.autograd.grad([b for _, b in diff_out], [t for _, t in pairs],
                              [torch.tensor(u) for u in us], create_graph=True, allow_unused=True)
    for i, (a, b) in enumerate(zip(g_tg, g_t)):
        if b is None:
            assert a is None or not np.any(_np(a)), f"{row.name}: grad {i} should be zero"
            continue
        assert a is not None, f"{row.name}: no gradient for input {i}"
        _close(a, b, row.rtol * 10, row.atol * 10, f"{row.name}: gradient {i}")
    if not row.grad2:
        return
    live = [(a, b) for a, b in zip(g_tg, g_t) if b is not None and b.requires_grad]
    if not live:
        return
    vs = [rng.standard_normal(tuple(b.shape)) for _, b in live]
    s_tg = sum((a * tg.tensor(v)).sum() for (a, _), v in zip(live, vs))
    s_t = sum((b * torch.tensor(v)).sum() for (_, b), v in zip(live, vs))
    if not s_tg.requires_grad:
        return
    h_tg = tg.grad(s_tg, [x for x, _ in pairs], allow_unused=True)
    h_t = torch.autograd.grad(s_t, [t for _, t in pairs], allow_unused=True)
    for i, (a, b) in enumerate(zip(h_tg, h_t)):
        if b is None:
            assert a is None or not np.any(_np(a)), f"{row.name}: 2nd-order grad {i} should be 0"
            continue
        if a is None:
            assert not np.any(_np(b)), f"{row.name}: missing 2nd-order grad for input {i}"
            continue
        _close(a, b, row.rtol * 100, row.atol * 100, f"{row.name}: 2nd-order gradient {i}")


def parametrize(rows):
    """``@parametrize(ROWS)`` over ``def test_parity(row)``."""
    return pytest.mark.parametrize("row", rows, ids=[r.name for r in rows])


# -- input makers shared by the tables --------------------------------------------------------
def uniform(*shape, low=-2.0, high=2.0):
    return lambda rng: [rng.uniform(low, high, shape)]


def arange(*shape):
    """0, 1, 2, ... as a float64 tensor of ``shape`` (for error cases)."""
    return tg.tensor(np.arange(float(np.prod(shape))).reshape(shape))


def const(*arrays):
    """Fixed float inputs (rows about ties, NaN, exact values)."""
    return lambda rng: [np.array(a, dtype=float) for a in arrays]


def uniform2(s1, s2, low=-2.0, high=2.0, low2=None, high2=None):
    return lambda rng: [rng.uniform(low, high, s1),
                        rng.uniform(low if low2 is None else low2,
                                    high if high2 is None else high2, s2)]


def normal(*shape):
    return lambda rng: [rng.standard_normal(shape)]


def normals(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def both(f):
    """The same call works on a tapegrad tensor and a torch tensor."""
    return f, f
