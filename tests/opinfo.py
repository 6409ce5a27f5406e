"""PyTorch's own OpInfo samples run through tapegrad: for every OpInfo entry whose op tapegrad
has under that name, each sample (float64, at most CAP per op) is converted and run through
both libraries, and the forward, the VJP and the second-order VJP are compared.

Used by tests/test_opinfo_parity.py; ``python tests/opinfo.py [op ...]`` prints a report.
"""
import math

import numpy as np
import torch

import tapegrad as tg
from tapegrad.core.registry import OPS

CAP = 12           # samples per op
RTOL, ATOL = 1e-7, 1e-9

#: entries whose OpInfo ``op`` is a lambda that reorders its arguments: how to call
#: tapegrad's op with the sample's (input, *args)
ADAPTERS = {
    "where": lambda fn, x, cond, other, **kw: fn(cond, x, other, **kw),
    "einsum": lambda fn, operands, equation, **kw: fn(equation, *operands, **kw),
    "nn.functional.embedding": lambda fn, weight, idx, **kw: fn(idx, weight, **kw),
    "polygamma": lambda fn, x, n, **kw: fn(n, x, **kw),
    "special.polygamma": lambda fn, x, n, **kw: fn(n, x, **kw),
    "linalg.lstsq.grad_oriented": lambda fn, a, b, driver: fn(a, b, driver=driver)[:2],
    "linalg.pinv.singular": lambda fn, a, b: fn(a @ b.transpose(-1, -2)),
    "normal.number_mean": lambda fn, std, mean, *a, **kw: fn(mean, std, *a, **kw),
    "normal.in_place": lambda fn, x, *a, **kw: x.detach().clone().normal_(*a, **kw),
}

#: entries whose values are random: tapegrad draws from its own generators, so the forward
#: is compared by shape and dtype only, and gradients are not compared
RANDOM = {"normal", "normal.number_mean", "normal.in_place", "bernoulli", "multinomial",
          "nn.functional.dropout", "nn.functional.dropout2d", "nn.functional.dropout3d"}


def op_db():
    from torch.testing._internal.common_methods_invocations import op_db as db
    return db


def tapegrad_fn(info):
    """The tapegrad function for an OpInfo entry, or None when tapegrad has no op of that
    name: ``name`` in the registry, ``nn.functional.X`` as ``tg.nn.functional.X``,
    ``linalg.X`` as ``tg.linalg.X``, ``special.X`` as ``tg.special.X``."""
    name = info.name
    for prefix, module in (("nn.functional.", tg.nn.functional), ("linalg.", tg.linalg),
                           ("special.", getattr(tg, "special", None)), ("fft.", None)):
        if name.startswith(prefix):
            return getattr(module, name[len(prefix):], None) if module is not None else None
    if name in OPS:
        return OPS[name].fn
    return None


def entries():
    """(key, OpInfo, tapegrad fn) for every entry tapegrad has, sorted by key."""
    out = []
    for info in op_db():
        fn = tapegrad_fn(info)
        if fn is None:
            continue
        key = info.name + (f".{info.variant_test_name}" if info.variant_test_name else "")
        out.append((key, info, fn))
    return sorted(out, key=lambda e: e[0])


def dtype_of(info):
    """float64 where the op takes it (int64, or its first dtype, otherwise)."""
    dtypes = info.dtypes
    for d in (torch.float64, torch.int64):
        if d in dtypes:
            return d
    return sorted(dtypes, key=str)[0] if dtypes else None


def samples(info):
    """At most CAP samples (float64 where the op takes it) with requires_grad where the op
    supports autograd; a sample torch itself refuses is skipped."""
    dtype = dtype_of(info)
    if dtype is None:        # no CPU dtype: nothing to run here
        return []
    grad = bool(info.supports_autograd) and dtype.is_floating_point
    torch.manual_seed(0)
    out = []
    for s in info.sample_inputs("cpu", dtype, requires_grad=grad):
        try:
            info.op(s.input, *s.args, **s.kwargs)
        except Exception:   # noqa: BLE001 - not a sample torch accepts
            continue
        out.append(s)
        if len(out) == CAP:
            break
    return out


def to_tapegrad(x):
    """A torch value as tapegrad's (tensors share no memory; requires_grad kept)."""
    if isinstance(x, torch.Tensor):
        if x._is_zerotensor():
            x = torch.zeros(x.shape, dtype=x.dtype)
        t = tg.tensor(x.detach().numpy().copy())
        return t.requires_grad_() if x.requires_grad and t.dtype.kind == "f" else t
    if isinstance(x, torch.dtype):
        return getattr(tg, str(x).split(".")[-1])
    if isinstance(x, torch.Size):
        return tuple(x)
    if isinstance(x, (list, tuple)):
        return type(x)(to_tapegrad(v) for v in x)
    if isinstance(x, dict):
        return {k: to_tapegrad(v) for k, v in x.items()}
    return x


def _leaves(x, lib):
    """The tensors requiring grad among nested arguments, in order."""
    cls = torch.Tensor if lib is torch else tg.Tensor
    if isinstance(x, cls):
        return [x] if x.requires_grad else []
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _leaves(v, lib)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _leaves(v, lib)]
    return []


def _outputs(out, lib):
    """The floating tensors among an op's results (named tuples, lists)."""
    cls = torch.Tensor if lib is torch else tg.Tensor
    if isinstance(out, cls):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _outputs(v, lib)]
    return []


def _np(t):
    if isinstance(t, torch.Tensor) and t._is_zerotensor():
        t = torch.zeros(t.shape, dtype=t.dtype)
    return np.asarray(t.detach().numpy() if isinstance(t, torch.Tensor) else t.cpu().numpy(),
                      dtype=np.float64 if getattr(t, "dtype", None) is not None and (
                          str(t.dtype).endswith(("float64", "float32"))) else None)


def _close(a, b, what):
    a, b = _np(a), _np(b)
    if a.shape != b.shape:
        raise AssertionError(f"{what}: shape {a.shape} vs torch's {b.shape}")
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def _grads(lib, outs, leaves, cots, create):
    grad = torch.autograd.grad if lib is torch else tg.grad
    pairs = [(o, c) for o, c in zip(outs, cots) if o.requires_grad]
    if not pairs or not leaves:
        return [None] * len(leaves)
    return list(grad([o for o, _ in pairs], leaves, [c for _, c in pairs], allow_unused=True,
                     create_graph=create))


def run(fn, info, s, order=2):
    """Compare tapegrad with torch on one sample; raises AssertionError (or the error
    tapegrad raised) on a difference. ``order``: 0 forward, 1 VJP, 2 second order. PyTorch's
    attention runs on its math backend (its flash kernel has no second derivative)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel(SDPBackend.MATH):
        return _run(fn, info, s, order)


def _run(fn, info, s, order):
    t_args = (s.input,) + tuple(s.args)
    g_args = to_tapegrad(t_args)
    g_kwargs = to_tapegrad(dict(s.kwargs))
    t_out = info.op(*t_args, **s.kwargs)
    key = info.name + (f".{info.variant_test_name}" if info.variant_test_name else "")
    adapter = ADAPTERS.get(key) or ADAPTERS.get(info.name)
    g_out = adapter(fn, *g_args, **g_kwargs) if adapter else fn(*g_args, **g_kwargs)
    # the sample's own view of the outputs (e.g. eigenvectors up to sign), applied alike
    t_out, g_out = s.output_process_fn_grad(t_out), s.output_process_fn_grad(g_out)
    t_outs, g_outs = _outputs(t_out, torch), _outputs(g_out, tg)
    if key in RANDOM or s.kwargs.get("dropout_p", 0) > 0:   # (attention with dropout)
        got = [(tuple(o.shape), str(o.dtype).split(".")[-1]) for o in g_outs]
        want = [(tuple(o.shape), str(o.dtype).split(".")[-1]) for o in t_outs]
        assert got == want, f"random op: shapes and dtypes {got}, torch's {want}"
        return
    if not t_outs and not g_outs:
        assert (t_out == g_out) if not isinstance(t_out, float) else math.isclose(t_out, g_out)
        return
    if len(t_outs) != len(g_outs):
        raise AssertionError(f"{len(g_outs)} outputs, torch gives {len(t_outs)}")
    for i, (a, b) in enumerate(zip(g_outs, t_outs)):
        _close(a, b, f"forward output {i}")
    if order < 1 or not info.supports_autograd:
        return
    t_leaves, g_leaves = _leaves(t_args, torch), _leaves(g_args, tg)
    t_leaves += _leaves(s.kwargs, torch)
    g_leaves += _leaves(g_kwargs, tg)
    rng = np.random.default_rng(1)
    cots = [rng.standard_normal(o.shape) if o.dtype.is_floating_point else None
            for o in t_outs]
    t_floats = [(o, c) for o, c in zip(t_outs, cots) if c is not None]
    g_floats = [(o, c) for o, c in zip(g_outs, cots) if c is not None]
    t_g1 = _grads(torch, [o for o, _ in t_floats], t_leaves,
                  [torch.tensor(c) for _, c in t_floats], True)
    g_g1 = _grads(tg, [o for o, _ in g_floats], g_leaves,
                  [tg.tensor(c) for _, c in g_floats], True)
    for i, (a, b) in enumerate(zip(g_g1, t_g1)):
        if a is None or b is None:    # None: a zero gradient (no path)
            assert (a is None or not np.any(_np(a))) and (b is None or not np.any(_np(b))), \
                f"input {i}: a gradient on one side only"
            continue
        _close(a, b, f"gradient of input {i}")
    if order < 2 or not info.supports_gradgrad:
        return
    used = [k for k, (a, b) in enumerate(zip(g_g1, t_g1))
            if a is not None and b is not None and a.requires_grad and b.requires_grad]
    if not used:
        return
    vs = [rng.standard_normal(tuple(t_g1[k].shape)) for k in used]
    t_s = sum((t_g1[k] * torch.tensor(v)).sum() for k, v in zip(used, vs))
    g_s = sum((g_g1[k] * tg.tensor(v)).sum() for k, v in zip(used, vs))
    t_g2 = torch.autograd.grad(t_s, t_leaves, allow_unused=True)
    g_g2 = tg.grad(g_s, g_leaves, allow_unused=True)
    for i, (a, b) in enumerate(zip(g_g2, t_g2)):
        if a is None or b is None:
            assert (a is None or not np.any(_np(a))) and (b is None or not np.any(_np(b))), \
                f"second order, input {i}: a gradient on one side only"
            continue
        _close(a, b, f"second-order gradient of input {i}")


def report(names=None):
    """{key: [(sample index, None or the error text)]} for the entries (all by default)."""
    out = {}
    for key, info, fn in entries():
        if names and key not in names and info.name not in names:
            continue
        rows = []
        for i, s in enumerate(samples(info)):
            try:
                run(fn, info, s)
                rows.append((i, None))
            except Exception as e:   # noqa: BLE001 - reported
                rows.append((i, f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"))
        out[key] = rows
    return out


if __name__ == "__main__":
    import sys
    rep = report(set(sys.argv[1:]) or None)
    n = sum(len(r) for r in rep.values())
    bad = {k: [x for x in r if x[1]] for k, r in rep.items()}
    bad = {k: v for k, v in bad.items() if v}
    print(f"{len(rep)} ops, {n} samples, {n - sum(len(v) for v in bad.values())} passing")
    for k, v in bad.items():
        for i, err in v:
            print(f"{k}[{i}]: {err}")
