"""Every registered op on a second device: the test-only fake CUDA (NumPy arrays tagged with
a device, refusing host arrays in their ops as CuPy does). Forward, VJP and second-order VJP
must equal the CPU's, and every result and gradient must stay on the inputs' device."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad.core.tensor import Tensor

from helpers import registry_cases, case_id, to_inputs, call, cuda_for_tests, REAL_CUDA

CASES = registry_cases()
IDS = [case_id(c) for c in CASES]
CUDA = tg.device("cuda:0")
RTOL = 1e-7 if REAL_CUDA else 1e-9   # a GPU sums in another order than NumPy


@pytest.fixture(scope="module")
def gpu():
    with cuda_for_tests():
        yield


def _moved(args):
    out = []
    for a in args:
        if isinstance(a, Tensor):
            m = a.detach().to(CUDA)
            out.append(m.requires_grad_() if a.requires_grad else m)
        else:
            out.append(a)
    return out


def _call(name, sample, device):
    """``call`` with the tensors among the keyword arguments (class weights) on ``device``."""
    from tapegrad.core.registry import OPS
    fn = OPS[name].fn
    kw = {k: tg.tensor(v).to(device) if isinstance(v, (Tensor, np.ndarray)) and
          device is not None else v for k, v in sample.kwargs.items()}

    def f(*args):
        out = fn(*args, **kw)
        return out[0] if isinstance(out, tuple) else out
    return f


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _host(t):
    return t.cpu().numpy() if isinstance(t, Tensor) else t


def _derivatives(fn, args, seed):
    """Forward, VJP along a random cotangent, and the VJP of <VJP, v> (second order)."""
    out = fn(*args)
    wrt = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
    if not wrt or not isinstance(out, Tensor) or not out.requires_grad:
        return out, [], []
    rng = np.random.default_rng(seed)
    u = tg.tensor(rng.standard_normal(out.shape), dtype=out.dtype).to(out.device)
    g1 = tg.grad(out, wrt, u, create_graph=True, allow_unused=True)
    used = [(a, g) for a, g in zip(wrt, g1) if g is not None and g.requires_grad]
    g2 = []
    if used:
        s = sum((g * tg.tensor(rng.standard_normal(g.shape), dtype=g.dtype).to(g.device)).sum()
                for _, g in used)
        g2 = tg.grad(s, [a for a, _ in used], allow_unused=True)
    return out, list(g1), list(g2)


@pytest.mark.parametrize("name,i,sample", CASES, ids=IDS)
def test_op_on_second_device(gpu, name, i, sample):
    args = to_inputs(sample)
    ref = _derivatives(call(name, sample), args, 0)
    got = _derivatives(_call(name, sample, CUDA), _moved(args), 0)
    for b in _flat(got[0]):
        if isinstance(b, Tensor):
            assert b.device == CUDA, f"{name}: a result on {b.device}"
    for what, r, g in zip(("forward", "vjp", "second-order vjp"), ref, got):
        r, g = _flat(r), _flat(g)
        assert len(r) == len(g), what
        for x, y in zip(r, g):
            assert (x is None) == (y is None), what
            if y is None:
                continue
            if isinstance(y, Tensor):
                assert y.device == CUDA, f"{name} {what}: on {y.device}"
            np.testing.assert_allclose(_host(y), _host(x), rtol=RTOL, atol=RTOL * 1e-3,
                                       err_msg=f"{name} {what}")
