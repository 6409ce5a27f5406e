"""Reliability cases of ../shared/reference/reliability_cases.md, sections A-D and H
(inputs and dtypes, starting backward, graph size and lifetime, in-place and views, modes
and threads). One test per case, named after its number."""
import concurrent.futures
import copy
import gc
import threading
import warnings
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import Function


# -- A. Inputs, dtypes and graph construction ---------------------------------------------------
def test_case01_requires_grad_on_integer_or_bool_raises():
    with pytest.raises(TypeError, match=r"only floating point.*int64.*to\(tg.float32\)"):
        tg.tensor([1, 2], requires_grad=True)
    t = tg.tensor([True, False])
    with pytest.raises(TypeError, match="bool"):
        t.requires_grad = True
    with pytest.raises(TypeError, match="int32"):
        tg.zeros(2, dtype=tg.int32).requires_grad_()
    t.requires_grad = False  # always allowed
    assert not t.requires_grad


def test_case02_integer_and_bool_results_carry_no_gradient():
    x = tg.tensor([-1.0, 2.0, -3.0], requires_grad=True)
    mask = x < 0
    idx = x.argmax()
    assert mask.dtype == tg.bool and not mask.requires_grad and mask.grad_fn is None
    assert idx.dtype == tg.int64 and not idx.requires_grad
    (x * (x < 0)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0])
    x.grad = None
    x.sign().sum().backward()   # piecewise constant: a zero gradient, as floor and round
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


def test_case03_grad_with_respect_to_an_integer_tensor_is_a_type_error():
    x = tg.tensor([1, 2])
    y = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"input 1 has dtype int64"):
        tg.grad((y * 2).sum(), [y, x])


def test_case04_float32_parameters_with_float64_data_keep_float32_grads():
    w = tg.randn(3, 2, requires_grad=True)
    b = tg.zeros(2, requires_grad=True)
    data = np.random.default_rng(0).standard_normal((5, 3))  # NumPy's float64
    out = (tg.from_numpy(data) @ w + b).tanh().sum()
    assert out.dtype == tg.float64  # forward promotes as NumPy/PyTorch do
    out.backward()
    assert w.grad.dtype == tg.float32 and b.grad.dtype == tg.float32


def test_case05_non_numeric_data_is_rejected_at_construction():
    with pytest.raises(TypeError, match="numbers"):
        tg.tensor(["a", "b"])
    with pytest.raises(TypeError, match="object"):
        tg.tensor(np.array([{}, 1], dtype=object))
    assert tg.tensor(np.arange(3)).dtype == tg.int64  # anything numeric with __array__ works


# -- B. Starting backward ---------------------------------------------------------------------
def test_case06_non_scalar_backward_message_offers_fixes():
    y = tg.randn(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError) as e:
        y.backward()
    msg = str(e.value)
    assert "[2, 3]" in msg and ".sum()" in msg and "gradient" in msg and "jacobian" in msg


def test_case07_grad_output_shape_and_dtype():
    x = tg.randn(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"\[1, 3\].*\[3\]"):
        y.backward(tg.ones(1, 3))  # no broadcasting of the seed
    with pytest.raises(TypeError, match="floating"):
        y.backward(tg.tensor([1, 1, 1]))
    y.backward(tg.ones(3, dtype=tg.float64))  # a float64 seed is cast to the output's dtype
    assert x.grad.dtype == tg.float32


def test_case08_backward_without_graph_says_why():
    w = tg.randn(3, requires_grad=True)
    with tg.no_grad():
        loss = (w * 2).sum()
    with pytest.raises(RuntimeError, match=r"under no_grad\(\)"):
        loss.backward()
    with pytest.raises(RuntimeError, match=r"no_grad.*cannot send gradients"):
        loss.requires_grad = True  # the classic non-fix
    with pytest.raises(RuntimeError, match=r"detach\(\)"):
        (w * 2).sum().detach().backward()
    with pytest.raises(RuntimeError, match=r"none of the inputs of 'sum' required grad"):
        tg.ones(3).sum().backward()
    with pytest.raises(RuntimeError, match="leaf created with requires_grad=False"):
        tg.ones(1).backward()


def test_case09_backward_twice_raises_a_dedicated_error():
    x = tg.randn(3, requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    g = x.grad.numpy().copy()
    with pytest.raises(tg.GraphFreedError, match="retain_graph=True"):
        y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), g)  # nothing computed from freed state


def test_case10_non_persistent_tape_second_gradient():
    tape = tg.GradientTape()
    x = tape.variable([1.0])
    y = (x * x).sum()
    tape.gradient(y, [x])
    with pytest.raises(RuntimeError, match="persistent=True"):
        tape.gradient(y, [x])


def test_case11_persistent_tape_release_then_use():
    tape = tg.GradientTape(persistent=True)
    x = tape.variable([1.0])
    y = (x * x).sum()
    assert tape.gradient(y, [x])[0].item() == 2.0
    tape.close()
    with pytest.raises(RuntimeError, match="released"):
        tape.gradient(y, [x])


def test_case11_release_on_exit_when_asked():
    with tg.GradientTape(persistent=True, release_on_exit=True) as tape:
        x = tape.variable([1.0])
        y = (x * x).sum()
        assert tape.gradient(y, [x])[0].item() == 2.0
    assert len(tape) == 0
    with pytest.raises(RuntimeError, match="released"):
        tape.gradient(y, [x])


def test_case12_reentering_a_tape_raises_but_gradient_inside_is_allowed():
    tape = tg.GradientTape(persistent=True)
    with tape:
        x = tape.variable(2.0)
        y = x * x
        with pytest.raises(ValueError, match="still recording"):
            tape.__enter__()
        g = tape.gradient(y, x)  # nested use records the gradient computation
        gg = tape.gradient(g, x)
    assert g.item() == 4.0 and gg.item() == 2.0


def test_case13_unused_inputs():
    x, z = tg.randn(2, requires_grad=True), tg.randn(2, requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match=r"input 1.*allow_unused=True"):
        tg.grad(y, [x, z], retain_graph=True)
    assert tg.grad(y, [x, z], allow_unused=True, retain_graph=True)[1] is None
    y.backward()
    assert z.grad is None  # backward() leaves unused parameters alone


def test_case14_gradient_of_an_input_that_does_not_require_grad():
    x = tg.randn(2, requires_grad=True)
    c = tg.randn(2)
    with pytest.raises(RuntimeError, match=r"input 1.*does not require grad.*requires_grad=False"):
        tg.grad((x * c).sum(), [x, c])


def test_case15_reading_grad_of_a_non_leaf_warns_once():
    x = tg.randn(2, requires_grad=True)
    h = x * 2
    h.sum().backward()
    with pytest.warns(UserWarning, match="retain_grad"):
        assert h.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert h.grad is None  # once per tensor


def test_case16_accumulation_only_into_leaves_and_grad_never_touches_dot_grad():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(3):
        (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.array([2.0, 4.0]))
    x.zero_grad()
    tg.grad((x * x).sum(), [x])
    assert x.grad is None


def test_case17_reused_non_leaves_and_parameters():
    w = tg.tensor([0.5], requires_grad=True)
    x = tg.tensor([2.0], requires_grad=True)
    h = x * w
    out = (h * w + h + x * x).sum()  # w used twice, h twice, x twice
    out.backward()
    # d/dw: x*2w + x = 2*0.5*2 + 2 = 4 ; d/dx: w*w + w + 2x = .25 + .5 + 4
    np.testing.assert_allclose(w.grad.numpy(), [4.0])
    np.testing.assert_allclose(x.grad.numpy(), [4.75])


# -- C. Graph size, lifetime and memory ---------------------------------------------------------
def test_case18_deep_graph_backward_and_tape_listing():
    x = tg.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.sum().backward()
    assert x.grad.item() == 1.0
    z = x
    for _ in range(100_000):
        z = z + 1.0
    assert len(tg.debug.get_tape(z)) == 100_000  # iterative listing


def test_case19_dropping_deep_graphs():
    for backward in (False, True):
        x = tg.tensor([1.0], requires_grad=True)
        y = x
        for _ in range(1_000_000):
            y = y + 1.0
        if backward:
            y.backward()
        del y
        gc.collect()


def test_case20_no_reference_cycles_keep_graphs_alive():
    gc.disable()
    try:
        x = tg.randn(100, requires_grad=True)
        out = (x.exp() * x).tanh()
        loss = out.sum()
        refs = [weakref.ref(out), weakref.ref(out.node), weakref.ref(loss.node)]
        loss.backward()
        del loss, out
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def test_case21_plain_python_values_for_logging():
    x = tg.tensor([1.5, 2.5], requires_grad=True)
    loss = (x * x).sum()
    assert type(loss.item()) is float and type(float(loss)) is float
    assert loss.tolist() == 8.5 and x.tolist() == [1.5, 2.5]


def test_case22_custom_op_storing_tensors_on_ctx():
    class Leaky(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.x = x  # not via save_for_backward
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = tg.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match="save_for_backward"):
        Leaky.apply(x)
    with tg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="save_for_backward"):
            Leaky.apply(x)


# -- D. In-place operations, views, detach ------------------------------------------------------
def test_case23_saved_tensor_modified_in_place():
    a = tg.randn(10, 49, requires_grad=True)
    b = a * 2
    c = b * b  # mul saves b
    b.add_(1)
    with pytest.raises(RuntimeError) as e:
        c.sum().backward()
    msg = str(e.value)
    assert "in-place" in msg and "'mul'" in msg and "[10, 49]" in msg
    assert "version 1" in msg and "expected version 0" in msg
    d = a * 3
    e2 = d + 1  # add saves nothing: changing d afterwards is fine
    d.mul_(2)
    e2.sum().backward()


def test_case23_anomaly_mode_names_the_forward_line():
    a = tg.randn(3, requires_grad=True)
    with tg.autograd.detect_anomaly():
        b = a * 2
        c = b.exp()  # exp saves its output
    c.add_(1)
    with pytest.raises(RuntimeError, match=r"test_reliability_core.py:\d+"):
        c.sum().backward()


def test_case24_in_place_update_of_a_leaf():
    w = tg.randn(3, requires_grad=True)
    (w * w).sum().backward()
    with pytest.raises(RuntimeError, match=r"leaf Variable.*in-place.*no_grad"):
        w -= 0.1 * w.grad
    with tg.no_grad():
        before = w.numpy().copy()
        w -= 0.1 * w.grad
    np.testing.assert_allclose(w.numpy(), before - 0.1 * w.grad.numpy(), rtol=1e-6)
    assert w.is_leaf and w.requires_grad


def test_case25_in_place_write_into_a_view_of_a_leaf():
    W = tg.randn(3, 4, requires_grad=True)
    col = W[:, 0]
    with pytest.raises(RuntimeError, match=r"view of a leaf.*\[3, 4\]"):
        col.mul_(2)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        W[:, 0] = tg.zeros(3)
    with tg.no_grad():
        W[:, 0] = tg.zeros(3)
    assert (W.numpy()[:, 0] == 0).all()


def test_case26_slice_assignment_into_an_interior_tensor():
    A = tg.randn(2, 2, requires_grad=True)
    s = tg.tensor(3.0, requires_grad=True)
    B = tg.ones(4, 4) * s  # interior graph tensor
    B[:2, :2] = A
    (B * B).sum().backward()
    np.testing.assert_allclose(A.grad.numpy(), 2 * A.numpy(), rtol=1e-6)
    # s reaches only the 12 untouched elements: d/ds sum((s)^2 * 12) = 24 s
    np.testing.assert_allclose(s.grad.numpy(), 24 * 3.0, rtol=1e-6)


def test_case27_detach_shares_the_version_counter_and_numpy_is_read_only():
    x = tg.randn(3, requires_grad=True)
    y = x * 2
    z = y.exp() * 1  # exp saves its output, which is a new tensor; mul saves exp's result
    h = y.tanh()  # tanh saves its output
    h.detach().add_(1)  # detach shares memory and version counter
    with pytest.raises(RuntimeError, match="in-place"):
        h.sum().backward()
    arr = y.numpy()
    with pytest.raises(ValueError, match="read-only"):
        arr[0] = 5.0
    data = x.data  # a detached alias, version counter shared too
    assert data._version == x._version


def test_case28_numpy_conversion_and_numpy_functions():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    arr = np.asarray(x)
    assert not arr.flags.writeable
    y = np.exp(x)  # routed to tg.exp: still differentiable
    assert isinstance(y, tg.Tensor) and y.requires_grad
    with pytest.raises(TypeError, match=r"numpy.sinc.*detach\(\).numpy\(\)"):
        np.sinc(x)
    assert np.allclose(tg.tensor([1.0, 2.0]), [1.0, 2.0])  # plain data converts freely


def test_case29_custom_op_mutating_its_input():
    class AddOneInPlace(Function):
        @staticmethod
        def forward(ctx, x):
            x._data += 1  # mutates without declaring
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g

    class Declared(Function):
        @staticmethod
        def forward(ctx, x):
            x._data += 1
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    x = tg.randn(3, requires_grad=True) * 1
    with tg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"changed input 0 in place.*mark_dirty"):
            AddOneInPlace.apply(x)
    y = x.exp()  # saves its output... and x is changed below by a declared in-place op
    v = x._version
    out = Declared.apply(x)
    assert out is x and x._version == v + 1 and x.grad_fn.name == "Declared"


# -- H. Modes and threads -------------------------------------------------------------------------
def test_case51_grad_mode_is_thread_local():
    x = tg.randn(3, requires_grad=True)
    with tg.no_grad():
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            inside = pool.submit(lambda: ((x * 2).requires_grad, tg.is_grad_enabled())).result()
        assert not (x * 2).requires_grad
    assert inside == (True, True)  # the worker thread starts with grad enabled
    # "set at import time" in one thread does not reach threads started later
    tg.set_grad_enabled(False)
    try:
        result = []
        t = threading.Thread(target=lambda: result.append(tg.is_grad_enabled()))
        t.start()
        t.join()
        assert result == [True] and not tg.is_grad_enabled()
    finally:
        tg.set_grad_enabled(True)


def test_case51_anomaly_mode_and_tapes_are_thread_local_too():
    with tg.autograd.detect_anomaly(), tg.GradientTape():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            state = pool.submit(lambda: (tg.autograd.is_anomaly_enabled(),
                                         len(tg.core.modes.STATE.tapes))).result()
    assert state == (False, 0)


def test_case52_concurrent_backward():
    w = tg.randn(50, requires_grad=True)

    def step(seed):
        x = tg.tensor(np.random.default_rng(seed).standard_normal(50))
        (w * x).sum().backward()
        return x.numpy()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        xs = list(pool.map(step, range(32)))
    np.testing.assert_allclose(w.grad.numpy(), np.sum(xs, axis=0), rtol=1e-4)
    # the same graph from two threads: one backward wins, the other gets GraphFreedError
    y = (w.exp() * 2).sum()
    errors = []

    def run():
        try:
            y.backward()
        except tg.GraphFreedError as e:
            errors.append(e)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1


def test_deepcopy_of_leaf_copies_data_grad_and_flags():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    c = copy.deepcopy(x)
    assert c.requires_grad and c.is_leaf and c.grad is not None
    c._data[0] = 9.0
    assert x.numpy()[0] == 1.0
    with pytest.raises(RuntimeError, match="only leaf tensors support deepcopy"):
        copy.deepcopy(x * 2)
