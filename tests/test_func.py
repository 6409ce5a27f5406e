"""tg.func transforms against torch.func on the same functions (small MLPs included)."""
import numpy as np
import pytest
import torch
import torch.func as tf

import tapegrad as tg
from tapegrad import func

rng = np.random.default_rng(0)
W1, B1 = rng.standard_normal((4, 5)), rng.standard_normal(5)
W2, B2 = rng.standard_normal((5, 3)), rng.standard_normal(3)
X = rng.standard_normal(4)


def mlp(lib, x, w1, b1, w2, b2):
    h = (x @ w1 + b1).tanh()
    return (h @ w2 + b2)


def loss(lib, x, w1, b1, w2, b2):
    out = mlp(lib, x, w1, b1, w2, b2)
    return (out * out).sum() + out.sin().sum()


def tgs(*arrays):
    return [tg.tensor(a) for a in arrays]


def tts(*arrays):
    return [torch.tensor(a) for a in arrays]


def close(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a.numpy() if hasattr(a, "numpy") else a),
                               b.detach().numpy(), rtol=kw.get("rtol", 1e-9), atol=1e-10)


def test_grad_matches_torch_func_for_every_argnum():
    args_tg, args_t = tgs(X, W1, B1, W2, B2), tts(X, W1, B1, W2, B2)
    g = func.grad(lambda *a: loss(tg, *a), argnums=(0, 1, 2, 3, 4))(*args_tg)
    h = tf.grad(lambda *a: loss(torch, *a), argnums=(0, 1, 2, 3, 4))(*args_t)
    for a, b in zip(g, h):
        close(a, b)


def test_value_and_grad_with_aux_and_pytrees():
    params = {"w1": tg.tensor(W1), "b1": tg.tensor(B1), "layer2": (tg.tensor(W2), tg.tensor(B2))}

    def f(p, x):
        out = mlp(tg, x, p["w1"], p["b1"], *p["layer2"])
        return (out ** 2).sum(), out.shape
    (value, aux), g = func.value_and_grad(f, has_aux=True)(params, tg.tensor(X))
    assert aux == (3,) and set(g) == {"w1", "b1", "layer2"} and isinstance(g["layer2"], tuple)
    tparams = {"w1": torch.tensor(W1), "b1": torch.tensor(B1),
               "layer2": (torch.tensor(W2), torch.tensor(B2))}
    tg_ref = tf.grad(lambda p, x: (mlp(torch, x, p["w1"], p["b1"], *p["layer2"]) ** 2).sum())(
        tparams, torch.tensor(X))
    close(g["w1"], tg_ref["w1"])
    close(g["layer2"][1], tg_ref["layer2"][1])
    assert value.requires_grad is False and value.item() > 0


def test_vjp_and_jvp_match_torch():
    args = tgs(X, W1, B1, W2, B2)
    targs = tts(X, W1, B1, W2, B2)
    out, pullback = func.vjp(lambda *a: mlp(tg, *a), *args)
    tout, tpull = tf.vjp(lambda *a: mlp(torch, *a), *targs)
    u = rng.standard_normal(3)
    for a, b in zip(pullback(tg.tensor(u)), tpull(torch.tensor(u))):
        close(a, b)
    for a, b in zip(pullback(tg.tensor(u)), tpull(torch.tensor(u))):  # callable twice
        close(a, b)
    tangents = [rng.standard_normal(a.shape) for a in (X, W1, B1, W2, B2)]
    p, t = func.jvp(lambda *a: mlp(tg, *a), args, tgs(*tangents))
    tp, tt = tf.jvp(lambda *a: mlp(torch, *a), tuple(targs), tuple(tts(*tangents)))
    close(p, tp)
    close(t, tt)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobians_of_a_small_mlp(mode):
    ours = func.jacrev if mode == "rev" else func.jacfwd
    theirs = tf.jacrev if mode == "rev" else tf.jacfwd
    J = ours(lambda w1: mlp(tg, tg.tensor(X), w1, *tgs(B1, W2, B2)))(tg.tensor(W1))
    T = theirs(lambda w1: mlp(torch, torch.tensor(X), w1, *tts(B1, W2, B2)))(torch.tensor(W1))
    assert J.shape == (3, 4, 5)
    close(J, T)
    Jx = func.jacobian(lambda x: mlp(tg, x, *tgs(W1, B1, W2, B2)))(tg.tensor(X))
    close(Jx, tf.jacrev(lambda x: mlp(torch, x, *tts(W1, B1, W2, B2)))(torch.tensor(X)))


def test_hessian_and_hvp_of_a_small_mlp_loss():
    H = func.hessian(lambda x: loss(tg, x, *tgs(W1, B1, W2, B2)))(tg.tensor(X))
    T = tf.hessian(lambda x: loss(torch, x, *tts(W1, B1, W2, B2)))(torch.tensor(X))
    close(H, T, rtol=1e-8)
    v = rng.standard_normal(4)
    hv = func.hvp(lambda x: loss(tg, x, *tgs(W1, B1, W2, B2)), (tg.tensor(X),), (tg.tensor(v),))
    np.testing.assert_allclose(hv.numpy(), T.numpy() @ v, rtol=1e-8)


def test_grad_of_grad_and_third_order():
    f = lambda x: (x.sin() * x ** 2).sum()  # noqa: E731
    x = tg.tensor([0.3, 1.2], dtype=tg.float64)
    d3 = func.grad(lambda z: func.grad(lambda y: func.grad(f)(y).sum())(z).sum())(x)
    t = torch.tensor([0.3, 1.2], dtype=torch.float64)
    tf3 = tf.grad(lambda z: tf.grad(lambda y: tf.grad(
        lambda q: (q.sin() * q ** 2).sum())(y).sum())(z).sum())(t)
    close(d3, tf3)


def test_vmap_matches_torch_and_per_example_gradients():
    xs = rng.standard_normal((6, 4))
    out = func.vmap(lambda x: mlp(tg, x, *tgs(W1, B1, W2, B2)))(tg.tensor(xs))
    tout = tf.vmap(lambda x: mlp(torch, x, *tts(W1, B1, W2, B2)))(torch.tensor(xs))
    close(out, tout)
    per = func.vmap(func.grad(lambda w1, x: loss(tg, x, w1, *tgs(B1, W2, B2))),
                    in_dims=(None, 0))(tg.tensor(W1), tg.tensor(xs))
    tper = tf.vmap(tf.grad(lambda w1, x: loss(torch, x, w1, *tts(B1, W2, B2))),
                   in_dims=(None, 0))(torch.tensor(W1), torch.tensor(xs))
    assert per.shape == (6, 4, 5)
    close(per, tper)


def test_vmap_in_and_out_dims_and_fallback_ops():
    a = rng.standard_normal((3, 5))
    b = rng.standard_normal(3)
    f = lambda u, v: (u.cumsum(0) * v).sum(0) + u.flip(0).max()  # noqa: E731
    ours = func.vmap(f, in_dims=(1, None), out_dims=0)(tg.tensor(a), tg.tensor(b))
    theirs = tf.vmap(lambda u, v: (u.cumsum(0) * v).sum(0) + u.flip(0).max(),
                     in_dims=(1, None))(torch.tensor(a), torch.tensor(b))
    close(ours, theirs)
    stacked = func.vmap(lambda u: u.reshape(1, 5).T @ tg.ones(1, 2), out_dims=2)(tg.tensor(a))
    assert stacked.shape == (5, 2, 3)


def test_vmap_errors():
    with pytest.raises(ValueError, match="batch size 4.*has 3"):
        func.vmap(lambda a, b: a + b)(tg.zeros(3), tg.zeros(4))
    with pytest.raises(ValueError, match="no argument is batched"):
        func.vmap(lambda a: a, in_dims=None)(tg.zeros(3))


def test_case03_integer_inputs_are_a_type_error():
    with pytest.raises(TypeError, match=r"argument 0 has dtype int"):
        func.grad(lambda x: x * 2.0)(2)
    with pytest.raises(TypeError, match=r"argument 1 has dtype int64"):
        func.grad(lambda a, b: (a * b).sum(), argnums=1)(tg.ones(2), tg.tensor([1, 2]))


def test_case44_grad_needs_a_single_element_output():
    with pytest.raises(TypeError, match=r"single-element.*\[2\].*jacrev"):
        func.grad(lambda x: x * 2)(tg.ones(2))
    assert func.grad(lambda x: (x * 2).sum().reshape(1, 1))(tg.ones(2)).tolist() == [2.0, 2.0]


def test_unused_input_gives_zeros_like_jax():
    g = func.grad(lambda a, b: (a * 2).sum(), argnums=(0, 1))(tg.ones(2), tg.ones(3))
    assert g[1].tolist() == [0.0, 0.0, 0.0]
