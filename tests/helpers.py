"""Shared test helpers: turning registry samples into tensors, and a forward-mode check that
replays a recorded graph forwards through each op's ``jvp`` rule."""
import os

import numpy as np

import tapegrad as tg
from tapegrad.core.registry import OPS
from tapegrad.core.tensor import Tensor


def registry_cases(filter_fn=None):
    """(name, index, sample) for every registered op with samples."""
    cases = []
    for name in sorted(OPS):
        info = OPS[name]
        if info.samples is None or (filter_fn and not filter_fn(name)):
            continue
        for i, s in enumerate(info.samples(np.random.default_rng(0))):
            if not s.kink:
                cases.append((name, i, s))
    return cases


def case_id(case):
    name, i, s = case
    return f"{name}-{i}{'-' + s.name if s.name else ''}"


def to_inputs(sample, dtype=np.float64, requires_grad=True):
    """Float arrays become float64 tensors requiring grad; other arrays plain tensors."""
    out = []
    for a in sample.args:
        if isinstance(a, np.generic):
            a = np.asarray(a)  # rng.uniform(..., size=()) gives a NumPy scalar
        if isinstance(a, np.ndarray):
            if a.dtype.kind == "f":
                t = tg.tensor(a.astype(dtype))
                if requires_grad:
                    t.requires_grad_(True)
                out.append(t)
            else:
                out.append(tg.tensor(a))
        else:
            out.append(a)
    return out


def first(out):
    """An op's differentiable result (max(x, dim) gives (values, indices))."""
    return out[0] if isinstance(out, tuple) else out


def call(name, sample):
    fn = OPS[name].fn
    return lambda *args: first(fn(*args, **sample.kwargs))


def jvp_by_replay(fn, inputs, tangents):
    """Forward-mode derivative of ``fn`` at ``inputs`` along ``tangents``: record fn once,
    then walk the recorded nodes in recording order applying each op's jvp rule."""
    out = fn(*inputs)
    tan = {}
    for x, t in zip(inputs, tangents):
        if isinstance(x, Tensor) and x.requires_grad:
            tan[x.node] = t
    nodes = []
    stack, seen = [out.node], set()
    while stack:
        n = stack.pop()
        if n is None or n in seen or n.is_leaf:
            continue
        seen.add(n)
        nodes.append(n)
        stack.extend(n.next)
    with tg.no_grad():
        for n in sorted(nodes, key=lambda n: n.seq):
            ts = [None if m is None else tan.get(m) for m in n.next]
            if all(t is None for t in ts):
                continue
            if n.fn.jvp is None:
                raise NotImplementedError(f"op '{n.name}' has no jvp rule")
            tan[n] = n.fn.jvp(n, *ts)
    t_out = tan.get(out.node)
    return out, (tg.zeros_like(out) if t_out is None else t_out)


def finite_difference_jvp(fn, inputs, tangents, eps=1e-6):
    def shifted(sign):
        xs = [tg.tensor(x._data + sign * eps * t._data) if isinstance(x, Tensor) and
              x.requires_grad else x for x, t in zip(inputs, tangents)]
        with tg.no_grad():
            return fn(*xs)._data
    return (shifted(1) - shifted(-1)) / (2 * eps)


# -- devices --------------------------------------------------------------------------------
REAL_CUDA = os.environ.get("TAPEGRAD_TEST_CUDA") == "real"


def cuda_for_tests():
    """A context in which "cuda" is a GPU: the test-only fake CUDA (two NumPy-backed devices),
    or with TAPEGRAD_TEST_CUDA=real the machine's GPUs through CuPy (scripts/gpu_check.sh)."""
    import contextlib
    import pytest
    from tapegrad.backend.fake import fake_cuda
    if not REAL_CUDA:
        return fake_cuda()
    if not tg.cuda.is_available():
        pytest.fail("TAPEGRAD_TEST_CUDA=real, but tapegrad sees no GPU")
    return contextlib.nullcontext()


def need_two_gpus():
    import pytest
    if tg.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices")


def without_gpu():
    import pytest
    if REAL_CUDA:
        pytest.skip("checks the behaviour without a GPU")
