"""Every registered op, from its samples: first- and second-order gradients against finite
differences (float64), its JVP against finite differences and against its VJP
(<u, J v> == <J^T u, v>), and the invariant grad.shape/dtype == input.shape/dtype."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import gradcheck, gradgradcheck
from tapegrad.core.tensor import Tensor

from helpers import registry_cases, case_id, to_inputs, call, jvp_by_replay, \
    finite_difference_jvp

CASES = registry_cases()
IDS = [case_id(c) for c in CASES]


def _differentiable(args):
    return any(isinstance(a, Tensor) and a.requires_grad for a in args)


@pytest.mark.parametrize("name,i,sample", CASES, ids=IDS)
def test_gradcheck(name, i, sample):
    args = to_inputs(sample)
    if not _differentiable(args):
        pytest.skip("no differentiable input")
    assert gradcheck(call(name, sample), args)


@pytest.mark.parametrize("name,i,sample", CASES, ids=IDS)
def test_gradgradcheck(name, i, sample):
    args = to_inputs(sample)
    if not _differentiable(args):
        pytest.skip("no differentiable input")
    assert gradgradcheck(call(name, sample), args)


@pytest.mark.parametrize("name,i,sample", CASES, ids=IDS)
def test_jvp(name, i, sample):
    args = to_inputs(sample)
    if not _differentiable(args):
        pytest.skip("no differentiable input")
    rng = np.random.default_rng(1)
    tangents = [tg.tensor(rng.standard_normal(a.shape)) if isinstance(a, Tensor) else None
                for a in args]
    fn = call(name, sample)
    out, t_out = jvp_by_replay(fn, args, tangents)
    assert t_out.shape == out.shape
    np.testing.assert_allclose(t_out._data, finite_difference_jvp(fn, args, tangents),
                               rtol=1e-5, atol=1e-6)
    # forward and reverse agree: <u, J v> == <J^T u, v>
    u = tg.tensor(rng.standard_normal(out.shape))
    pairs = [(a, t) for a, t in zip(args, tangents) if isinstance(a, Tensor) and a.requires_grad]
    vjps = tg.grad(fn(*args), [a for a, _ in pairs], u, allow_unused=True)
    lhs = float((u._data * t_out._data).sum())
    rhs = sum(float((g._data * t._data).sum()) for g, (_, t) in zip(vjps, pairs) if g is not None)
    assert lhs == pytest.approx(rhs, rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("name,i,sample", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_keeps_shape_and_dtype(name, i, sample, dtype):
    args = to_inputs(sample, dtype)
    if not _differentiable(args):
        pytest.skip("no differentiable input")
    out = call(name, sample)(*args)
    assert out.dtype == dtype or out.dtype.kind != "f"
    if out.requires_grad and out.numel():
        out.sum().backward()
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad and a.grad is not None:
                assert a.grad.shape == a.shape and a.grad.dtype == a.dtype
