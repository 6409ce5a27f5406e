"""The examples of the seed documents (../shared/seeds), translated to Python, give the
numbers they state."""
import numpy as np
import pytest
import torch

import tapegrad as tg


# -- TinyTorch ---------------------------------------------------------------------------------
def test_tinytorch_variable_quick_start():
    x = tg.Variable(5.0, requires_grad=True)
    y = tg.Variable(3.0, requires_grad=True)
    z = x * y + x ** 2
    z.backward()
    assert x.grad.item() == 3 + 2 * 5 and y.grad.item() == 5


def test_tinytorch_polynomial_and_chain_rule():
    x = tg.Variable(2.0, requires_grad=True)
    y = x ** 2 + 3 * x + 1
    y.backward()
    assert x.grad.item() == 7
    x = tg.Variable(2.0, requires_grad=True)
    y = tg.Variable(3.0, requires_grad=True)
    z = x * y
    w = z + x
    w.backward()
    assert x.grad.item() == 4 and y.grad.item() == 2


def test_tinytorch_f_of_x_y():
    def f(x, y):
        return x ** 2 + 2 * x * y + y ** 2
    x = tg.Variable(2.0, requires_grad=True)
    y = tg.Variable(3.0, requires_grad=True)
    f(x, y).backward()
    assert x.grad.item() == 10 and y.grad.item() == 10


def test_tinytorch_computational_graph_example():
    x = tg.Variable(2.0, requires_grad=True)
    y = tg.Variable(3.0, requires_grad=True)
    f = (x + y) * (x - y)
    assert f.item() == -5
    f.backward()
    assert x.grad.item() == 4 and y.grad.item() == -6


# -- GT ------------------------------------------------------------------------------------------
def test_gt_basic_example():
    x = tg.randn(10, 10, requires_grad=True)
    y = x * 2
    loss = y.sum()
    loss.backward()
    assert (x.grad.data.numpy() == 2.0).all()


def test_gt_from_numpy_and_multi_step():
    b = tg.from_numpy(np.random.randn(5, 5), requires_grad=True)
    assert b.dtype == tg.float64 and b.requires_grad
    a = tg.randn(100, 50, requires_grad=True)
    w = tg.randn(50, 20, requires_grad=True)
    hidden = a @ w
    output = hidden.relu().sum()
    output.backward()
    mask = (hidden.detach().numpy() > 0).astype(np.float32)
    np.testing.assert_allclose(a.grad.data.numpy(), mask @ w.numpy().T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w.grad.data.numpy(), a.numpy().T @ mask, rtol=1e-4, atol=1e-5)


def test_gt_broadcasting_gradient_shapes():
    x = tg.randn(100, 1, requires_grad=True)
    y = tg.randn(1, 50, requires_grad=True)
    z = x + y
    assert z.shape == (100, 50)
    z.sum().backward()
    assert x.grad.data.numpy().shape == (100, 1)
    assert y.grad.data.numpy().shape == (1, 50)


def test_gt_print_tape(capsys):
    x = tg.randn(10, 10, requires_grad=True)
    y = x.relu().sum()
    tg.debug.print_tape(y)
    out = capsys.readouterr().out
    assert "relu" in out and "sum" in out


def test_gt_compare_with_pytorch():
    data = np.random.randn(10, 10).astype(np.float32)
    x_pt = torch.from_numpy(data.copy())
    x_pt.requires_grad = True
    (x_pt * 2).sum().backward()
    x_gt = tg.from_numpy(data.copy(), requires_grad=True)
    (x_gt * 2).sum().backward()
    assert np.allclose(x_pt.grad.numpy(), x_gt.grad.data.numpy())


def test_gt_manual_parameter_update():
    params = [tg.randn(3, requires_grad=True), tg.randn(2, requires_grad=True)]
    loss = sum((p * p).sum() for p in params)
    loss.backward()
    learning_rate = 0.01
    before = [p.numpy().copy() for p in params]
    with tg.no_grad():  # as in PyTorch, updating a parameter in place needs no_grad
        for param in params:
            param -= learning_rate * param.grad
            param.grad.zero_()
    for p, b in zip(params, before):
        np.testing.assert_allclose(p.numpy(), b * (1 - 2 * learning_rate), rtol=1e-6)
        assert (p.grad.numpy() == 0).all()


# -- ML Odyssey ----------------------------------------------------------------------------------
def test_odyssey_variable_methods():
    data = tg.zeros(3, 4)
    x = tg.Variable(data, requires_grad=True)
    assert x.grad is None
    (x * 2).sum().backward()
    assert x.grad is not None
    x.zero_grad()
    assert x.grad is None
    y = x.detach()
    assert not y.requires_grad
    with tg.no_grad():
        y.fill_(1.0)  # shares data
    assert (x.numpy() == 1.0).all()


def test_odyssey_gradient_tape_block():
    x = tg.Variable(1.5, requires_grad=True)
    tape = tg.GradientTape()
    tape.enable()
    y = x + 2
    z = y * 3
    tape.backward()
    tape.disable()
    tape.clear()
    assert x.grad.item() == 3.0


def test_odyssey_docs_complete_example_and_nan_checks():
    x = tg.randn(32, 784)
    w = tg.randn(784, 10) * 0.01
    b = tg.randn(10)
    tape = tg.Tape()
    with tape:
        logits = x @ w + b
        probs = tg.softmax(logits, dim=-1)
        loss = -(probs[:, 0] + 1e-9).log().mean()
    grads = tape.backward(loss)
    dw, db = grads.get(w), grads.get(b)
    assert dw.shape == (784, 10) and db.shape == (10,)
    lr = 0.1
    w2, b2 = w - lr * dw, b - lr * db
    assert w2.shape == w.shape and not w2.requires_grad
    for _, grad in grads.items():
        assert not grad.has_nan() and not grad.has_inf()


def test_odyssey_grad_modes():
    x = tg.randn(3, requires_grad=True)
    with tg.no_grad():
        out = x * 2
        assert not tg.is_grad_enabled()
    assert not out.requires_grad and tg.is_grad_enabled()
    tg.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    tg.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_odyssey_retain_graph_two_losses():
    x = tg.tensor([1.0, 2.0])
    tape = tg.Tape()
    with tape:
        h = x * x
        loss1 = h.sum()
        loss2 = (h * 3).sum()
    grads1 = tape.backward(loss1, retain_graph=True)
    grads2 = tape.backward(loss2)
    np.testing.assert_allclose(grads1[x].numpy(), [2, 4])
    np.testing.assert_allclose(grads2[x].numpy(), [6, 12])


# -- TenfloweRS ----------------------------------------------------------------------------------
def test_tenflowers_basic_gradient():
    tape = tg.GradientTape()
    x = tape.variable(tg.tensor([2.0, 3.0]))
    w = tape.variable(tg.tensor([1.0, 0.5]))
    y = x * w
    z = y.sum()
    grads = tape.gradient(z, [x, w])
    np.testing.assert_allclose(grads[0].numpy(), [1.0, 0.5])
    np.testing.assert_allclose(grads[1].numpy(), [2.0, 3.0])


def test_tenflowers_higher_order():
    tape = tg.GradientTape(persistent=True)
    x = tape.variable(tg.tensor(2.0))
    y = x.pow(3)
    grad = tape.gradient(y, [x])[0]
    grad2 = tape.gradient(grad, [x])[0]
    assert grad.item() == pytest.approx(12.0) and grad2.item() == pytest.approx(12.0)
