"""The GradientTape front door in each of the seeds' three styles, plus print_tape."""
import io
import warnings

import numpy as np
import pytest

import tapegrad as tg


# -- ML Odyssey quick start: enable / backward() / disable / clear -----------------------------
def test_quick_start_style():
    x = tg.Variable(tg.zeros(3, 4), requires_grad=True)
    y = tg.Variable(tg.ones(3, 4), requires_grad=True)
    tape = tg.GradientTape()
    tape.enable()
    z = x * y
    loss = z.sum()
    tape.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.ones((3, 4)))
    np.testing.assert_allclose(y.grad.numpy(), np.zeros((3, 4)))
    tape.disable()
    tape.clear()
    assert len(tape) == 0
    assert loss.item() == 0.0


def test_quick_start_tape_records_again_after_backward():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    tape = tg.GradientTape()
    tape.enable()
    for step in range(3):
        loss = (w * w).sum()
        tape.backward()
        with tg.no_grad():
            w -= 0.1 * w.grad
        w.zero_grad()
    tape.disable()
    np.testing.assert_allclose(w.numpy(), np.array([1.0, 2.0]) * 0.8 ** 3, rtol=1e-6)


def test_backward_without_argument_needs_scalar_last_output():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.GradientTape() as tape:
        x * 2
    with pytest.raises(RuntimeError, match=r"scalar outputs"):
        tape.backward()


# -- ML Odyssey docs: with tape / start_recording; grads mapping ----------------------------
def test_docs_style_watches_every_floating_input():
    tape = tg.Tape()
    with tape:
        x = tg.randn(10, 5)
        w = tg.randn(5, 3)
        y = x @ w
        loss = y.sum()
    grads = tape.backward(loss)
    np.testing.assert_allclose(grads.get(w).numpy(), x.numpy().T @ np.ones((10, 3)), rtol=1e-5)
    np.testing.assert_allclose(grads[x].numpy(), np.ones((10, 3)) @ w.numpy().T, rtol=1e-5)
    np.testing.assert_allclose(grads[y].numpy(), np.ones((10, 3)))
    assert len(grads.items()) == 3
    assert not x.requires_grad and x.grad is None  # watching does not make x a parameter


def test_docs_style_start_stop_recording_and_retain_graph():
    x = tg.tensor([1.0, 2.0])
    tape = tg.Tape()
    tape.start_recording()
    y = (x * x).sum()
    z = (x * 3).sum()
    tape.stop_recording()
    g1 = tape.backward(y, retain_graph=True)
    g2 = tape.backward(z)
    np.testing.assert_allclose(g1[x].numpy(), [2, 4])
    np.testing.assert_allclose(g2[x].numpy(), [3, 3])


def test_docs_style_gradient_accumulation_loop():
    w = tg.tensor([0.5, -0.5], requires_grad=True)
    total = np.zeros(2)
    tape = tg.Tape()
    for i in range(4):
        with tape:
            loss = ((w * (i + 1)) ** 2).sum() / 4
        grads = tape.backward(loss)
        total += grads[w].numpy()
    expected = sum(2 * (i + 1) ** 2 * np.array([0.5, -0.5]) / 4 for i in range(4))
    np.testing.assert_allclose(total, expected, rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-6)  # .grad accumulated too


def test_grads_has_nan_and_items():
    x = tg.tensor([0.0, 1.0])
    with tg.Tape() as tape:
        y = x.sqrt().sum()
    grads = tape.backward(y)
    for t, g in grads.items():
        if t is x:
            assert np.isinf(g.numpy()).any()


def test_reentering_a_recording_tape_raises():
    tape = tg.GradientTape()
    with tape:
        with pytest.raises(ValueError, match="still recording"):
            with tape:
                pass


# -- TensorFlow / TenfloweRS style ----------------------------------------------------------
def test_tensorflow_style_variable_and_gradient():
    tape = tg.GradientTape()
    x = tape.variable([2.0, 3.0])
    w = tape.variable([1.0, 0.5])
    z = (x * w).sum()
    gx, gw = tape.gradient(z, [x, w])
    np.testing.assert_allclose(gx.numpy(), [1.0, 0.5])
    np.testing.assert_allclose(gw.numpy(), [2.0, 3.0])


def test_non_persistent_tape_answers_once():
    tape = tg.GradientTape()
    x = tape.variable(2.0)
    y = x ** 2
    tape.gradient(y, [x])
    with pytest.raises(RuntimeError, match="persistent=True"):
        tape.gradient(y, [x])


def test_persistent_tape_second_derivative():
    tape = tg.GradientTape(persistent=True)
    x = tape.variable(2.0)
    y = x ** 3
    grad = tape.gradient(y, [x])[0]
    grad2 = tape.gradient(grad, [x])[0]
    assert grad.item() == pytest.approx(12.0)
    assert grad2.item() == pytest.approx(12.0)
    assert tape.gradient(tape.gradient(x ** 3, [x])[0], [x])[0].item() == pytest.approx(12.0)


def test_watch_a_constant():
    x = tg.tensor([1.0, 2.0])
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = (x ** 2).sum()
    (g,) = tape.gradient(y, [x])
    np.testing.assert_allclose(g.numpy(), [2, 4])
    assert not x.requires_grad


def test_watching_an_integer_tensor_warns():
    tape = tg.GradientTape()
    with pytest.warns(UserWarning, match="int64"):
        tape.watch(tg.tensor([1, 2]))


def test_unconnected_source_raises_by_default():
    tape = tg.GradientTape(persistent=True)
    x, z = tape.variable(1.0), tape.variable(2.0)
    y = x * 3
    with pytest.raises(RuntimeError, match=r"source 1.*not connected.*unconnected_gradients"):
        tape.gradient(y, [x, z])
    assert tape.gradient(y, [x, z], unconnected_gradients="none")[1] is None
    assert tape.gradient(y, [x, z], unconnected_gradients="zero")[1].item() == 0.0


def test_source_not_watched_raises():
    tape = tg.GradientTape()
    x = tape.variable(1.0)
    c = tg.tensor(2.0)
    with pytest.raises(RuntimeError, match=r"source 1.*tape.watch"):
        tape.gradient(x * c, [x, c])


def test_released_tape_cannot_be_used():
    tape = tg.GradientTape(persistent=True)
    x = tape.variable(1.0)
    y = x * 2
    tape.release()
    with pytest.raises(RuntimeError, match="released"):
        tape.gradient(y, [x])


def test_jacobian_counts_as_use():
    tape = tg.GradientTape()
    x = tape.variable([1.0, 2.0])
    y = x * x
    J = tape.jacobian(y, x)
    np.testing.assert_allclose(J.numpy(), np.diag([2.0, 4.0]))
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.gradient(y.sum(), [x])


def test_custom_gradient_via_persistent_tape_inside_context():
    x = tg.tensor(3.0)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x * x
        dy = tape.gradient(y, x)
    assert dy.item() == pytest.approx(27.0)
    assert tape.gradient(dy, x).item() == pytest.approx(18.0)


# -- len, iteration, print_tape ------------------------------------------------------------
def test_len_iteration_and_print_tape():
    a = tg.randn(10, 10, requires_grad=True)
    with tg.GradientTape() as tape:
        y = a.relu().sum()
    assert len(tape) == 2
    entries = list(tape)
    assert [e.op for e in entries] == ["relu", "sum"]
    assert entries[0].shape == (10, 10) and entries[0].dtype == "float32"
    assert entries[1].inputs[0] == f"#{y.node.next[0].seq}"
    buf = io.StringIO()
    tg.debug.print_tape(file=buf)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 and "relu" in lines[0] and "[10, 10]" in lines[0]
    assert "sum" in lines[1] and "leaf#" in lines[0]


def test_print_tape_without_a_tape_shows_newest_graph():
    x = tg.randn(10, 10, requires_grad=True)
    y = x.relu().sum()
    rows = tg.debug.get_tape(y)
    assert [r["op"] for r in rows] == ["relu", "sum"]
    tg.tape.LAST_TAPE[0] = None
    buf = io.StringIO()
    tg.debug.print_tape(file=buf)
    assert "relu" in buf.getvalue() and "sum" in buf.getvalue()
