"""Autograd conventions shared with PyTorch (issue 15): an op saves only what its gradient
needs, requires_grad on a non-leaf, released tapes, graph placeholders without a dtype, and
"called at" locations found by the package's own directory."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import tapegrad as tg


def _both(fn):
    """Run ``fn(lib)`` with tapegrad and with torch; return (tapegrad's, torch's) outcome:
    the leaf's gradient, or the exception type."""
    out = []
    for lib in (tg, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        try:
            fn(lib, x).sum().backward()
            out.append(np.asarray(x.grad.tolist()))
        except RuntimeError as e:
            out.append(type(e).__mro__[1] if type(e) is not RuntimeError else RuntimeError)
    return out


@pytest.mark.parametrize("case", [
    lambda lib, x: _iadd(x * 1, lambda d: d * 2),          # d += d * 2: d was not saved
    lambda lib, x: _then_inplace(x * 1, lambda y: y / 2.0),
    lambda lib, x: _then_inplace(x * 1, lambda y: y @ lib.ones(3, 2, dtype=y.dtype)),
    lambda lib, x: _then_inplace(x * 1, lambda y: 2.0 * y),
])
def test_ops_save_only_what_their_gradient_reads(case):
    got, want = _both(case)
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("case", [
    lambda lib, x: _then_inplace(x * 1, lambda y: y * y),      # y is saved: both raise
    lambda lib, x: _then_inplace(x * 1, lambda y: y / y.detach()),
    lambda lib, x: _then_inplace(x * 1, lambda y: y.sin()),
])
def test_where_pytorch_raises_we_raise(case):
    got, want = _both(case)
    assert want is RuntimeError and issubclass(got, RuntimeError)
    with pytest.raises(tg.InplaceModifiedError, match="modified by an in-place operation"):
        x = tg.tensor([1.0, 2.0], requires_grad=True)
        case(tg, x).sum().backward()


def _iadd(d, f):
    d += f(d)
    return d


def _then_inplace(y, f):
    out = f(y)
    y.add_(1)
    return out


def test_setting_requires_grad_on_a_non_leaf_raises():
    x = tg.randn(3, requires_grad=True)
    y = x.exp()
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf tensors; "
                                           "this one was made by 'exp'"):
        y.requires_grad = True
    with pytest.raises(RuntimeError, match="leaf tensors"):
        y.requires_grad_(False)
    assert y.requires_grad_(True) is y          # a no-op, as PyTorch
    z = tg.randn(2)
    z.requires_grad = True                      # leaves: fine
    assert z.requires_grad


def test_a_released_persistent_tape_frees_what_it_recorded():
    tape = tg.GradientTape(persistent=True)
    with tape:
        w = tape.variable([1.0, 2.0])
        y = (w.exp() * w).sum()
    tape.gradient(y, w)
    recorded = list(tape._nodes)
    assert any(n._saved is not None or n._out is not None for n in recorded)
    tape.release()
    assert all(n._saved is None and n._out is None for n in recorded)
    with pytest.raises(tg.GraphFreedError):
        y.backward()
    with pytest.raises(RuntimeError, match="was released"):
        tape.gradient(y, w)


def test_unconnected_gradients():
    with tg.GradientTape(persistent=True) as tape:
        a, b = tape.variable([1.0]), tape.variable([2.0, 3.0])
        y = (a * 3).sum()
    assert tape.gradient(y, [a, b], unconnected_gradients="none")[1] is None
    zero = tape.gradient(y, [a, b], unconnected_gradients="zero")[1]
    assert zero.tolist() == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="source 1 .* is not connected"):
        tape.gradient(y, [a, b])     # the default: an error (reliability case 13)


def test_graph_placeholder_without_dtype_takes_the_fed_dtype():
    g = tg.Graph()
    x = g.placeholder("x", [None, 2])
    y = g.placeholder("y", [None])
    w = g.variable("w", tg.ones(2, 3))
    loss = g.cross_entropy(g.matmul(x, w), y)
    out = g.run(loss, feed={x: [[1.0, 2.0], [0.5, 1.0]], y: np.array([0, 2])})
    assert out.dtype == np.float32        # Python floats: float32; labels: int64 as fed
    typed = g.placeholder("t", [None], dtype=tg.int32)
    with pytest.raises(TypeError, match="placeholder 't' has dtype int32, but the array fed "
                                        "for it has dtype int64"):
        g.run(g.sum(typed), feed={typed: np.array([1, 2])})


def test_anomaly_location_names_the_users_file_in_a_folder_named_tapegrad(tmp_path):
    """A user's clone or project folder named tapegrad is not the package: the op's
    location is found by the package's own directory, not a '/tapegrad/' substring."""
    folder = tmp_path / "tapegrad" / "work"
    folder.mkdir(parents=True)
    script = folder / "train.py"
    script.write_text(
        "import tapegrad as tg\n"
        "x = tg.tensor([0.0], requires_grad=True)\n"
        "with tg.autograd.detect_anomaly():\n"
        "    y = x.sqrt()\n"
        "    try:\n"
        "        (y * 0).sum().backward()\n"
        "    except RuntimeError as e:\n"
        "        print(e)\n")
    src = os.path.dirname(os.path.dirname(tg.__file__))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": src}, check=True).stdout
    assert f"{script}:4" in out, out
